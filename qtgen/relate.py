"""Recomputing the related articles of existing pages, leaving every other byte as it was."""

from __future__ import annotations

from pathlib import Path

from .index import SiteIndex
from .page import RelatedArticle
from .reader import read
from .writer import render, write_atomic


def refresh_related(index: SiteIndex, path: Path) -> tuple[bool, int]:
    """Rewrite `path` with freshly chosen related articles; (whether it changed, how many)."""
    page = read(path)
    entries = index.related(page.question, page.subject, page.seo.page_keywords, page.file_name, page.id)
    arts = [RelatedArticle(id=e.id, title=e.question, subject=e.subject, url=e.url) for e in entries]
    new = page.with_related(arts)
    if bool(arts) != bool(page.related):
        new.layout = new.layout.model_copy(update={"blank_line": None})  # the site's rule decides
    text = render(new)
    old = Path(path).read_text(encoding="utf-8")
    if text == old:
        return False, len(arts)
    write_atomic(Path(path), text, overwrite=True)
    return True, len(arts)
