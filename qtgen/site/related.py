"""Recomputing the related articles of existing pages, leaving every other byte as it was."""

from __future__ import annotations

from pathlib import Path

from ..format.files import write_atomic
from ..format.page import Page, RelatedArticle
from ..format.reader import read
from ..format.writer import render
from .index import SiteIndex


def related_articles(index: SiteIndex, page: Page, page_id: int | None = None) -> list[RelatedArticle]:
    """Up to five published pages on the page's topic, as related-article entries."""
    entries = index.related(page.question, page.subject, page.seo.page_keywords, page.file_name, page_id)
    return [RelatedArticle(id=e.id, title=e.question, subject=e.subject, url=e.url) for e in entries]


def refresh_related(index: SiteIndex, path: Path) -> tuple[bool, int]:
    """Rewrite `path` with freshly chosen related articles; (whether it changed, how many)."""
    page = read(path)
    arts = related_articles(index, page, page.id)
    new = page.with_related(arts)
    if bool(arts) != bool(page.related):
        new.layout = new.layout.model_copy(update={"blank_line": None})  # the site's rule decides
    text = render(new)
    old = Path(path).read_text(encoding="utf-8")
    if text == old:
        return False, len(arts)
    write_atomic(Path(path), text, overwrite=True)
    return True, len(arts)
