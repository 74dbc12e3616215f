"""Readiness: what approve requires of a draft's own bytes before it may be published.

Approve and the recovery of an interrupted approval ask the same questions here, so a journal (planted, or a
dead process's) can never publish a draft that `qtgen approve` itself would refuse.
"""

from __future__ import annotations

from pathlib import Path

from ..site.index import SiteIndex
from .queue import QueueItem


def content_problems(items: list[QueueItem], allow_warnings: bool) -> list[str]:
    """Each draft that does not read, fails validation or lint, or (without allow_warnings) has lint warnings."""
    problems = []
    for item in items:
        if item.page is None or item.errors:
            problems.append(f"{item.path.name}: {item.errors[0] if item.errors else 'unreadable'}")
        elif item.warnings and not allow_warnings:
            problems.append(f"{item.path.name}: {len(item.warnings)} warning(s), first: {item.warnings[0]} "
                            "(use --allow-warnings)")
    return problems


def id_problems(items: list[QueueItem], index: SiteIndex | None) -> list[str]:
    """Ids used twice: among the drafts approved together, or by another page or draft of another question."""
    problems = []
    by_id: dict[int, QueueItem] = {}
    for item in items:
        page = item.page
        other = by_id.get(page.id)
        if other is not None and other.page.question != page.question:
            problems.append(f"{item.path.name}: id {page.id} is also the id of {other.path.name}, approved with it")
        by_id.setdefault(page.id, item)
        if index is None:
            continue
        for e in index.pages_with_id(page.id):
            if e.question != page.question and Path(e.path).resolve() != item.path.resolve():
                problems.append(f"{item.path.name}: id {page.id} is already used by {e.path}")
                break
    return problems
