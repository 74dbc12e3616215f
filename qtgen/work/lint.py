"""Content lint: what a reviewer should look at before a page goes live, each rule with an id and level.

Rules can be disabled or given another level in the config:
    [lint]
    disable = ["QT002"]
    levels = { QT001 = "error" }
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

from ..config import Config
from ..format.page import Page
from ..format.validate import ERROR, WARNING



@dataclass
class Finding:
    path: str
    rule: str
    name: str
    level: str
    message: str

    def line(self) -> str:
        return f"{self.path}: {self.level}: {self.rule} {self.name}: {self.message}"


@dataclass
class Rule:
    id: str
    name: str
    level: str
    check: Callable[[Page, Config], str | None]


_WORDS = re.compile(r"[A-Za-z0-9\u00c0-\uffff][\w'\u2019-]*")
_LIST = re.compile(r"^\s*(\d+[.)]|[-*+])\s+\S", re.M)
_CHATTER = re.compile(
    r"\b(as an ai\b|as a language model|i cannot\b|i can't\b|i'm sorry\b|i am sorry\b|sure, here is|sure! here|"
    r"here is the json|i hope this helps|let me know if|feel free to ask)", re.I)
_LATEX_N = re.compile(r"\\n(u|eq|e|abla|ot|otin|eg|ewline|i|less|gtr|leq|geq|mid|parallel|subseteq|supseteq|"
                      r"atural|earrow|warrow|ewcommand|oindent|olimits|onumber|ormalsize|exists)(?![A-Za-z])")
_HTML = re.compile(r"<\s*(script|iframe|style|object|embed|form|input|link|meta)\b|\bon[a-z]+\s*=\s*[\"']", re.I)
_TEMPLATE = re.compile(r"\{\{-?\s*[A-Za-z_][\w.]*\s*-?\}\}|\{%-?\s*[a-z]+|\{\{\s*$|^\s*\}\}")
_MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$|\\\(.*?\\\)|\\\[.*?\\\]", re.S)


def words(page: Page) -> int:
    return len(_WORDS.findall(page.decoded_answer()))


def _length(page: Page, cfg: Config) -> str | None:
    n = words(page)
    lo, hi = cfg.lint_words
    return None if lo <= n <= hi else f"answer has {n} words, outside {lo}..{hi}"


def _no_list(page: Page, cfg: Config) -> str | None:
    return None if _LIST.search(page.decoded_answer()) else "answer has no numbered or bulleted list"


def _no_closing(page: Page, cfg: Config) -> str | None:
    blocks = [b.strip() for b in page.decoded_answer().split("\n\n") if b.strip()]
    if not blocks:
        return "answer is empty"
    last = blocks[-1]
    if _LIST.match(last) or last.startswith(("#", "```", "|", "$$")):
        return "answer ends without a closing paragraph"
    return None


# -- the quality gate: what a weak model leaves in a page -----------------------------------------------
_FENCED = re.compile(r"```.*?(```|$)", re.S)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_DEBRIS = re.compile(r'^\s*[\[\]{}(),;:"]+\s*$|\{\s*"|"\s*\}|\[ \]|"\s*:\s|<\|[a-z_]+\|>|'
                     r'\b(page_keywords|page_description|page_addresses|page_title)\b|"(answer|keywords|description)"|'
                     r'^\s*(answer|keywords?|description|question|title)\s*:|'
                     r'\b(short bold term|as a numbered list|one paragraph of three|sums up the answer)\b', re.I)
_EMPTY_ITEM = re.compile(r"^\s*\d+[.)]\s*$")
_LABEL_ONLY = re.compile(r"^\s*(\d+[.)]|[-*+])\s+\*\*[^*]+(:\*\*|\*\*:)\s*$")  # "1. **Term**:" and nothing
_TERMINAL = ".!?)\"'*$`\u201d\u2019\u2026:"
_JOINING = {"of", "the", "a", "an", "to", "in", "for", "with", "on", "by", "its", "their", "is", "are", "that",
            "which", "from", "at"}  # a block ending on one of these was cut off ("and"/"or" may end an enumeration)
_SENT = re.compile(r"(?<=[.!?])\s+")
_BAD_KEYWORD = re.compile(r'[{}\[\]"<>|\\;$]|:$|\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2}|^[^\w#(\u201c"\'.+-]|'
                          r'\b(page[ _](description|keywords|title))\b|^\s*(key\s*)?(points?|keywords?|terms?|examples?|'
                          r'description|title|answer|topic)\s*\d*\s*:|^keyword\s*\d+$', re.I)
_STOPWORD_KEYWORD = {"the", "and", "of", "a", "an", "to", "in", "or", "is", "for", "on", "with"}


def _without_code(text: str) -> str:
    return _INLINE_CODE.sub("code", _FENCED.sub("\n\ncode\n\n", text))


def _prose(page: Page) -> str:
    """The decoded answer without code and math, where braces and brackets are legitimate."""
    return _MATH.sub(" ", _without_code(page.decoded_answer()))


def _debris(page: Page, cfg: Config) -> str | None:
    prose = _prose(page)
    lines = prose.split("\n")
    for n, line in enumerate(lines):
        m = _DEBRIS.search(line)
        if m:
            return f"JSON, template or prompt debris {m.group(0).strip() or line.strip()!r} in {line.strip()[:60]!r}"
        if _LABEL_ONLY.match(line):
            after = next((x for x in lines[n + 1:] if x.strip()), "")
            indent = len(line) - len(line.lstrip())
            if not after or len(after) - len(after.lstrip()) <= indent and _LIST.match(after):
                return f"a list item with a heading and nothing under it: {line.strip()[:60]!r}"
    for line in _without_code(page.decoded_answer()).split("\n"):  # math is content: "3. $x$" is an item
        if _EMPTY_ITEM.match(line):
            return f"an empty list item: {line.strip()!r}"
    for block in prose.split("\n\n"):
        if block.count("**") % 2:
            return f"unclosed bold (**) in {block.strip()[:60]!r}"
    return None


def _norm(text: str) -> str:
    return " ".join(_WORDS.findall(text.lower()))


def _repetition(page: Page, cfg: Config) -> str | None:
    text = _without_code(page.decoded_answer())
    paragraphs = [_norm(b) for b in text.split("\n\n") if len(_norm(b).split()) >= 8]
    repeated = len(paragraphs) - len(set(paragraphs))
    if repeated:
        return f"{repeated} paragraph(s) repeated word for word"
    sentences = [_norm(x) for x in _SENT.split(text.replace("\n", " ")) if len(_norm(x).split()) >= 5]
    if len(sentences) >= 4:
        from rapidfuzz import fuzz

        repeats = sum(1 for i, x in enumerate(sentences)
                      if any(x == y or len(x.split()) >= 8 and fuzz.ratio(x, y) >= 90 for y in sentences[:i]))
        ratio = repeats / len(sentences)
        if ratio >= 0.15:
            return f"{ratio:.0%} of its sentences repeat an earlier one (or nearly)"
    return None


def _blocks(page: Page) -> list[str]:
    """Paragraphs and list items (not code, tables, math or headings), in order."""
    text = _without_code(page.decoded_answer())
    out = []
    for block in (b.strip() for b in text.split("\n\n")):
        if not block or block.startswith(("#", "|", "$$", ">")):
            continue
        items = re.split(r"\n(?=\s*(?:\d+[.)]|[-*+])\s)", block)
        out += [i.strip() for i in items if i.strip() and i.strip() != "code"]  # "code": where code was
    return out


def _cut_off(page: Page, cfg: Config) -> str | None:
    blocks = _blocks(page)
    if not blocks:
        return None
    last = blocks[-1]
    if last[-1] not in _TERMINAL:
        return f"the answer ends mid-sentence: ...{last[-40:]!r}"
    tail = _WORDS.findall(last[-30:].lower())
    if last.endswith(".") and tail and tail[-1] in _JOINING - {"is", "are"}:
        return f"the answer ends on {tail[-1]!r}: a sentence cut off and given a full stop"
    for block in blocks:
        tail = _WORDS.findall(block[-30:].lower())
        if block[-1] not in _TERMINAL and tail and tail[-1] in _JOINING:
            return f"a paragraph or list item is cut off: ...{block[-40:]!r}"
    return None


def _keyword_junk(page: Page, cfg: Config) -> str | None:
    for term in (t.strip() for t in page.seo.page_keywords.split(",")):
        if not term:
            continue
        if re.fullmatch(r"(1[5-9]|20)\d\d", term):
            continue  # a year: a word of its own
        if re.fullmatch(r"(1[5-9]|20)\d\d\s*[-\u2013]\s*((1[5-9]|20)?\d\d)", term):
            continue  # a span of years
        if term.lower() in _STOPWORD_KEYWORD or re.fullmatch(r"[\d\s.,]+", term):
            return f"keyword {term[:40]!r} is not a word or short phrase"
        if _BAD_KEYWORD.search(term) or len(term.split()) > 5 or not re.search(r"[A-Za-z\u00c0-\uffff]", term):
            return f"keyword {term[:40]!r} is not a word or short phrase"
    return None


def _description_shape(page: Page, cfg: Config) -> str | None:
    d = page.seo.page_description.strip()
    if not d:
        return "the description is empty"
    if not (d[0].isalnum() or d[0] in "\"'(\u201c"):
        return f"the description starts with {d[0]!r}"
    if d[-1] not in ".!?\u2026\"')\u201d":
        return f"the description ends cut off: ...{d[-30:]!r}"
    last = _WORDS.findall(d.lower())
    if d.endswith(".") and last and last[-1] in _JOINING:
        return f"the description ends on {last[-1]!r}: a fragment given a full stop"
    return None


_ACRONYM = re.compile(r"\b[A-Z][A-Za-z]*[A-Z][A-Za-z]*s?\b|\b[A-Z]{2,}s?\b")


def _off_topic(page: Page, cfg: Config) -> str | None:
    from ..site.index import topic

    answer = page.decoded_answer().lower()
    terms = [t for t in topic(page.question).split() if len(t) >= 3 and not t.isdigit()]
    if not terms:
        return None

    def present(term: str) -> bool:  # a crude stem: "movement" is there if "moves" is
        stem = term[:4] if len(term) >= 5 else term.rstrip("s") or term
        return stem in answer

    def spelled_out(acronym: str) -> bool:  # "TCP" is there if "Transmission Control Protocol" is
        letters = [c for c in acronym if c.isupper()]
        pattern = r"\b" + r"\w*[\s-]+(?:(?:of|and|the|for|to)\s+)?".join(letters) + r"\w*"
        return len(letters) >= 2 and re.search(pattern, page.decoded_answer(), re.I) is not None

    missing = [t for t in terms if not present(t)]
    acronyms = {a.lower().rstrip("s"): a for a in _ACRONYM.findall(page.question)}
    missing = [t for t in missing if not (t.rstrip("s") in acronyms and spelled_out(acronyms[t.rstrip("s")]))]
    missing_key = [t for t in missing if t.rstrip("s") in acronyms]
    if missing_key or len(missing) > len(terms) / 3:
        shown = missing_key or missing
        return f"the answer never mentions {', '.join(repr(t) for t in shown[:3])} from the question"
    return None


def _chatter(page: Page, cfg: Config) -> str | None:
    m = _CHATTER.search(page.decoded_answer())
    return f"refusal or assistant chatter: {m.group(0)!r}" if m else None


def _fences(page: Page, cfg: Config) -> str | None:
    text = page.decoded_answer()
    fences = len(re.findall(r"^\s*```", text, re.M))
    if fences % 2:
        return f"unbalanced code fences ({fences} ```)"
    outside_code = re.sub(r"```.*?```", "", text, flags=re.S)
    if outside_code.count("$$") % 2:
        return f"unbalanced display math ({outside_code.count('$$')} $$)"
    return None


def _latex_n(page: Page, cfg: Config) -> str | None:
    from ..format.text import in_stored_math

    spans: list[str] = []
    in_stored_math(page.answer, lambda m: spans.append(m.group(0)) or m.group(0))
    found = sorted({"\\n" + m.group(1) for span in spans for m in _LATEX_N.finditer(span)})
    return f"LaTeX command(s) {', '.join(found)} start with \\n, which the site decodes as a newline" if found else None


def _html(page: Page, cfg: Config) -> str | None:
    m = _HTML.search(page.decoded_answer())
    return f"raw HTML: {m.group(0)!r}" if m else None


_FOOTNOTE_LABEL = re.compile(r"\[\^([^\]]*[<>\"'`][^\]]*)\]")
# what can put an element or attribute value into the rendering: raw HTML, footnotes, links, images, autolinks
_MARKUP_SOURCES = re.compile(r"<[A-Za-z!/?]|\[\^|\]\(|\]\[|\]:|https?:|www\.|@|&")


def _markup(page: Page, cfg: Config) -> str | None:
    """Markup the site would not show: anything the allow-list removes from the rendering, or a footnote label
    carrying markup characters into the link the site builds from it."""
    from ..site.render import render_markdown

    markdown = page.decoded_answer()
    if not _MARKUP_SOURCES.search(markdown):
        return None  # plain Markdown and math: nothing in it reaches an attribute or makes an element of its own
    removed = render_markdown(markdown, math=False).unshown
    if removed:
        return f"the rendering holds markup the site would not show ({', '.join(removed[:3])}); qtgen removes it"
    m = _FOOTNOTE_LABEL.search(markdown)
    if m:
        label = m.group(1) if len(m.group(1)) <= 40 else m.group(1)[:37] + "..."
        return f"footnote label {label!r} carries markup characters into the page's links"
    return None


def _template(page: Page, cfg: Config) -> str | None:
    text = " ".join((page.decoded_answer(), page.seo.page_description, page.seo.page_keywords))
    m = _TEMPLATE.search(_MATH.sub(" ", text))  # LaTeX braces such as \frac{a}{b}} are not template text
    return f"leftover template text: {m.group(0)!r}" if m else None


def _description(page: Page, cfg: Config) -> str | None:
    n = len(page.seo.page_description)
    return None if cfg.desc_min <= n <= cfg.desc_max else f"description has {n} characters, outside {cfg.desc_min}..{cfg.desc_max}"


def _keywords(page: Page, cfg: Config) -> str | None:
    n = len([t for t in page.seo.page_keywords.split(",") if t.strip()])
    return None if cfg.kw_min <= n <= cfg.kw_max else f"{n} keywords, outside {cfg.kw_min}..{cfg.kw_max}"


@lru_cache(maxsize=256)
def _math_problems(markdown: str):
    from ..site.sitemath import problems

    return problems(markdown)


def _math_rule(kind: str) -> Callable[[Page, Config], str | None]:
    def check(page: Page, cfg: Config) -> str | None:
        found = [p for p in _math_problems(page.decoded_answer()) if p.kind == kind]
        if not found:
            return None
        return found[0].message + (f" (+{len(found) - 1} more)" if len(found) > 1 else "")
    return check


RULES = [
    Rule("QT001", "answer-length", WARNING, _length),
    Rule("QT002", "no-list", WARNING, _no_list),
    Rule("QT003", "no-closing", WARNING, _no_closing),
    Rule("QT004", "chatter", ERROR, _chatter),
    Rule("QT005", "unbalanced", ERROR, _fences),
    Rule("QT006", "latex-backslash-n", ERROR, _latex_n),
    Rule("QT007", "raw-html", ERROR, _html),
    Rule("QT008", "template-text", ERROR, _template),
    Rule("QT009", "description-bounds", WARNING, _description),
    Rule("QT010", "keyword-count", WARNING, _keywords),
    # how the site renders math (react-markdown + remark-math + rehype-katex): see qtgen.site.sitemath
    Rule("QT012", "currency-as-math", ERROR, _math_rule("currency")),
    Rule("QT013", "katex-error", ERROR, _math_rule("katex-error")),
    Rule("QT014", "percent-in-math", ERROR, _math_rule("percent")),
    Rule("QT015", "unclosed-math-block", ERROR, _math_rule("unclosed")),
    Rule("QT016", "unicode-in-math", WARNING, _math_rule("unicode")),
    # the quality gate: what a weak model leaves behind
    Rule("QT017", "debris", ERROR, _debris),
    Rule("QT018", "repetition", ERROR, _repetition),
    Rule("QT019", "cut-off", ERROR, _cut_off),
    Rule("QT020", "keyword-junk", ERROR, _keyword_junk),
    Rule("QT021", "description-shape", ERROR, _description_shape),
    Rule("QT022", "off-topic", ERROR, _off_topic),
    Rule("QT023", "unsafe-markup", ERROR, _markup),
]
DUPLICATE = Rule("QT011", "duplicate-question", WARNING, lambda page, cfg: None)


def check_settings(cfg: Config) -> None:
    """The [lint] settings name known rules (by id or name) and levels; InputError naming the first that does not."""
    from ..errors import InputError

    known = {r.id for r in RULES + [DUPLICATE]} | {r.name for r in RULES + [DUPLICATE]}
    disable = cfg.lint.get("disable", [])
    levels = cfg.lint.get("levels", {})
    if not isinstance(disable, list) or not all(isinstance(x, str) for x in disable):
        raise InputError("config: [lint] disable must be a list of rule ids, such as [\"QT002\"]")
    if not isinstance(levels, dict):
        raise InputError("config: [lint] levels maps a rule id to \"error\" or \"warning\"")
    for rule in [*disable, *levels]:
        if rule not in known:
            raise InputError(f"config: [lint] names an unknown rule {rule!r} (the rules are QT001..{RULES[-1].id}, "
                             "by id or name)")
    for rule, level in levels.items():
        if level not in (ERROR, WARNING):
            raise InputError(f"config: [lint] levels.{rule} = {level!r}: use \"error\" or \"warning\"")


def active_rules(cfg: Config) -> list[Rule]:
    check_settings(cfg)
    disabled = set(cfg.lint.get("disable", []))
    levels = cfg.lint.get("levels", {})
    out = []
    for rule in RULES + [DUPLICATE]:
        if rule.id in disabled or rule.name in disabled:
            continue
        level = levels.get(rule.id) or levels.get(rule.name) or rule.level
        out.append(Rule(rule.id, rule.name, level, rule.check))
    return out


def lint_page(page: Page, cfg: Config, path: str = "", index=None) -> list[Finding]:
    """Every finding for one page; with an index, also a question another published page asks."""
    out = []
    for rule in active_rules(cfg):
        if rule.id == DUPLICATE.id:
            message = _duplicate(page, cfg, index) if index is not None else None
        else:
            message = rule.check(page, cfg)
        if message:
            out.append(Finding(path, rule.id, rule.name, rule.level, message))
    return out


def _duplicate(page: Page, cfg: Config, index) -> str | None:
    for match in index.similar(page.question, limit=3, threshold=cfg.similar_threshold):
        e = match.entry
        if e.source == "content" and not (e.file_name == page.file_name and e.subject == page.subject):
            return f"the published page {e.url} asks the same ({match.score:.0f}/100): {e.question!r}"
    return None


def lint_paths(paths: list[Path], cfg: Config, index=None) -> tuple[int, list[Finding]]:
    from ..errors import ParseError
    from ..format.files import expand
    from ..format.reader import read

    from ..format.files import inside

    files = expand(paths)
    findings: list[Finding] = []
    long_descriptions: list[tuple[int, str]] = []
    for path in files:
        try:
            page = read(path)
        except ParseError as exc:
            findings.append(Finding(str(path), "QT000", "unreadable", ERROR, str(exc).removeprefix(f"{path}: ")))
            continue
        found = lint_page(page, cfg, str(path), index)
        if inside(path, cfg.content):  # the site's many long descriptions: one summary, not a warning each
            long_descriptions += [(len(page.seo.page_description), str(path)) for f in found if f.rule == "QT009"]
            found = [f for f in found if f.rule != "QT009"]
        findings.extend(found)
    if long_descriptions:
        rule = next(r for r in active_rules(cfg) if r.id == "QT009")
        longest = max(long_descriptions)
        findings.append(Finding(str(cfg.content), rule.id, rule.name, rule.level,
                                f"{len(long_descriptions)} published page(s) have a description outside "
                                f"{cfg.desc_min}..{cfg.desc_max} characters (longest {longest[0]}: {longest[1]}); "
                                "qtgen fix --rule QT009 cuts the long ones"))
    return len(files), findings
