"""Read page files into the Page model with python-frontmatter, keeping their layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import frontmatter
from pydantic import ValidationError

from ..errors import ParseError
from .page import FOLDED, PLAIN, Layout, Page

_YAML = frontmatter.YAMLHandler()


def load_meta(text: str) -> dict[str, Any]:
    """The front matter as PyYAML (C loader) reads it; ParseError if it does not parse."""
    import yaml

    if not text.startswith("---\n"):
        raise ParseError("front matter: file does not start with '---'")
    end = text.find("\n---\n", 3)
    if end < 0:
        end = text.find("\n---", 3)
        if end < 0 or text[end + 4 :].strip("-\n\r "):
            raise ParseError("front matter: no closing '---' line")
    try:
        # The site's layout is fixed, so we split it ourselves and let python-frontmatter's YAML
        # handler (PyYAML's C loader) read it: frontmatter.loads would scan the whole body again.
        meta = _YAML.load(text[4:end])
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ParseError(f"front matter: YAML does not parse{where}: {problem}") from None
    except Exception as exc:  # frontmatter's own split and decoding errors
        raise ParseError(f"front matter: {exc}") from None
    if not isinstance(meta, dict) or not meta:
        raise ParseError("front matter: empty or not a mapping")
    return meta


def layout_of(text: str) -> Layout:
    """Title style and blank line, read off the raw text."""
    style = FOLDED if "\ntitle: >-\n" in text else PLAIN
    return Layout(title_style=style, blank_line=text.endswith("\n\n---\n\n&nbsp;"))


def page_from_meta(meta: dict[str, Any], layout: Layout | None = None) -> Page:
    """Build a Page with the types PyYAML gave (strict: no silent coercion)."""
    try:
        page = Page.model_validate(meta, strict=True)
    except ValidationError as exc:
        raise ParseError(describe_validation(exc)) from None
    if layout is not None:
        page.layout = layout
    return page


def describe_validation(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "page"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {err['msg']}{more}"


def parse(text: str) -> Page:
    """A page from its file text."""
    return page_from_meta(load_meta(text), layout_of(text))


def read(path: Path) -> Page:
    """A page from a file; ParseError (naming the file) if it cannot be read."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ParseError(f"{path}: {exc.strerror}") from None
    try:
        return parse(text)
    except ParseError as exc:
        raise ParseError(f"{path}: {exc}") from None
