"""The quality gate: what a weak model leaves in a page, each an error that blocks approve (rules QT017-QT023; QT024 and QT025 in `prompt_text`).

Debris of JSON, templates or prompts; repetition; an answer, paragraph or list item cut off; keywords that
are not words; a description cut off; an answer that never mentions what the question asks; markup the site
would not show. Each check takes a page and the config and returns a message or None; `lint` runs them.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ..config import Config
from ..format.page import Page
from .caseless import DIFFERENT as _CASE_APART

WORDS = re.compile(r"[A-Za-z0-9\u00c0-\uffff][\w'\u2019-]*")
LIST = re.compile(r"^\s*(\d+[.)]|[-*+])\s+\S", re.M)
MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$|\\\(.*?\\\)|\\\[.*?\\\]", re.S)


_FENCED = re.compile(r"```.*?(```|$)", re.S)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_DEBRIS = re.compile(r'^\s*[\[\]{}(),;:"]+\s*$|\{\s*"|"\s*\}|\[ \]|"\s*:\s*["\[{]|<\|[a-z_]+\|>|'
                     r'\b(page_keywords|page_description|page_addresses|page_title)\b|"(answer|keywords|description)"|'
                     r'^\s*(answer|keywords?|description|question|title)\s*:|'
                     r'\b(short bold term|as a numbered list|one paragraph of three|sums up the answer)\b', re.I)
_EMPTY_ITEM = re.compile(r"^\s*\d+[.)]\s*$")
_LABEL_ONLY = re.compile(r"^\s*(\d+[.)]|[-*+])\s+\*\*[^*]+(:\*\*|\*\*:)\s*$")  # "1. **Term**:" and nothing
# What a line with debris must hold, searched over the whole lower-cased text at once, each part so that `re`
# can skip ahead to its first character: where none is found, no line holds debris (the lines are searched only
# where one is, as few pages are).
_DEBRIS_HINTS = (re.compile(r'[{}]|\[ \]|"\s*:|<\||"(?:answer|keywords|description)"'),
                 re.compile(r"^\s*(?:[\[\]{}(),;:\"]+\s*$|(?:answer|keywords?|description|question|title)\s*:|"
                            r"(?:\d+[.)]|[-*+])\s+\*\*[^*\n]+(?::\*\*|\*\*:)\s*$)", re.M))
_DEBRIS_SIGNS = ("{", "}", "[ ]", '"', "<|")  # one of which every match of the first hint holds
_DEBRIS_WORDS = ("page_keywords", "page_description", "page_addresses", "page_title", "short bold term",
                 "as a numbered list", "one paragraph of three", "sums up the answer")

_TERMINAL = ".!?)\"'*$`\u201d\u2019\u2026:"
_JOINING = {"of", "the", "a", "an", "to", "in", "for", "with", "on", "by", "its", "their", "is", "are", "that",
            "which", "from", "at"}  # a block ending on one of these was cut off ("and"/"or" may end an enumeration)
# a paragraph ending on one of these before a list, a table, code or a quote was cut off whatever follows ("grow so
# quickly and the" + a list): articles, conjunctions, prepositions (before display math a preposition may lead into
# the formula: "the derivative of" + $$f(x)$$)
_CUT_BEFORE_BLOCK = _JOINING | {"and", "or", "but", "nor", "so", "because", "than", "into", "onto", "about", "between",
                                "through", "during", "without", "within", "among", "toward", "towards", "upon", "via"}
_NOT_INTO_MATH = {"math_block"}
_SENT = re.compile(r"[.!?]\s+")  # the stop goes with the space: no word holds one, and only words are compared


@lru_cache(maxsize=8)
def _without_code(text: str) -> str:
    """The text with code replaced by the word "code" (kept for the few rules of one page that ask)."""
    if "`" not in text and "~~~" not in text:
        return text
    return _INLINE_CODE.sub("code", _FENCED.sub("\n\ncode\n\n", text))


@lru_cache(maxsize=8)
def _prose_of(text: str) -> str:
    return MATH.sub(" ", _without_code(text)) if ("$" in text or "\\" in text) else _without_code(text)


def _prose(page: Page) -> str:
    """The decoded answer without code and math, where braces and brackets are legitimate."""
    return _prose_of(page.decoded_answer())


def _may_hold_debris(prose: str) -> bool:
    if any(c in prose for c in _CASE_APART):
        return True
    lower = prose.lower()
    if any(w in lower for w in _DEBRIS_WORDS):
        return True
    if any(c in lower for c in _DEBRIS_SIGNS) and _DEBRIS_HINTS[0].search(lower):  # what its every match holds
        return True
    return _DEBRIS_HINTS[1].search(lower) is not None


def _debris(page: Page, cfg: Config) -> str | None:
    prose = _prose(page)
    lines = prose.split("\n") if _may_hold_debris(prose) else []
    for line in lines:
        m = _DEBRIS.search(line)
        if m:
            return f"JSON, template or prompt debris {m.group(0).strip() or line.strip()!r} in {line.strip()[:60]!r}"
    kept = _without_code(page.decoded_answer()).split("\n") if lines else []  # math kept: a formula is content
    for n, line in enumerate(kept):
        if _LABEL_ONLY.match(line):
            after = next((x for x in kept[n + 1:] if x.strip()), "")
            indent = len(line) - len(line.lstrip())
            if not after or len(after) - len(after.lstrip()) <= indent and LIST.match(after):
                return f"a list item with a heading and nothing under it: {line.strip()[:60]!r}"
    for line in _without_code(page.decoded_answer()).split("\n"):  # math is content: "3. $x$" is an item
        if _EMPTY_ITEM.match(line):
            return f"an empty list item: {line.strip()!r}"
    for block in prose.split("\n\n"):
        if block.count("**") % 2:
            return f"unclosed bold (**) in {block.strip()[:60]!r}"
    return None


@lru_cache(maxsize=8)
def words_of(text: str) -> tuple[str, ...]:
    """The text's words (kept for the rules of one page that ask: most pages have no code or math to take out,
    and so the same text)."""
    return tuple(WORDS.findall(text))


def _norm(lower: str) -> str:
    """A lower-cased text's words, joined by one space."""
    return " ".join(WORDS.findall(lower))


def _repetition(page: Page, cfg: Config) -> str | None:
    text = _without_code(page.decoded_answer()).lower()  # split first or lower first: the same pieces
    paragraphs = [n for n in map(_norm, text.split("\n\n")) if n.count(" ") >= 7]  # 8 words or more
    repeated = len(paragraphs) - len(set(paragraphs))
    if repeated:
        return f"{repeated} paragraph(s) repeated word for word"
    sentences = [n for n in map(_norm, _SENT.split(text.replace("\n", " "))) if n.count(" ") >= 4]
    if len(sentences) >= 4:
        ratio = _repeated(sentences) / len(sentences)
        if ratio >= 0.15:
            return f"{ratio:.0%} of its sentences repeat an earlier one (or nearly)"
    return None


def _repeated(sentences: list[str]) -> int:
    """How many sentences repeat an earlier one: the very same, or (8 words or more) 90/100 alike or closer.
    The pairs are scored at once, in rapidfuzz's C code: each long sentence against every sentence."""
    import numpy as np
    from rapidfuzz import fuzz, process

    long = [i for i, x in enumerate(sentences) if x.count(" ") >= 7]  # 8 words or more
    near: set[int] = set()
    if long:
        scores = process.cdist([sentences[i] for i in long], sentences, scorer=fuzz.ratio, score_cutoff=90,
                               dtype=np.float64)  # under the cutoff: 0
        near = {long[a] for a, j in zip(*np.nonzero(scores)) if j < long[a]}
    seen: set[str] = set()
    count = 0
    for i, x in enumerate(sentences):
        count += x in seen or i in near
        seen.add(x)
    return count


_LEADS_INTO = {"math_block", "fence", "code_block", "table_open", "bullet_list_open", "ordered_list_open",
               "blockquote_open"}  # what a paragraph may introduce with an unfinished sentence ("... is" + formula)
_BLOCK_OPENS = {"paragraph_open", "heading_open", *_LEADS_INTO}


def _flow(markdown: str) -> list[tuple[str, str, str | None]]:
    """Every paragraph (list items' included) as the site's parser finds it, in order: (text, what kind of
    block comes next or None at the end, ...). Code, math, tables and headings are not paragraphs."""
    from ..site.render import block_tokens

    tokens = block_tokens(markdown)  # a paragraph of math alone needs the inline parse: given where "$" is

    def kind(i: int) -> str:  # a paragraph of math alone ("$$x$$" on one line) is display math too
        t = tokens[i]
        if t.type == "paragraph_open" and i + 1 < len(tokens):
            children = [c for c in (tokens[i + 1].children or []) if not (c.type == "text" and not c.content.strip())
                        and c.type not in ("softbreak", "hardbreak")]
            if children and all(c.type == "math_inline" for c in children):
                return "math_block"
        return t.type

    starts = [(i, kind(i)) for i, t in enumerate(tokens) if t.type in _BLOCK_OPENS]
    out = []
    for i, token in enumerate(tokens):
        if token.type != "inline" or i == 0 or tokens[i - 1].type != "paragraph_open":
            continue
        following = next((kind for j, kind in starts if j > i), None)
        out.append((token.content.strip(), following))
    return out


_THEMATIC = re.compile(r"^(?:[-*_][ \t]*){3,}$")
_DEFINITION = re.compile(r"^\[[^\]]+\]:")
_FINAL_OK = set(_TERMINAL) - {":"}


def _last_word(line: str) -> str | None:
    """The line's last word, if it lies whole within the last 30 characters of any text the line ends (at most 20
    characters, at most 5 after it): then it is the last word `_cut_off` reads there too; else None."""
    last = None
    for last in WORDS.finditer(line):
        pass
    if last is None or len(last.group(0)) > 20 or len(line) - last.end() > 5:
        return None
    return last.group(0)


def _surely_whole(markdown: str) -> bool:
    """Whether no paragraph of the text can be cut off, read line by line without parsing: every paragraph ends
    at the end of a line, so if no line ends the way a cut-off paragraph ends, none does. Conservative: a line it
    cannot read so (markup that ends paragraphs elsewhere: raw HTML, a link definition, a thematic break, a
    footnote; a line with no word where one matters) leaves the question to the parse."""
    if "[^" in markdown:
        return False
    lines = [line.strip() for line in markdown.split("\n") if line.strip()]
    if not lines:
        return False
    for line in lines:
        if line.startswith("<") or _DEFINITION.match(line):
            return False
        if line[-1] in _TERMINAL:
            continue  # a paragraph ending here ends on a full stop or the like: not cut off mid-sentence
        word = _last_word(line)
        if word is None or word.lower() in _CUT_BEFORE_BLOCK:
            return False
    final = lines[-1]
    if final[-1] not in _FINAL_OK or _THEMATIC.match(final):
        return False
    word = _last_word(final.lower())
    if word is None or final.endswith(".") and word in _JOINING - {"is", "are"}:
        return False
    return True


def _cut_off(page: Page, cfg: Config) -> str | None:
    """An answer, paragraph or list item that stops mid-sentence. A paragraph that leads into display math, a
    table, code or a list ("the area under $y = x^2$ is" + a formula) is not cut off."""
    markdown = page.decoded_answer()
    if _surely_whole(markdown):
        return None  # no line could end a cut-off paragraph: no parse needed (99 pages in 100)
    return _cut_off_parsed(markdown)


def _cut_off_parsed(markdown: str) -> str | None:
    """`_cut_off` from the site parser's paragraphs."""
    flow = [(text, following) for text, following in _flow(markdown) if text]
    if not flow:
        return None
    tokens_end = _ends_with_block(markdown)
    last, following = flow[-1]
    if following is None and not tokens_end:
        if last[-1] not in _TERMINAL:
            return f"the answer ends mid-sentence: ...{last[-40:]!r}"
        if last.endswith(":"):
            return f"the answer ends on a colon, and what it introduces is missing: ...{last[-40:]!r}"
        tail = WORDS.findall(last[-30:].lower())
        if last.endswith(".") and tail and tail[-1] in _JOINING - {"is", "are"}:
            return f"the answer ends on {tail[-1]!r}: a sentence cut off and given a full stop"
    for text, following in flow:
        tail = WORDS.findall(text[-30:])
        if text[-1] in _TERMINAL or not tail or tail[-1] == "A":  # "→ A": a letter
            continue
        last = tail[-1].lower()
        if following in _NOT_INTO_MATH:
            continue  # "the area under $y = x^2$ is" + a formula: the formula ends the sentence
        if following in _LEADS_INTO and last in _CUT_BEFORE_BLOCK - {"is", "are", "that", "which"} \
                and len(tail) > 2 and len(WORDS.findall(text)) > 2:  # "or" alone between two code blocks is whole
            return f"a paragraph that introduces a list, a table or code ends on {last!r}: cut off ...{text[-40:]!r}"
        if following not in _LEADS_INTO and last in _JOINING:
            return f"a paragraph or list item is cut off: ...{text[-40:]!r}"
    return None


def _ends_with_block(markdown: str) -> bool:
    """Whether the answer's last block is not a paragraph (math, code, a table): the lint's QT003 says so."""
    from ..site.render import block_tokens

    closing = [t for t in block_tokens(markdown) if t.level == 0 and t.nesting != 1]
    return bool(closing) and closing[-1].type in ("math_block", "fence", "code_block", "table_close")


def _keyword_junk(page: Page, cfg: Config) -> str | None:
    from ..format.seo import keyword_problem, keyword_shape

    answer = None
    for term in (t.strip() for t in page.seo.page_keywords.split(",")):
        if not term or not keyword_problem(term):
            continue
        shape = keyword_shape(term)  # what the page itself may vouch for; None: junk anywhere
        if shape is None:
            return f"keyword {term[:40]!r} is not a word or short phrase"
        answer = answer if answer is not None else page.decoded_answer()
        if _vouched(term, shape, page.question, answer):
            continue
        return f"keyword {term[:40]!r} is not a word or short phrase"
    return None


def _vouched(term: str, shape: str, question: str, answer: str) -> bool:
    """Whether the page's own words make a refused-looking keyword one of its terms: a number or a word the question
    names; a word the answer marks as a term (`less`, **each**, "AND", or AND in capitals); a long name or a sign
    ("/8") the answer or question says, punctuation aside."""
    lower = term.lower()
    if shape == "number":
        return re.search(rf"(?<![\w.]){re.escape(term)}(?![\w])", question) is not None
    if shape == "filler":
        if re.search(rf"\b{re.escape(lower)}\b", question.lower()) and not term.isupper():
            return True
        marked = rf"(`|\*\*?|_|\"|'|\u201c|\u2018){re.escape(term)}(`|\*\*?|_|\"|'|\u201d|\u2019)"
        return re.search(marked, answer, re.I) is not None or (term.isupper() and re.search(
            rf"\b{re.escape(term)}\b", answer) is not None)
    if shape == "sign":
        return lower in answer.lower() or lower in question.lower()
    if shape == "long":
        words = _norm(lower)
        return words in _norm(answer.lower()) or words in _norm(question.lower())
    return False


def _description_shape(page: Page, cfg: Config) -> str | None:
    d = page.seo.page_description.strip()
    if not d:
        return "the description is empty"
    if not (d[0].isalnum() or d[0] in "\"'(\u201c"):
        return f"the description starts with {d[0]!r}"
    if d.endswith(("\u2026", "...")):
        return f"the description ends with an ellipsis, cut off mid-phrase: ...{d[-30:]!r}"
    if d[-1] not in ".!?\"')\u201d":
        return f"the description ends cut off: ...{d[-30:]!r}"
    last = WORDS.findall(d.lower())
    if d.endswith(".") and last and last[-1] in _JOINING:
        return f"the description ends on {last[-1]!r}: a fragment given a full stop"
    return None


_ACRONYM = re.compile(r"\b[A-Z][A-Za-z]*[A-Z][A-Za-z]*s?\b|\b[A-Z]{2,}s?\b")


_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹₀₁₂₃₄₅₆₇₈₉", "01234567890123456789")
_SUPERSCRIPT = re.compile("[⁰¹²³⁴⁵⁶⁷⁸⁹₀₁₂₃₄₅₆₇₈₉]")
_MATH_MARKS = re.compile(r"[\^{}_$]")
# words that frame what is asked (compare, explain, the role of...), not what it is about: an answer need not say them
_FRAMING = set(
    "difference differences differ between compare compared comparing comparison contrast contrasting versus "
    "similarities similarity distinguish distinguishing explain explained describe discuss outline summarize "
    "summarise illustrate identify analyze analyse evaluate assess examine role roles significance significant "
    "importance important impact impacts influence influences affect affects relationship relate related "
    "factors features characteristics advantages disadvantages benefits drawbacks purpose purposes "
    "used using use uses happen happens mean means meaning definition define defines defined general overview "
    "aspects common primary major various several much many per step steps present exist exists typically "
    "usually often commonly certain specific particular generally "
    # what a question asks of its topic (an answer need not say "analyses" to give them): measured on the site's
    # own pages, each of these made QT022 flag published answers that answer the question
    "analysis analyses associated associate state their other respective notable current recent detail details "
    "background profile highlight highlights function functions level levels central main key upon against under "
    "being them might given behind basic detailed explanation latest currently circumstances previous work".split()
)


def _off_topic(page: Page, cfg: Config) -> str | None:
    from ..site.index import topic

    answer = page.decoded_answer().lower()
    if _SUPERSCRIPT.search(answer):
        answer = answer.translate(_SUPERSCRIPTS)
    answer = _MATH_MARKS.sub("", answer)  # "sp^2", "sp²" and "$sp_{2}$" all say sp2
    terms = [t for t in topic(page.question).split() if len(t) >= 3 and not t.isdigit() and t not in _FRAMING]
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


_FOOTNOTE_LABEL = re.compile(r"\[\^([^\]]*[<>\"`][^\]]*)\]")  # an apostrophe is a name's ([^o'brien])
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
