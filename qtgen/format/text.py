"""Turning user and model text into values a one-line YAML scalar carries unchanged."""

from __future__ import annotations

import functools
import re
import unicodedata

from ..errors import InputError

MAX_QUESTION = 300
MAX_SUBJECT = 100

_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_BREAKS = re.compile(r"\r\n|[\r\u0085\u2028\u2029]")
# Characters YAML may not carry at all (PyYAML's NON_PRINTABLE, less tab and newline) plus BOM.
_NON_PRINTABLE = re.compile("[^\x09\x0a\x20-\x7e\xa0-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")
_YAML12_NUMBER = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$|^0[xo][0-9a-fA-F]+$")
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _bad_char(text: str) -> str | None:
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cs") or ch in _BIDI or ch in "\ufeff\u2028\u2029\u0085":
            return ch
    return None


def collapse_spaces(text: str) -> str:
    """Trim and collapse all inner whitespace (newlines included) to single spaces."""
    return _SPACES.sub(" ", text).strip()


def normalise_question(question: str) -> str:
    """The question as it will stand in the page, or an InputError saying what is wrong."""
    q = collapse_spaces(question)
    if not q:
        raise InputError("question: empty; give the question text")
    bad = _bad_char(q)
    if bad is not None:
        raise InputError(f"question: contains control character U+{ord(bad):04X}; remove it")
    if len(q) > MAX_QUESTION:
        raise InputError(f"question: {len(q)} characters, over the limit of {MAX_QUESTION}; shorten it")
    return q


def normalise_subject(subject: str) -> str:
    """The subject as written in the page; refuses anything that could act as a path."""
    s = collapse_spaces(subject or "")
    if not s:
        raise InputError("subject: empty; give one with --subject")
    bad = _bad_char(s)
    if bad is not None:
        raise InputError(f"subject {s!r}: contains control character U+{ord(bad):04X}")
    if "/" in s or "\\" in s or ".." in s or s.startswith("."):
        raise InputError(f"subject {s!r}: looks like a path; use a plain name such as 'Computer Science'")
    if len(s) > MAX_SUBJECT:
        raise InputError(f"subject: {len(s)} characters, over the limit of {MAX_SUBJECT}")
    if not plain_safe(s):
        raise InputError(f"subject {s!r}: must start with a letter or digit and contain no ': ', ' #' or '\"'")
    return s


@functools.lru_cache(maxsize=65536)
def plain_safe(text: str) -> bool:
    """True when `key: text` reads back as exactly `text` and follows the site's plain-title habits."""
    if not text or not text[0].isalnum() or text != text.strip():
        return False
    if ": " in text or " #" in text or '"' in text or text.endswith(":") or "\t" in text:
        return False
    if _NON_PRINTABLE.search(text) or "\n" in text or _YAML12_NUMBER.match(text):
        return False  # the site's YAML 1.2 reader would take "1e3" for a number
    import yaml

    try:
        loaded = yaml.load(f"k: {text}", Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return False
    return loaded == {"k": text}


def clean_line(text: str) -> str:
    """A one-line value (description, keywords, title) safe for a folded scalar."""
    return collapse_spaces(_NON_PRINTABLE.sub("", _BREAKS.sub("\n", text)))


def printable(text: str) -> str:
    """The text without control and other non-printable characters (tabs and newlines kept)."""
    return _NON_PRINTABLE.sub("", text)


def encode_answer(markdown: str) -> str:
    """Model Markdown to the stored answer: real newlines become the two characters \\n."""
    text = _BREAKS.sub("\n", markdown).replace("\t", "    ")
    text = _NON_PRINTABLE.sub("", text)
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    if lines:
        lines[0] = lines[0].lstrip()
    return "\\n".join(lines)


# LaTeX commands that begin with "\n": the site decodes every "\n" of an answer as a newline, so they
# break. Each is swapped for a symbol or command KaTeX renders the same (FORMAT.md section 4).
_LATEX_N_FIXES = {
    "nu": "ν", "neq": "≠", "ne": "≠", "nabla": "∇", "neg": r"\lnot", "notin": "∉", "newline": r"\\",
    "ni": "∋", "nless": "≮", "ngtr": "≯", "nleq": "≰", "ngeq": "≱", "nmid": "∤", "nparallel": "∦",
    "nsubseteq": "⊈", "nsupseteq": "⊉", "natural": "♮", "nearrow": "↗", "nwarrow": "↖", "nexists": "∄",
    "nolimits": "", "nonumber": "", "noindent": "", "normalsize": "",
}
_LATEX_N = re.compile(r"\\not\s*=|\\not\s*\\in(?![A-Za-z])|\\(" + "|".join(sorted(_LATEX_N_FIXES, key=len, reverse=True))
                      + r")(?![A-Za-z])")


def fix_latex_n(markdown: str) -> tuple[str, list[str]]:
    """Replace LaTeX commands starting with \\n; returns the text and the commands replaced."""
    fixed: list[str] = []

    def swap(m: re.Match) -> str:
        token = m.group(0)
        fixed.append(token.replace(" ", ""))
        if token.startswith("\\not"):
            return "∉" if token.endswith("in") else "≠"
        return _LATEX_N_FIXES[m.group(1)]

    return _LATEX_N.sub(swap, markdown), fixed


_STORED_CODE = re.compile(r"(```.*?(?:```|$)|`[^`]*`)", re.S)
_STORED_MATH = re.compile(r"\$\$.*?\$\$|(?<!\\)\$[^$]+?(?<!\\)\$", re.S)


def in_stored_math(answer: str, fix) -> str:
    """Apply `fix` (a re.Match -> str function) to each math span of a stored answer, never inside code
    (where "$ g++" is a shell prompt and "\\ni" may be C)."""
    pieces = _STORED_CODE.split(answer)
    for n in range(0, len(pieces), 2):
        pieces[n] = _STORED_MATH.sub(fix, pieces[n])
    return "".join(pieces)
