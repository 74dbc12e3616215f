"""What the CLI prints of content and model text: always as text, never as Rich markup, escapes or links.

`rich` reads `[bold]`, `[/b]` and `[link=...]` in any string it is given; a question such as "What does [/b] mean?"
would break the table or become a hyperlink. Every value that came from a draft, a page or a model goes through
`text()` (a Rich Text, never parsed, control characters removed) and qtgen's own styling is added around it.
"""

from __future__ import annotations

from ..format.plaintext import one_line, printable


def text(value: object, style: str = "", lines: bool = False):
    """A Rich Text of `value` as it is: no markup read, no control character (one line unless `lines`)."""
    from rich.text import Text

    return Text(printable(value) if lines else one_line(value), style=style)


def joined(*parts):
    """Rich Texts (or plain strings, taken as qtgen's own markup) joined into one Text."""
    from rich.text import Text

    out = Text()
    for part in parts:
        out.append(part if isinstance(part, Text) else Text.from_markup(part))
    return out


def width() -> int:
    """The terminal's width (COLUMNS when set; 100 when not a terminal)."""
    import shutil

    return max(40, shutil.get_terminal_size((100, 24)).columns)


def wrapped(line: str, indent: int = 0) -> str:
    """A line wrapped to the terminal's width at spaces (its own indent kept, continuation lines indented as
    `indent` spaces); a word longer than the width, such as a path, is left whole."""
    import textwrap

    if len(line) <= width():
        return line
    body = line.lstrip(" ")
    lead = line[:len(line) - len(body)]
    return "\n".join(textwrap.wrap(body, width(), initial_indent=lead, subsequent_indent=" " * indent,
                                   break_on_hyphens=False, break_long_words=False)) or line
