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

from .katex import check_many
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
    return problems_many([markdown])[0]


def problems_many(markdowns: list[str]) -> list[list[MathProblem]]:
    """`problems` of each answer, their math typeset together (a call into KaTeX costs far more than a span)."""
    spans_of = [math_spans(markdown) for markdown in markdowns]
    checked = iter(check_many([(s.tex, s.display) for spans in spans_of for s in spans if not is_currency(s)]))
    return [_problems(spans, checked) for spans in spans_of]


def _problems(spans: list[MathSpan], checked) -> list[MathProblem]:
    out: list[MathProblem] = []
    for span in spans:
        shown = " ".join(span.tex.split())
        short = shown if len(shown) <= 60 else shown[:57] + "..."
        if is_currency(span):
            out.append(MathProblem("currency", f"the site typesets ${short}$ as a formula; a dollar amount "
                                               "needs \\$ (qtgen fix escapes it)", span.tex))
            continue
        if not span.closed:
            out.append(MathProblem("unclosed", "a $$ block is never closed: all that follows it in its "
                                               "section or list item is one formula (add the closing $$ line)", span.tex))
        math = next(checked)
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
    """Every currency dollar the site would take for math, escaped as \\$; (text, how many escaped).

    What is code is what the site's parser says is code: an escape is kept only if every code block and
    code span of the page reads exactly as before (so `\\$` never lands in indented code, a double-backtick
    span or a four-backtick fence). A span the parser joined across a list item's or a quote's lines is found
    in the text with its indentation or `>` markers."""
    count = 0
    code = code_of(markdown)
    given_up: set[str] = set()
    for _ in range(markdown.count("$") + 1):
        currency = [s for s in math_spans(markdown) if is_currency(s) and s.raw not in given_up]
        if not currency:
            break
        escaped = _escape_first(markdown, currency[0], code)
        if escaped is None:
            given_up.add(currency[0].raw)  # not to be found as the parser reads it: the others still are
            continue
        markdown, n = escaped
        count += n
    return markdown, count


def _escape_first(markdown: str, span: MathSpan, code: list[str]) -> tuple[str, int] | None:
    before = sum(is_currency(s) for s in math_spans(markdown))
    lines = span.raw.split("\n")
    pattern = re.compile(r"(?<![\\$])\$" + r"\n[ \t>]*".join(re.escape(line.lstrip(" \t>")) if i else re.escape(line)
                                                       for i, line in enumerate(lines)) + r"\$(?!\$)")
    for m in pattern.finditer(markdown):
        at, close = m.start(), m.end() - 1
        candidate, n = markdown, 1
        if span.after[:1].isdigit():  # "$5 and $10": the closing dollar is a price too
            candidate, n = candidate[:close] + "\\" + candidate[close:], 2
        candidate = candidate[:at] + "\\" + candidate[at:]
        if code_of(candidate) == code and sum(is_currency(s) for s in math_spans(candidate)) < before:
            return candidate, n
    return None


def code_of(markdown: str) -> list[str]:
    """The text of every code block and code span, in order, as the site's parser finds them."""
    from .render import tokens

    out: list[str] = []

    def walk(tokens) -> None:
        for token in tokens:
            if token.type in ("fence", "code_block", "code_inline"):
                out.append(token.content)
            if token.children:
                walk(token.children)

    walk(tokens(markdown))
    return out
