"""Emit a Page in the site's exact layout, (the files module puts it on disk).

Layout (FORMAT.md section 3): one-line `>-` scalars indented 4 (8 under related articles), plain
`key: value` elsewhere, `\\n`-encoded answer, a blank line before the closing `---` iff the title is
folded, `score` is present and there are no related articles, and the `\\n---\\n\\n&nbsp;` ending.
"""

from __future__ import annotations

from .page import FOLDED, PLAIN, Page
from .text import plain_safe

ENDING = "\n---\n\n&nbsp;"


def _folded(key: str, value: str, indent: int) -> list[str]:
    # Content sits at 4 spaces for top-level and seo keys, at 8 under related_articleN.
    content = " " * (8 if indent >= 4 else 4)
    return [f"{' ' * indent}{key}: >-", f"{content}{value}"]


def _title(key: str, value: str, style: str, indent: int) -> list[str]:
    if style == PLAIN and plain_safe(value):
        return [f"{' ' * indent}{key}: {value}"]
    return _folded(key, value, indent)


def _scalar(value: object) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def blank_line_for(page: Page) -> bool:
    """The site's rule for the blank line before the closing `---`."""
    if page.layout.blank_line is not None:
        return page.layout.blank_line
    return page.layout.title_style == FOLDED and page.score is not None and not page.related


def render(page: Page) -> str:
    """The file's exact text."""
    style = page.layout.title_style
    if style == PLAIN and not (plain_safe(page.title) and plain_safe(page.article_title)):
        style = FOLDED  # both title keys always share one style
    lines = [
        "---",
        f"_schema: {page.schema_}",
        f"id: {page.id}",
        f"date: {page.date.isoformat()}",
        *_title("title", page.title, style, 0),
        *_title("article_title", page.article_title, style, 0),
        f"date_format: {page.date_format}",
        f"post_on_text: {page.post_on_text}",
        "seo:",
        f"  title: {page.seo.title}",
        *_folded("page_description", page.seo.page_description, 2),
        *_folded("page_keywords", page.seo.page_keywords, 2),
        f"author: {page.author}",
        *_folded("question", page.question, 0),
    ]
    if page.no_index is not None:
        lines.append(f"no_index: {page.no_index}")
    lines += [
        *_folded("answer", page.answer, 0),
        f"subject: {page.subject}",
        f"file_name: {page.file_name}",
        f"url: {page.url}",
    ]
    if page.score is not None:
        lines.append(f"score: {_scalar(page.score)}")
    for n, art in enumerate(page.related, 1):
        lines += [
            f"related_article{n}:",
            f"    id: {art.id}",
            *_title("title", art.title, style, 4),
            f"    subject: {art.subject}",
            f"    url: {art.url}",
        ]
    if blank_line_for(page):
        lines.append("")
    return "\n".join(lines) + ENDING
