"""What the site does to dollar signs and math, found and fixed before a reader sees it.

The site's parser (remark-math) takes any `$` for the start of math, like a code span: "it cost $26,000
with a salvage value of $2,000" becomes one formula. A `%` in math starts a TeX comment and hides the
rest of the formula; an unclosed `$$` turns the rest of the page into math; KaTeX rejects some TeX and
cannot typeset some Unicode in math. Each is found from the site's own parse (`render.math_spans`)
and KaTeX's own messages (`katex.py`); a currency dollar has an exact fix: `\\$`, which the site shows
as a dollar sign.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .katex import typeset
from .render import MathSpan, math_spans

_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}")
_TEXT_CMD = re.compile(r"\\(?:text|mathrm|textbf|textit|mbox)\s*\{[^{}]*\}")
_PERCENT = re.compile(r"(?<!\\)%")


_MATH_WORDS = {"log", "sin", "cos", "tan", "cot", "sec", "csc", "exp", "max", "min", "lim", "det", "mod", "gcd", "lcm",
               "arg", "deg", "dim", "ker", "sup", "inf", "sinh", "cosh", "tanh", "arcsin", "arccos", "arctan"}
_MATH_SIGNS = re.compile(r"[=^_\\{}<>]")


def is_currency(span: MathSpan) -> bool:
    """An inline span that opens with a digit and reads as prose: a dollar amount, not math."""
    if span.display:
        return False
    raw = span.raw
    if not raw[:1].isdigit():
        return False
    if span.after[:1].isdigit():
        return True  # "$5 and $10": the closing dollar opens the next amount
    words = [w for w in _WORD.findall(_TEXT_CMD.sub(" ", raw)) if w.lower() not in _MATH_WORDS]
    if _MATH_SIGNS.search(raw) and len(words) < 4:
        return False  # "$2 log n + log m$", "$3x^2$": math, whatever its first character
    return len(words) >= 2 or (raw.endswith((" ", "\n")) and len(words) >= 1)


@dataclass
class MathProblem:
    kind: str  # currency, katex-error, percent, unclosed, unicode
    message: str
    tex: str


def problems(markdown: str) -> list[MathProblem]:
    """Every math problem of an answer (decoded Markdown), in the order the site meets them."""
    out: list[MathProblem] = []
    for span in math_spans(markdown):
        shown = " ".join(span.tex.split())
        short = shown if len(shown) <= 60 else shown[:57] + "..."
        if is_currency(span):
            out.append(MathProblem("currency", f"the site typesets ${short}$ as a formula; a dollar amount "
                                               "needs \\$ (qtgen fix escapes it)", span.tex))
            continue
        if not span.closed:
            out.append(MathProblem("unclosed", "a $$ block is never closed: all that follows it in its "
                                               "section or list item is one formula (add the closing $$ line)", span.tex))
        math = typeset(span.tex, span.display)
        if _PERCENT.search(span.tex):  # often the cause of a KaTeX error too: said first
            out.append(MathProblem("percent", f"'%' in {short!r} starts a TeX comment that hides the rest "
                                              "of the formula (write \\%)", span.tex))
        if math.error:
            out.append(MathProblem("katex-error", f"KaTeX cannot typeset {short!r}: {math.error}", span.tex))
        for warning in math.warnings:
            if "nicode" in warning or "unicodeTextInMathMode" in warning:
                out.append(MathProblem("unicode", f"KaTeX: {warning} (write it as a TeX command, or in \\text{{}})",
                                       span.tex))
    return out


def escape_currency(markdown: str) -> tuple[str, int]:
    """Every currency dollar the site would take for math, escaped as \\$; (text, how many escaped)."""
    count = 0
    for _ in range(markdown.count("$") + 1):
        span = next((s for s in math_spans(markdown) if is_currency(s)), None)
        if span is None:
            break
        at = _find_open(markdown, span.raw)
        if at < 0:
            break
        close = at + 1 + len(span.raw)
        if span.after[:1].isdigit():  # "$5 and $10": the closing dollar is a price too
            markdown = markdown[:close] + "\\" + markdown[close:]
            count += 1
        markdown = markdown[:at] + "\\" + markdown[at:]
        count += 1
    return markdown, count


_CODE = re.compile(r"```.*?(?:```|$)|~~~.*?(?:~~~|$)|`[^`\n]*`", re.S)


def _find_open(markdown: str, raw: str) -> int:
    """Where the span "$raw$" opens, outside code (a price in a code block is the code's business)."""
    code = [m.span() for m in _CODE.finditer(markdown)]
    needle = "$" + raw + "$"
    start = 0
    while True:
        at = markdown.find(needle, start)
        if at < 0:
            return -1
        in_code = any(a <= at < b for a, b in code)
        if not in_code and (at == 0 or markdown[at - 1] not in "\\$") and \
                markdown[at + len(needle): at + len(needle) + 1] != "$":
            return at
        start = at + 1
