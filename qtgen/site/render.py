"""A page's answer as the site renders it, in Python.

The site decodes the stored answer (`answer.replace(/\\\\n/g, "\\n")`) and renders it with
react-markdown 9.0.3, remark-math 6.0.0, remark-gfm 4.0.0 and rehype-katex 7.0.1 (KaTeX 0.16.21,
default options), raw HTML not allowed. Here: markdown-it-py (CommonMark) with GFM tables,
strikethrough, autolink literals, footnotes and task lists; remark-math's `$`/`$$` rules ported from
micromark-extension-math (inline math works like a code span: a run of N dollars closes at the next
run of exactly N, whatever lies between, so "costs $5 and $10" is math); math typeset by the real
KaTeX (`katex.py`). Raw HTML is shown as text, as react-markdown does.
"""

from __future__ import annotations

import html as htmlmod
import re
from dataclasses import dataclass, field
from functools import lru_cache

from .katex import Math, typeset


@dataclass
class Rendered:
    """An answer's HTML as the site shows it: `html` has passed the allow-list (`sanitise.clean`); `raw` is
    the renderer's own output, kept to say what the allow-list removed (`unshown`)."""

    html: str
    math: list[Math] = field(default_factory=list)
    raw: str = ""

    @property
    def unshown(self) -> list[str]:
        """Markup in the rendering that the site's stack would not produce (removed from `html`)."""
        from .sanitise import unshown

        return unshown(self.raw or self.html)

    @property
    def errors(self) -> list[str]:
        return [m.error for m in self.math if m.error]

    @property
    def warnings(self) -> list[str]:
        return [w for m in self.math for w in m.warnings]


# -- remark-math's syntax, for markdown-it ------------------------------------------------------------
def _math_inline(state, silent: bool) -> bool:
    """micromark-extension-math's math (text): like a code span, with dollars."""
    src, start, end = state.src, state.pos, state.posMax
    if src[start] != "$":
        return False
    if start > 0 and src[start - 1] == "$" and not (start > 1 and src[start - 2] == "\\"):
        return False  # a dollar right after another cannot open
    pos = start
    while pos < end and src[pos] == "$":
        pos += 1
    size = pos - start
    look = pos
    while True:
        found = src.find("$", look, end)
        if found < 0:
            if not silent:
                state.pending += src[start:pos]
            state.pos = pos
            return True
        close = found
        while close < end and src[close] == "$":
            close += 1
        if close - found == size:
            break
        look = close
    content = src[pos:found]
    if (len(content) >= 2 and content[0] in " \n" and content[-1] in " \n" and content.strip(" \n")):
        content = content[1:-1]  # one padding character each side, as for code spans
    if not silent:
        token = state.push("math_inline", "math", 0)
        token.content = content
        token.markup = "$" * size
        token.meta = {"raw": src[pos:found], "after": src[close:close + 1]}
    state.pos = close
    return True


def _math_block(state, start_line: int, end_line: int, silent: bool) -> bool:
    """micromark-extension-math's math (flow): a fence of two or more dollars, like fenced code."""
    pos = state.bMarks[start_line] + state.tShift[start_line]
    maximum = state.eMarks[start_line]
    if state.sCount[start_line] - state.blkIndent >= 4 or pos + 2 > maximum:
        return False
    src = state.src
    if src[pos] != "$":
        return False
    mem = pos
    while pos < maximum and src[pos] == "$":
        pos += 1
    size = pos - mem
    if size < 2:
        return False
    meta = src[pos:maximum]
    if "$" in meta:
        return False  # `$$x$$` on one line is text math (inline), not a block
    if silent:
        return True
    line = start_line
    closed = False
    while True:
        line += 1
        if line >= end_line:
            break
        pos = state.bMarks[line] + state.tShift[line]
        maximum = state.eMarks[line]
        if pos < maximum and state.sCount[line] < state.blkIndent:
            break
        if pos >= maximum or src[pos] != "$" or state.sCount[line] - state.blkIndent >= 4:
            continue
        mem = pos
        while pos < maximum and src[pos] == "$":
            pos += 1
        if pos - mem < size:
            continue
        while pos < maximum and src[pos] in " \t":
            pos += 1
        if pos < maximum:
            continue
        closed = True
        break
    indent = state.sCount[start_line]
    state.line = line + (1 if closed else 0)
    token = state.push("math_block", "math", 0)
    token.info = meta.strip()
    content = state.getLines(start_line + 1, line, indent, True)
    token.content = content[:-1] if content.endswith("\n") else content
    token.markup = "$" * size
    token.map = [start_line, state.line]
    token.meta = {"closed": closed}
    return True


@lru_cache(maxsize=1)
def _parser():
    return _build_parser()


@lru_cache(maxsize=1)
def _token_parser():
    """The site's parser for reading its tokens: all but the core rule that turns bare URLs in text into links
    (it looks at every paragraph's text, and only splits text tokens: no block, math or code token changes).
    The inline rule that takes a URL whole, so that a `$` in it opens no math, stays."""
    md = _build_parser()
    md.core.ruler.disable(["linkify"])
    return md


@lru_cache(maxsize=1)
def _block_parser():
    """The site's parser, stopped after the block rules: paragraphs, lists, code, math blocks and tables, with
    each paragraph's text but not its inline parse (about half the cost)."""
    md = _build_parser()
    md.core.ruler.disable([r for r in md.core.ruler.get_active_rules() if r not in ("normalize", "block")])
    return md


def _build_parser():
    from markdown_it import MarkdownIt
    from mdit_py_plugins.footnote import footnote_plugin
    from mdit_py_plugins.tasklists import tasklists_plugin

    # html on, so raw HTML is recognised where micromark recognises it, then shown as text (below)
    md = MarkdownIt("commonmark", {"html": True, "linkify": True, "typographer": False})
    md.enable(["table", "strikethrough", "linkify"])
    md.use(footnote_plugin)
    md.use(tasklists_plugin)
    md.inline.ruler.before("escape", "math_inline", _math_inline)
    md.block.ruler.before("fence", "math_block", _math_block, {"alt": ["paragraph", "reference", "blockquote", "list"]})
    rules = md.renderer.rules
    default_fence = rules["fence"]

    def typeset_into(env, tex: str, display: bool) -> str:
        if env.get("no_math"):  # the markup around the math only (KaTeX's own output is KaTeX's)
            return '<span class="katex"></span>'
        m = typeset(tex, display)
        env.setdefault("math", []).append(m)
        return m.html

    def fence(tokens, idx, options, env):
        token = tokens[idx]
        if token.info.strip().split(" ")[0] == "math":  # ```math is display math too (with its last newline)
            return typeset_into(env, token.content, True) + "\n"
        return default_fence(tokens, idx, options, env)

    def raw_html(tokens, idx, options, env):  # react-markdown shows raw HTML as text
        content = tokens[idx].content
        checkbox = _CHECKBOX.fullmatch(content)
        if checkbox:  # the task-list plugin's checkbox, as remark-gfm makes it
            return '<input type="checkbox" disabled=""' + (' checked=""' if checkbox.group(1) else "") + "/>"
        return htmlmod.escape(content, quote=False)

    def footnote_ref(tokens, idx, options, env):
        meta = tokens[idx].meta
        label = _fn_label(meta)
        return (f'<sup><a href="#user-content-fn-{label}" id="user-content-fnref-{label}" data-footnote-ref="true" '
                f'aria-describedby="footnote-label">{meta["id"] + 1}</a></sup>')

    def footnote_block_open(tokens, idx, options, env):
        return ('<section data-footnotes="true" class="footnotes"><h2 class="sr-only" id="footnote-label">Footnotes</h2>'
                "\n<ol>\n")

    def footnote_open(tokens, idx, options, env):
        return f'<li id="user-content-fn-{_fn_label(tokens[idx].meta)}">\n'

    def footnote_anchor(tokens, idx, options, env):
        meta = tokens[idx].meta
        label = _fn_label(meta)
        return (f' <a href="#user-content-fnref-{label}" data-footnote-backref="" aria-label="Back to reference '
                f'{meta["id"] + 1}" class="data-footnote-backref">↩</a>')

    md.validateLink = lambda url: True  # react-markdown keeps the link and empties an unsafe href
    default_link, default_image = rules.get("link_open"), rules["image"]

    def link_open(tokens, idx, options, env):
        token = tokens[idx]
        token.attrSet("href", safe_url(token.attrGet("href") or ""))
        return default_link(tokens, idx, options, env) if default_link else md.renderer.renderToken(tokens, idx, options, env)

    def image(tokens, idx, options, env):
        token = tokens[idx]
        token.attrSet("src", safe_url(token.attrGet("src") or ""))
        return default_image(tokens, idx, options, env)

    rules.update({
        "link_open": link_open,
        "image": image,
        "math_inline": lambda tokens, idx, options, env: typeset_into(env, tokens[idx].content, False),
        "math_block": lambda tokens, idx, options, env: typeset_into(env, tokens[idx].content, True) + "\n",
        "fence": fence,
        "html_block": raw_html,
        "html_inline": raw_html,
        "s_open": lambda *a: "<del>",
        "s_close": lambda *a: "</del>",
        "footnote_ref": footnote_ref,
        "footnote_block_open": footnote_block_open,
        "footnote_block_close": lambda *a: "</ol>\n</section>\n",
        "footnote_open": footnote_open,
        "footnote_close": lambda *a: "</li>\n",
        "footnote_anchor": footnote_anchor,
    })
    return md


_SAFE_PROTOCOL = re.compile(r"^(https?|ircs?|mailto|xmpp)$", re.I)


def safe_url(url: str) -> str:
    """react-markdown's defaultUrlTransform: relative URLs and http(s), irc(s), mailto and xmpp pass;
    any other protocol (javascript:, vbscript:, data:, file:) becomes an empty href."""
    colon = url.find(":")
    if colon < 0:
        return url
    for mark in "/?#":
        at = url.find(mark)
        if -1 < at < colon:
            return url
    return url if _SAFE_PROTOCOL.match(url[:colon]) else ""


def _fn_label(meta: dict) -> str:
    """A footnote's label as it goes into `id` and `href`: lower-cased and percent-encoded as
    mdast-util-to-hast does (micromark's normalizeUri), then escaped for the attribute."""
    label = meta.get("label")
    return htmlmod.escape(normalize_uri(str(label if label is not None else meta["id"] + 1).lower()), quote=True)


_URI_SAFE = re.compile(r"[!#$&-;=?-Z_a-z~]")


def normalize_uri(value: str) -> str:
    """micromark-util-sanitize-uri's normalizeUri: every character outside a safe ASCII set percent-encoded
    (UTF-8), a valid `%XX` kept as it is."""
    from urllib.parse import quote

    out, i = [], 0
    while i < len(value):
        ch = value[i]
        if ch == "%" and value[i + 1:i + 3].isascii() and value[i + 1:i + 3].isalnum() and len(value[i + 1:i + 3]) == 2:
            out.append(value[i:i + 3])
            i += 3
            continue
        out.append(ch if ord(ch) < 128 and _URI_SAFE.match(ch) else quote(ch, safe="", errors="replace"))
        i += 1
    return "".join(out)


_CHECKBOX = re.compile(r'<input class="task-list-item-checkbox"( checked="checked")? disabled="disabled" type="checkbox">')


def decode(answer: str) -> str:
    """What the site does to a stored answer before rendering it."""
    return answer.replace("\\n", "\n")


def render_markdown(markdown: str, *, math: bool = True) -> Rendered:
    """HTML of Markdown as the site renders it, with every math span typeset (with math=False, an empty
    placeholder for each: for checks of the markup around the math, without KaTeX's cost)."""
    from .sanitise import clean

    md = _parser()
    env: dict = {} if math else {"no_math": True}
    out = md.render(markdown, env)
    return Rendered(clean(out), env.get("math", []), out)


def render_answer(answer: str) -> Rendered:
    """A stored answer (newlines as the two characters \\n) as the site renders it."""
    return render_markdown(decode(answer))


@lru_cache(maxsize=16)
def tokens(markdown: str) -> tuple:
    """The site parser's token stream of a Markdown text, parsed once for all the checks that read it (read-only:
    callers never change the tokens); bare URLs in text are left as text (`_token_parser`)."""
    return tuple(_token_parser().parse(markdown, {}))


@lru_cache(maxsize=16)
def blocks(markdown: str) -> tuple:
    """The block tokens of a Markdown text as `tokens` has them, for a text without dollars or footnotes (where
    inline parsing and the footnote tail change no block): inline tokens carry their text, not their children."""
    return tuple(_block_parser().parse(markdown, {}))


def block_tokens(markdown: str) -> tuple:
    """`blocks` where that is exact, else the full `tokens`."""
    if "$" in markdown or "[^" in markdown or "[ ]" in markdown or "[x]" in markdown or "[X]" in markdown:
        return tokens(markdown)  # inline math, footnotes and task-list boxes can change what the blocks hold
    return blocks(markdown)


@dataclass
class MathSpan:
    """A math span as the site's parser finds it (before KaTeX)."""

    tex: str
    display: bool
    after: str = ""  # the character right after an inline span's closing dollars
    closed: bool = True
    raw: str = ""  # an inline span's text between its dollars, before padding is stripped


def math_spans(markdown: str) -> list[MathSpan]:
    """Every math span the site would typeset, in order."""
    spans: list[MathSpan] = []
    if "$" not in markdown and ("math" not in markdown or "```" not in markdown and "~~~" not in markdown):
        return spans  # no dollar and no ```math fence: no math, and no parse (9 in 10 of the site's pages)

    def walk(tokens) -> None:
        for token in tokens:
            if token.type == "math_inline":
                meta = token.meta or {}
                spans.append(MathSpan(token.content, False, meta.get("after", ""), raw=meta.get("raw", token.content)))
            elif token.type == "math_block":
                spans.append(MathSpan(token.content, True, closed=(token.meta or {}).get("closed", True)))
            elif token.type == "fence" and token.info.strip().split(" ")[0] == "math":
                spans.append(MathSpan(token.content, True))
            if token.children:
                walk(token.children)

    walk(tokens(markdown))
    return spans


_TAG = re.compile(r"<[^>]+>")


def text_of(html: str) -> str:
    return htmlmod.unescape(_TAG.sub("", html))
