"""A case-blind regular expression that searches fast.

Python's `re` with IGNORECASE is several times slower than without; the lint runs a few such patterns over every
page of a site. `Caseless` searches the lower-cased text with the pattern compiled case-sensitive first, and only
where that finds something asks the case-blind pattern, so what it returns is always the case-blind pattern's
own match on the text itself. The two agree for every character but three, whose simple case mapping (what
`re` uses) differs from `str.lower`: on a text holding one of them, only the case-blind pattern is asked.
"""

from __future__ import annotations

import re

DIFFERENT = ("\u0130", "\u0131", "\u017f")  # İ (lower() gives i + a combining dot), dotless ı and long ſ


class Caseless:
    """A pattern (lower-case literals) searched without regard to case. `needs`: strings (lower-case) one of which
    every match holds, looked for first in the lower-cased text (`in` is many times faster than `re`)."""

    def __init__(self, pattern: str, flags: int = 0, needs: tuple[str, ...] = ()) -> None:
        self.pattern = re.compile(pattern, flags | re.I)
        self._lower = re.compile(pattern, flags)
        self._needs = needs

    def search(self, text: str) -> re.Match | None:
        if not any(c in text for c in DIFFERENT):
            lower = text.lower()
            if self._needs and not any(n in lower for n in self._needs):
                return None
            if self._lower.search(lower) is None:
                return None
        return self.pattern.search(text)
