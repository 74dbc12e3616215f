"""Text from a draft or a model made safe for where it goes: a terminal, a spreadsheet cell, one line of a git
trailer. Everything a model wrote, or a draft holds, is hostile input.

- `printable`: no control characters (terminal escapes such as ESC, BEL, OSC; bidi overrides; zero-width marks);
  line breaks kept or not.
- `one_line`: and no line break of any kind (every separator `str.splitlines` honours: \\n \\r \\v \\f \\x1c-\\x1e
  \\x85 \\u2028 \\u2029), spaces collapsed.
- `formula_like` / `cell`: OWASP's CSV-injection rule: a cell a spreadsheet would run (it starts with = + - @, a
  tab or a carriage return) is neutralised with a leading apostrophe.
"""

from __future__ import annotations

import re

# C0 but tab and newline, DEL, C1, zero-width and direction marks, line/paragraph separators, bidi embeddings and
# isolates, the BOM
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_BREAKS = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\t]")
_FORMULA = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")  # and their full-width forms


def printable(text: object, lines: bool = True) -> str:
    """`text` with every control character removed (line breaks and tabs kept when `lines`)."""
    value = str(text if text is not None else "")
    if not lines:
        value = _BREAKS.sub(" ", value)
    return _CONTROL.sub("", value)


def one_line(text: object, limit: int | None = None) -> str:
    """`text` on one line: no control character, no line break of any kind, spaces collapsed."""
    out = " ".join(_CONTROL.sub("", _BREAKS.sub(" ", str(text if text is not None else ""))).split())
    return out if limit is None or len(out) <= limit else out[: max(0, limit - 1)] + "…"


def formula_like(text: str) -> bool:
    """Whether a spreadsheet would read the cell as a formula (or a command): it starts with = + - @, a tab or CR."""
    return str(text).lstrip(" ").startswith(_FORMULA)


def cell(text: object) -> str:
    """A CSV cell no spreadsheet runs: one line, and a leading apostrophe before anything formula-like."""
    value = one_line(text)
    return "'" + value if formula_like(value) else value
