"""The allow-list every rendered answer passes before qtgen shows it (studio, `render`, reports).

A draft is hostile input. The renderer escapes what it builds from content, and then, by construction,
its HTML goes through nh3 (the Rust sanitiser ammonia) with an allow-list of exactly what the site's
stack can produce: the elements and attributes of react-markdown 9 with remark-gfm (tables, task lists,
footnotes, strikethrough, autolinks), KaTeX's HTML and MathML output (rehype-katex), and the URL schemes
react-markdown keeps. Anything else is removed, so no answer can put a form, a button, a script, an event
handler or a style of its own on a reviewer's page. `unshown` says what would be removed; the lint
(QT023) reports it as an error, since the site would not show it either.
"""

from __future__ import annotations

from html.parser import HTMLParser

# react-markdown + remark-gfm
_MARKDOWN_TAGS = {
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "pre", "code", "em", "strong", "del",
    "a", "img", "hr", "br", "table", "thead", "tbody", "tr", "th", "td", "sup", "section", "input",
}
# rehype-katex: KaTeX's HTML (spans and, for stretchy glyphs, inline SVG) and its MathML
_KATEX_TAGS = {"span", "svg", "path", "line"}
_MATHML_TAGS = {
    "math", "semantics", "annotation", "mrow", "mi", "mo", "mn", "ms", "mtext", "mspace", "msup", "msub", "msubsup",
    "mfrac", "msqrt", "mroot", "mover", "munder", "munderover", "mpadded", "mphantom", "mstyle", "mtable", "mtr",
    "mtd", "mlabeledtr", "menclose", "merror", "mglyph", "maction",
}
TAGS = frozenset(_MARKDOWN_TAGS | _KATEX_TAGS | _MATHML_TAGS)

ATTRIBUTES = {
    "*": {"class"},
    "a": {"href", "title", "id", "aria-describedby", "aria-label", "data-footnote-ref", "data-footnote-backref"},
    "img": {"src", "alt", "title"},
    "input": {"type", "checked", "disabled"},
    "ol": {"start"},
    "li": {"id"},
    "h2": {"id"},
    "section": {"data-footnotes"},
    "th": {"align", "style"},
    "td": {"align", "style"},
    "span": {"style", "aria-hidden", "title"},
    "code": set(),
    "svg": {"xmlns", "width", "height", "viewbox", "viewBox", "preserveaspectratio", "preserveAspectRatio", "style"},
    "path": {"d"},
    "line": {"x1", "x2", "y1", "y2", "stroke-width"},
    "math": {"xmlns", "display"},
    "annotation": {"encoding"},
    "mo": {"stretchy", "fence", "separator", "lspace", "rspace", "minsize", "maxsize", "movablelimits",
           "symmetric", "largeop", "form"},
    "mfrac": {"linethickness", "numalign", "denomalign", "bevelled"},
    "mover": {"accent"},
    "munder": {"accentunder"},
    "munderover": {"accent", "accentunder"},
    "mtable": {"rowspacing", "columnspacing", "columnalign", "rowalign", "columnlines", "rowlines", "frame",
               "framespacing", "width", "side", "equalrows", "equalcolumns"},
    "mtd": {"columnalign", "rowalign", "rowspan", "columnspan"},
    "mtr": {"columnalign", "rowalign"},
    "mlabeledtr": {"columnalign", "rowalign"},
    "menclose": {"notation"},
}
# presentation attributes KaTeX writes on MathML elements: inert values (lengths, colours, keywords)
_MATHML_ATTRIBUTES = {"mathvariant", "mathcolor", "mathbackground", "mathsize", "displaystyle", "scriptlevel",
                      "width", "height", "depth", "lspace", "voffset", "linebreak", "dir", "style"}
for _tag in _MATHML_TAGS - {"math", "annotation"}:
    ATTRIBUTES[_tag] = ATTRIBUTES.get(_tag, set()) | _MATHML_ATTRIBUTES
# react-markdown's defaultUrlTransform keeps relative URLs and these protocols
URL_SCHEMES = frozenset({"http", "https", "irc", "ircs", "mailto", "xmpp"})
# the CSS properties KaTeX and GFM table alignment write (KaTeX's values only: `\htmlStyle` is off, as on
# the site); the studio also clips the answer to its own box
STYLE_PROPERTIES = frozenset({  # every property KaTeX 0.16.21 sets (its `style.*` assignments, and `border` on
    # MathML for \fcolorbox), and text-align
    "height", "width", "min-width", "vertical-align", "top", "bottom", "left", "position",
    "margin", "margin-left", "margin-right", "margin-top", "padding-left", "border",
    "border-width", "border-style", "border-color", "border-top-width", "border-right-width", "border-bottom-width",
    "border-right-style", "color", "background-color", "text-shadow", "text-align",
})


def clean(html: str) -> str:
    """The HTML with everything outside the allow-list removed (text kept, escaped)."""
    import nh3

    return nh3.clean(html, tags=set(TAGS), attributes=_ATTRIBUTES, url_schemes=set(URL_SCHEMES), link_rel=None,
                     strip_comments=True, attribute_filter=_style_filter, clean_content_tags={"script", "style"})


_ATTRIBUTES = {k: set(v) for k, v in ATTRIBUTES.items()}


def _style_ok(value: str) -> bool:
    for declaration in value.split(";"):
        name, _, setting = declaration.partition(":")
        name, setting = name.strip().lower(), setting.strip().lower()
        if name and (name not in STYLE_PROPERTIES or (name == "position" and setting != "relative")
                     or "url(" in setting or "expression(" in setting):
            return False
    return True


def _style_filter(element: str, attribute: str, value: str) -> str | None:
    """A style attribute stays as written (byte for byte) if every declaration in it is allowed, else it goes
    (KaTeX positions only relatively: nothing fixed or absolute, so nothing can cover the page)."""
    if attribute == "style" and not _style_ok(value):
        return None
    return value


class _Unshown(HTMLParser):
    """Collects what `clean` would remove: elements, attributes and URL schemes off the allow-list."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in TAGS:
            self.found.append(f"<{tag}>")
            return
        allowed = ATTRIBUTES.get(tag, set()) | ATTRIBUTES["*"]
        for name, value in attrs:
            if name not in allowed and name.lower() not in {a.lower() for a in allowed}:
                self.found.append(f"{name}= on <{tag}>")
            elif name in ("href", "src") and value and _scheme(value) not in (None, *URL_SCHEMES):
                self.found.append(f"a {_scheme(value)}: URL")
            elif name == "style" and value and not _style_ok(value):
                self.found.append(f"style {value[:40]!r} on <{tag}>")

    handle_startendtag = handle_starttag

    def handle_comment(self, data):
        self.found.append("an HTML comment")


def _scheme(url: str) -> str | None:
    colon = url.find(":")
    if colon < 0 or any(-1 < url.find(mark) < colon for mark in "/?#"):
        return None
    return url[:colon].lower()


def unshown(html: str) -> list[str]:
    """What the allow-list would remove from this HTML (empty for anything the site's stack renders)."""
    parser = _Unshown()
    parser.feed(html)
    parser.close()
    return list(dict.fromkeys(parser.found))
