"""SEO description and keywords: checked, normalised, and derived from the answer when missing."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from .text import clean_line

_DANGLING = " ,;:-\u2013\u2014(/&"
_TRAILING_WORDS = {"and", "or", "of", "the", "a", "an", "to", "in", "for", "with", "on", "by", "as", "its", "their"}
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
_BOLD = re.compile(r"\*\*([^*\n]{2,60}?)\*\*")
_MD_NOISE = re.compile(r"(\*\*|__|`+|^#+\s*|^\s*\d+\.\s+|^\s*[-*+]\s+)", re.M)
_GENERIC = {"definition", "key points", "key point", "summary", "conclusion", "introduction", "example", "examples",
            "overview", "explanation", "note", "importance", "how does it work", "scope", "implementation"}
_COMMON = set(
    "also been being both each from have having here into like more most much must only other over same some such "
    "than that them then there these they this those through under very were what when where which while will with "
    "would your about after again against because before between during further once their theirs yours".split()
)
_STOP = set(
    "a an and are as at be by can could did do does for from how in into is it its of on or "
    "should that the their them they this to was were what when where which who whom why will with would "
    "you your explain describe define discuss".split()
)
# words that frame or size a question without naming its topic: never a keyword on their own
FILLER = set(
    "much many per each every some any few lot lots more most less least very quite rather just also even "
    "make makes made making use uses used using get gets got give gives take takes way ways thing things "
    "one two three first second kind kinds type types example examples role roles important importance "
    "difference differences between compare comparison contrast explain describe discuss define definition "
    "meaning mean means happen happens affect affects effect impact work works year years per annum".split()
)
_BAD_KEYWORD = re.compile(r'[{}\[\]"<>|\\;$%€£¥]|:$|\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2}|^[^\w#(\u201c"\'.+-]|'
                          r'\b(page[ _](description|keywords|title))\b|^\s*(key\s*)?(points?|keywords?|terms?|examples?|'
                          r'description|title|answer|topic)\s*\d*\s*:|^keyword\s*\d+$', re.I)
_STOPWORD_KEYWORD = {"the", "and", "of", "a", "an", "to", "in", "or", "is", "for", "on", "with"}
# words that size or frame, never a topic alone ("much", "per"); in capitals they are acronyms (PER, GET, WHO)
_FILLER_KEYWORD = {"much", "many", "per", "each", "every", "some", "any", "few", "more", "most", "less", "least",
                   "very", "quite", "just", "also", "even", "does", "do", "did", "make", "get", "give", "take", "thing",
                   "things", "way", "ways", "how", "what", "why", "when", "which", "who"}
_YEAR = re.compile(r"(1[5-9]|20)\d\d")
_AMOUNT_ONLY = re.compile(r"[\d\s.,]+")
_LETTER = re.compile(r"[A-Za-z\u00c0-\uffff]")
_YEARS = re.compile(r"(1[5-9]|20)\d\d\s*[-\u2013]\s*((1[5-9]|20)?\d\d)")


@lru_cache(maxsize=16384)  # a site's keywords repeat: "biology" on thousands of pages
def keyword_problem(term: str) -> str | None:
    """Why a term is not a keyword (punctuation, code, an amount, a timestamp, over five words...), or None.
    The lint (QT020) and the derivation of keywords judge by this one rule."""
    term = term.strip()
    if not term:
        return "empty"
    if _YEAR.fullmatch(term) or _YEARS.fullmatch(term):
        return None  # a year, or a span of years: a word of its own
    if term.lower() in _STOPWORD_KEYWORD or _AMOUNT_ONLY.fullmatch(term) or (
            term.lower() in _FILLER_KEYWORD and not term.isupper()):
        return "not a word or short phrase"
    if "," in term or _BAD_KEYWORD.search(term) or len(term.split()) > 5 or not _LETTER.search(term):
        return "not a word or short phrase"
    return None


def keyword_shape(term: str) -> str | None:
    """Of a term `keyword_problem` refuses, what its page may vouch for: "long" (over five words), "filler" (a word
    that sizes or frames), "sign" (it starts with a sign, such as "/8"); None for what no page makes a keyword
    (field names, code, braces, timestamps, amounts alone)."""
    term = term.strip()
    if not term or "," in term:
        return None
    if _AMOUNT_ONLY.fullmatch(term) and term.strip(" .,").isdigit() and len(term.strip()) <= 4:
        return "number"  # "1381" on a page about the Peasants' Revolt of 1381
    if term.lower() in _STOPWORD_KEYWORD:
        return "filler" if term.isupper() and len(term) > 1 else None  # "AND" on a page about truth tables
    if _AMOUNT_ONLY.fullmatch(term):
        return None
    if term.lower() in _FILLER_KEYWORD and not term.isupper():
        return "filler"
    if not (term[0].isalnum() or term[0] in "#(\u201c\"'.+-$%€£¥{}[]<>|\\;") and len(term) <= 40 \
            and not _BAD_KEYWORD.search(term[1:]):
        return "sign"
    if len(term.split()) > 5 and not _BAD_KEYWORD.search(term) and len(term) <= 80:
        return "long"
    return None


def _amount(word: str) -> bool:
    """A number that is not a year ("$1,200", "1200", "20%", "3.5"): a detail of the question, not its topic."""
    return bool(re.search(r"\d", word)) and not _YEAR.fullmatch(word.strip("()"))


@dataclass
class Bounds:
    desc_min: int = 70
    desc_max: int = 117
    kw_min: int = 5
    kw_max: int = 15


@dataclass
class SeoFields:
    description: str
    keywords: str
    notes: list[str] = field(default_factory=list)


def plain_text(answer_markdown: str) -> str:
    """Answer Markdown reduced to prose for deriving a description."""
    text = _MD_NOISE.sub("", answer_markdown)
    return clean_line(text.replace("$", ""))


def cut(text: str, limit: int, minimum: int = 0) -> str:
    """A description shortened to `limit` characters the way a reader accepts, never under `minimum`: at the
    last sentence end that fits; else at the last clause (comma, semicolon, dash) with an ellipsis; else at a
    word boundary with an ellipsis. Never a fragment given a full stop, never a dangling joining word."""
    return cut_where(text, limit, minimum)[0]


def shortened(text: str, answer_markdown: str, bounds: Bounds) -> str:
    """An over-long description repaired to end a sentence or a clause: cut; and where the only cut that fits
    ends at a bare word, the answer's own opening sentence(s) instead, if they fit the bounds."""
    out, where = cut_where(text, bounds.desc_max, bounds.desc_min)
    if where != "word":
        return out
    opening = ""
    for sentence in (x for x in _SENTENCE.split(plain_text(answer_markdown)) if x):
        longer = f"{opening} {sentence}".strip()
        if len(longer) > bounds.desc_max:
            break
        opening = longer
    if bounds.desc_min <= len(opening) <= bounds.desc_max and opening.endswith((".", "!", "?")):
        return opening
    return out


def cut_where(text: str, limit: int, minimum: int = 0) -> tuple[str, str]:
    """`cut`, and where it cut: "sentence", "clause", "word" (or "none" when the text fits)."""
    if len(text) <= limit:
        return text, "none"
    head = text[: limit + 1]
    floor = max(minimum, 1)
    ends = [m.end() for m in _SENTENCE_END.finditer(head) if floor <= m.end() <= limit]
    if ends:
        return head[: ends[-1]].rstrip(), "sentence"
    room = limit - 1  # a place for the ellipsis
    clauses = sorted({m.start() for m in re.finditer(r", |; | - | – | — | (?=(and|or|but|while|which|that|including|"
                                                      r"such as|as well as|covering|highlighting|emphasizing) )",
                                                      head[:room])}, reverse=True)
    for clause in clauses:
        out = _trim_words(head[:clause].split(" "))
        if out and floor <= len(out) + 1 <= limit:
            return out + "…", "clause"
    words = text[: room + 1].split(" ")[:-1]  # the last piece may be a word cut in two
    out = _trim_words(words)
    if out and len(out) + 1 >= floor:
        return out + "…", "word"
    return text[:room].rstrip(_DANGLING) + "…", "word"  # one word longer than the room left: cut inside it


def _trim_words(words: list[str]) -> str:
    """Words without trailing punctuation or a joining word at the end."""
    words = list(words)
    while words:
        last = words[-1].rstrip(_DANGLING + ".")
        if last and last.lower() not in _TRAILING_WORDS:
            words[-1] = last
            return " ".join(words)
        words.pop()
    return ""


def description(raw: str | None, answer_markdown: str, bounds: Bounds, notes: list[str], question: str = "") -> str:
    desc = clean_line(raw or "")
    if not desc:
        desc = ""
        notes.append("description: the model gave none; derived from the answer's opening")
    if len(desc) < bounds.desc_min:
        sentences = [s for s in _SENTENCE.split(plain_text(answer_markdown)) if s]
        for sentence in sentences:
            if len(desc) >= bounds.desc_min:
                break
            desc = f"{desc} {sentence}".strip()
        if raw and clean_line(raw):
            notes.append(f"description: under {bounds.desc_min} characters; extended from the answer")
    if len(desc) > bounds.desc_max:
        before = len(desc)
        desc, where = cut_where(desc, bounds.desc_max, bounds.desc_min)
        if desc.endswith("…"):  # no sentence of it fits: a snippet cut mid-phrase is worse than another sentence
            whole = whole_sentences(answer_markdown, bounds, question)
            if whole:
                notes.append(f"description: {before} characters, and no sentence of it fits {bounds.desc_min}.."
                             f"{bounds.desc_max}; written from the answer's own sentences instead")
                return whole
            head = desc[:-1]
            if where == "clause" and not any(x in head for x in (", ", "; ", " and ", " or ")):
                # one main clause, not a list cut short: it reads as a sentence, and is ended as one
                desc = desc[:-1] + "."
                notes.append(f"description: cut from {before} to {len(desc)} characters, at the end of a clause")
                return desc
        notes.append(f"description: cut from {before} to {len(desc)} characters")
    return desc


def whole_sentences(answer_markdown: str, bounds: Bounds, question: str = "") -> str | None:
    """A description of whole sentences within the bounds: the answer's earliest sentence (or two in a row) that
    fits, else one saying what the page answers; None when nothing fits."""
    sentences = [x.strip() for x in _SENTENCE.split(plain_text(answer_markdown)) if x.strip()]
    for n, sentence in enumerate(sentences):
        for text in (sentence, " ".join(sentences[n:n + 2])):
            if bounds.desc_min <= len(text) <= bounds.desc_max and text.endswith((".", "!", "?")) \
                    and not text.rstrip(".!?").lower().endswith(tuple(f" {w}" for w in _TRAILING_WORDS)):
                return text
    q = clean_line(question).rstrip("?. ")
    if q:
        for text in (f"This content answers: {q}? With the key points and examples.", f"This content answers: {q}?",
                     f"{q}? The key points, explained."):
            if bounds.desc_min <= len(text) <= bounds.desc_max:
                return text
    return None


def split_keywords(raw: str | list | None) -> list[str]:
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for item in items:
        for piece in re.split(r"(?<!\d),|,(?!\d{3}(?!\d))|[;\n]", str(item)):  # "1,200" is one number
            term = clean_line(piece).strip(" \"'`*#-\u2022.…")
            if term:
                out.append(term)
    return out


def dedupe(terms: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for term in terms:
        key = term.casefold()
        if key not in seen:
            seen.add(key)
            out.append(term)
    return out


def derived_keywords(answer_markdown: str, subject: str, question: str) -> list[str]:
    """Bold list terms, the subject, the question's content words, then the answer's most frequent ones."""
    bold = [clean_line(t).strip(" :.") for t in _BOLD.findall(answer_markdown)]
    words = [w.strip("?.,:;!()'\"") for w in question.split()]
    content = [w for w in words if len(w) > 2 and w.lower() not in _STOP and w.lower() not in FILLER
               and not _amount(w)]
    counts: dict[str, int] = {}
    for w in re.findall(r"[A-Za-z][A-Za-z-]{3,}", plain_text(answer_markdown)):
        if w.lower() not in _STOP and w.lower() not in _COMMON and w.lower() not in FILLER:
            counts[w.lower()] = counts.get(w.lower(), 0) + 1
    frequent = [w for w, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= 2][:8]
    bold = [t for t in bold if t and len(t.split()) <= 5 and not t.endswith("?") and t.lower() not in _GENERIC]
    return [t for t in bold + [subject] + content + frequent if keyword_problem(t) is None]


def keywords(raw: str | list | None, answer_markdown: str, subject: str, question: str, bounds: Bounds, notes: list[str]) -> str:
    given = dedupe(split_keywords(raw))
    terms = [t for t in given if keyword_problem(t) is None]
    if len(terms) < len(given):
        dropped = [t for t in given if t not in terms]
        notes.append(f"keywords: dropped {len(dropped)} that are not words or short phrases ({dropped[0][:30]!r}"
                     + (", ..." if len(dropped) > 1 else "") + ")")
    if len(terms) < bounds.kw_min:
        have = len(terms)
        terms = dedupe(terms + derived_keywords(answer_markdown, subject, question))
        notes.append(f"keywords: the model gave {have}; derived more from the answer's bold terms and the subject")
    if len(terms) > bounds.kw_max:
        notes.append(f"keywords: {len(terms)} terms, kept the first {bounds.kw_max}")
        terms = terms[: bounds.kw_max]
    return ", ".join(terms)


def normalise(raw_description, raw_keywords, answer_markdown: str, subject: str, question: str, bounds: Bounds) -> SeoFields:
    """The page's SEO fields within bounds, with a note for each change made."""
    notes: list[str] = []
    desc = description(raw_description, answer_markdown, bounds, notes, question)
    kws = keywords(raw_keywords, answer_markdown, subject, question, bounds, notes)
    return SeoFields(desc, kws, notes)
