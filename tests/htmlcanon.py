"""HTML in a canonical form, to compare qtgen's rendering with the site's (React's serialisation and
markdown-it's differ in quoting, attribute order, self-closing tags and whitespace between blocks,
none of which a reader sees)."""

from __future__ import annotations

import hashlib
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
BLOCK = {"p", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "blockquote", "pre", "h1", "h2", "h3",
         "h4", "h5", "h6", "hr", "div", "section", "#root"}


class _Node:
    def __init__(self, tag: str, attrs: list):
        self.tag, self.attrs, self.children = tag, attrs, []


class _Builder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = _Node("#root", [])
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = _Node(tag, attrs)
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].children.append(_Node(tag, attrs))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def _attr(name: str, value: str | None) -> str:
    value = "" if value is None else value
    if name == "style":
        value = ";".join(p.strip().replace(": ", ":") for p in value.split(";") if p.strip())
    if name == "disabled":
        value = ""
    return f'{name}="{value}"'


def _is_block(node) -> bool:
    return isinstance(node, _Node) and (node.tag in BLOCK or "katex-display" in dict(node.attrs).get("class", "") or "")


def _lines(node, depth: int, out: list[str]) -> None:
    """Whitespace at a block's edge is invisible: text is stripped there, and dropped if nothing is left."""
    kids = node.children
    for i, kid in enumerate(kids):
        if isinstance(kid, str):
            text = kid
            if i == 0 and _is_block(node) or i > 0 and _is_block(kids[i - 1]):
                text = text.lstrip()
            if i == len(kids) - 1 and _is_block(node) or i < len(kids) - 1 and _is_block(kids[i + 1]):
                text = text.rstrip()
            if text:
                out.append("  " * depth + repr(text))
        else:
            attrs = " ".join(_attr(k, v) for k, v in sorted(kid.attrs))
            out.append("  " * depth + f"<{kid.tag}{' ' + attrs if attrs else ''}>")
            _lines(kid, depth + 1, out)


def canonical(html: str) -> str:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    out: list[str] = []
    _lines(builder.root, 0, out)
    return "\n".join(out)


def digest(html: str) -> str:
    return hashlib.sha256(canonical(html).encode()).hexdigest()


def blocks(html: str) -> list[str]:
    """The top-level block structure: tag names (and katex-display) in order."""
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return [k.tag + (".katex-display" if "katex-display" in dict(k.attrs).get("class", "") or "" else "")
            for k in builder.root.children if isinstance(k, _Node)]
