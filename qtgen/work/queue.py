"""The review queue: every draft waiting for a decision, validated and linted.

    from qtgen.work import queue
    for item in queue.queue(config):
        print(item.path, item.status)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Config
from ..format.page import Page
from ..format.slug import slug
from ..format.validate import KEPT, Checker
from ..site.index import SiteIndex
from . import lint
from .drafts import DraftStore

OK, WARNINGS, ERRORS = "ok", "warnings", "errors"


@dataclass
class QueueItem:
    """One draft in the queue, with what a reviewer needs to decide."""

    path: Path
    page: Page | None
    status: str
    words: int = 0
    validation: list = field(default_factory=list)
    findings: list = field(default_factory=list)
    revises: Path | None = None  # the published page a revision would replace
    data: bytes | None = None  # the exact bytes that were checked

    @property
    def errors(self) -> list[str]:
        return ([f"{v.field}: {v.message}" for v in self.validation if v.level == "error"]
                + [f"{f.rule} {f.name}: {f.message}" for f in self.findings if f.level == "error"])

    @property
    def warnings(self) -> list[str]:
        return ([f"{v.field}: {v.message}" for v in self.validation if v.level == "warning"]
                + [f"{f.rule} {f.name}: {f.message}" for f in self.findings if f.level == "warning"])

    @property
    def kept(self) -> list[str]:
        """Problems of values a revision keeps from its published page: shown, never blocking."""
        return ([f"{v.field}: {v.message}" for v in self.validation if v.level == KEPT]
                + [f"{f.rule} {f.name}: {f.message}" for f in self.findings if f.level == KEPT])

    def as_json(self) -> dict:
        p = self.page
        return {"path": str(self.path), "subject": p.subject if p else None, "question": p.question if p else None,
                "id": p.id if p else None, "words": self.words, "status": self.status,
                "errors": self.errors, "warnings": self.warnings, "kept": self.kept,
                "revises": str(self.revises) if self.revises else None}


def assess(config: Config, path: Path, index: SiteIndex | None = None, data: bytes | None = None) -> QueueItem:
    """Validate and lint one draft: the file as it is now, or exactly `data` (the bytes approve will place)."""
    store = DraftStore(config, migrate=False)
    checker = Checker(config, published=store.published_of(path))
    if data is None:
        try:
            data = Path(path).read_bytes()
        except OSError:
            data = None
    page = checker.check_file(path) if data is None else checker.check_bytes(data, str(path))
    validation = checker.report.findings
    findings = lint.lint_page(page, config, str(path), index) if page is not None else []
    published = checker.published
    if page is not None and published is not None:
        findings = [_kept(f, page, published) for f in findings]
    revision = store.revision_of(path)
    item = QueueItem(path, page, OK, lint.words(page) if page else 0, validation, findings,
                     revision.published if revision else None, data)
    item.status = ERRORS if item.errors else WARNINGS if item.warnings else OK
    return item


# the fields each rule reads (the rest read the answer): a finding is "kept" only if all of them are
_READS = {"QT008": ("answer", "description", "keywords"), "QT009": ("description",), "QT021": ("description",),
          "QT010": ("keywords",), "QT020": ("keywords",), "QT011": ("question",), "QT022": ("answer", "question")}
_FIELD = {"answer": lambda p: p.answer, "description": lambda p: p.seo.page_description,
          "keywords": lambda p: p.seo.page_keywords, "question": lambda p: p.question}
_FIXED_BY = {"QT009": "qtgen fix --rule QT009 repairs it", "QT012": "qtgen fix --rule QT012 repairs it",
             "QT006": "qtgen fix --rule QT006 repairs it"}


def _kept(finding, page: Page, published: Page):
    """A finding on values a revision keeps as they were published is shown, not counted against the revision:
    the revision does not make it worse, and blocking it would block every edit of the page (1,721 of 1,722
    pages of a real site have a description over 117 characters). Said with the command that repairs it, if any."""
    reads = _READS.get(finding.rule, ("answer",))
    if any(_FIELD[f](page) != _FIELD[f](published) for f in reads):
        return finding
    hint = _FIXED_BY.get(finding.rule, "a revision need not fix it")
    return dataclasses.replace(finding, level=KEPT, message=f"{finding.message} (kept from the published page; {hint})")


def queue(config: Config, index: SiteIndex | None = None, subject: str | None = None,
          status: str | None = None) -> list[QueueItem]:
    """The drafts waiting for a decision (rejected ones and qtgen's own files excluded)."""
    items = []
    for path in DraftStore(config).drafts():
        item = assess(config, path, index)
        if subject and (item.page is None or slug(item.page.subject) != slug(subject)):
            continue
        if status and item.status != status:
            continue
        items.append(item)
    return items
