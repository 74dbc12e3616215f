"""The review queue: every draft waiting for a decision, validated and linted.

    from qtgen.drafts import queue
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
from ..errors import ParseError
from ..format.reader import parse
from ..format.validate import KEPT, Checker, Violation
from ..site.index import SiteIndex
from ..checks import lint
from .folder import DraftStore

OK, WARNINGS, ERRORS = "ok", "warnings", "errors"


_UNPARSED = object()


@dataclass
class QueueItem:
    """One draft in the queue, with what a reviewer needs to decide."""

    path: Path
    status: str
    words: int = 0
    validation: list = field(default_factory=list)
    findings: list = field(default_factory=list)
    revises: Path | None = None  # the published page a revision would replace
    data: bytes | None = None  # the exact bytes that were checked
    subject: str | None = None
    question: str | None = None
    id: int | None = None
    readable: bool = True  # whether the bytes hold a page at all
    no_index: bool = False  # the page asks search engines not to index it
    _page: object = field(default=_UNPARSED, repr=False)

    @property
    def page(self) -> Page | None:
        """The draft as a Page (parsed from the checked bytes when first asked: a listing from stored assessments
        parses nothing); None if it holds no page."""
        if self._page is _UNPARSED:
            self._page = None
            if self.readable and self.data is not None:
                try:
                    self._page = parse(self.data.decode("utf-8"))
                except (UnicodeDecodeError, ParseError):
                    self._page = None
        return self._page  # type: ignore[return-value]

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

    def settle(self) -> None:
        self.status = ERRORS if self.errors else WARNINGS if self.warnings else OK

    def as_json(self) -> dict:
        return {"path": str(self.path), "subject": self.subject, "question": self.question,
                "id": self.id, "words": self.words, "status": self.status,
                "errors": self.errors, "warnings": self.warnings, "kept": self.kept,
                "revises": str(self.revises) if self.revises else None}

    # -- stored assessments -------------------------------------------------------------------
    def stored(self) -> dict:
        """What a stored assessment keeps (never QT011: it depends on the other pages)."""
        return {"status": self.status, "words": self.words, "readable": self.page is not None,
                "subject": self.subject, "question": self.question, "id": self.id, "no_index": self.no_index,
                "validation": [[v.field, v.level, v.message] for v in self.validation],
                "findings": [[f.rule, f.name, f.level, f.message] for f in self.findings if f.rule != lint.DUPLICATE.id]}

    @classmethod
    def from_stored(cls, path: Path, data: bytes, revises: Path | None, stored: dict) -> "QueueItem":
        name = str(path)
        return cls(path, stored["status"], stored["words"],
                   [Violation(name, f, level, m) for f, level, m in stored["validation"]],
                   [lint.Finding(name, r, n, level, m) for r, n, level, m in stored["findings"]],
                   revises, data, stored["subject"], stored["question"], stored["id"], stored["readable"],
                   bool(stored.get("no_index")))


def _read(path: Path) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except OSError:
        return None


def assess(config: Config, path: Path, index: SiteIndex | None = None, data: bytes | None = None,
           *, store: DraftStore | None = None, published: Page | None | object = _UNPARSED) -> QueueItem:
    """Validate and lint one draft: the file as it is now, or exactly `data` (the bytes approve will place).
    Without an index, QT011 (a question another page asks) is not checked."""
    store = store or DraftStore(config, migrate=False)
    revision = store.revision_of(path)
    if published is _UNPARSED:
        published = store.published_of(path)
    checker = Checker(config, published=published)  # type: ignore[arg-type]
    if data is None:
        data = _read(path)
    page = checker.check_file(path) if data is None else checker.check_bytes(data, str(path))
    validation = checker.report.findings
    findings = lint.lint_page(page, config, str(path), index) if page is not None else []
    if page is not None and checker.published is not None:
        findings = [_kept(f, page, checker.published) for f in findings]
    item = QueueItem(path, OK, lint.words(page) if page else 0, validation, findings,
                     revision.published if revision else None, data,
                     page.subject if page else None, page.question if page else None, page.id if page else None,
                     page is not None, bool(page and page.no_index), page)
    item.settle()
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
    """The drafts waiting for a decision (rejected ones and qtgen's own files excluded).

    Each draft is assessed once per content: a stored assessment is used while its bytes, its published page,
    the settings and the rules are the same (`assessments`). QT011 is then checked for all of them at once."""
    from ..checks import pool

    store = DraftStore(config)
    paths = store.drafts()
    if not paths:
        return []
    # QT011 for every draft at once (one sparse product over the index), found while the workers assess
    duplicate = index is not None and any(r.id == lint.DUPLICATE.id for r in lint.active_rules(config))
    matches = pool.Beside(lambda: index.matches_of([str(p) for p in paths], config.similar_threshold)) \
        if duplicate else None
    items = _assessed(config, store, paths)
    if subject:
        items = [i for i in items if i.subject is not None and slug(i.subject) == slug(subject)]
    if matches is not None:
        _duplicates(config, index, items, matches.result())
    if status:
        items = [i for i in items if i.status == status]
    return items


def remember(config: Config, drafts: list[Path]) -> int:
    """Assess these drafts now and keep what is found, as the queue keeps it: the first listing after a command
    that made many (revise, fix) then reads their findings instead of checking each. How many were assessed."""
    import sqlite3

    from ..errors import QtgenError

    if not drafts:
        return 0
    try:
        store = DraftStore(config, migrate=False)
        wanted = {store.key_of(Path(d)) for d in drafts}
        chosen = [p for p in store.drafts() if store.key_of(p) in wanted]  # named as the queue names them
        return len(_assessed(config, store, chosen)) if chosen else 0
    except (QtgenError, OSError, sqlite3.Error):  # only a head start: the drafts are written, the queue finds
        return 0  # their findings itself


def _assessed(config: Config, store: DraftStore, paths: list[Path]) -> list[QueueItem]:
    """Each draft as the queue shows it (all but QT011): stored assessments where their key is known, the others
    assessed afresh on every core, and kept."""
    from ..checks.findings import Assessments, fingerprint, key_of

    stamp = fingerprint(config)
    wanted: list[tuple[Path, bytes | None, Path | None, str | None, bytes | None]] = []
    for path in paths:
        data = _read(path)
        revision = store.revision_of(path)
        published = _read(revision.published) if revision else None
        key = key_of(stamp, str(path), data, published) if data is not None else None
        wanted.append((path, data, revision.published if revision else None, key, published))
    with Assessments.opened(config) as cache:
        stored = cache.get_many([w[3] for w in wanted if w[3]])
        # what is assessed afresh is exactly what was hashed: the draft's bytes and its published page's
        missing = [(str(path), data, published) for path, data, _, key, published in wanted if key not in stored]
        assessed = dict(zip((m[0] for m in missing), _assess_fresh(config, missing)))
        items, fresh = [], {}
        for path, data, revises, key, _ in wanted:
            if key in stored:
                items.append(QueueItem.from_stored(path, data, revises, stored[key]))
                continue
            found = assessed[str(path)]
            if key is not None:
                fresh[key] = found
            items.append(QueueItem.from_stored(path, data, revises, found))
        cache.put_many(fresh)
        cache.touch([k for k in stored])
    return items


PARALLEL_FROM = 200  # drafts to assess afresh before the work is shared among the machine's cores


def _assess_stored(config: Config, missing: list[tuple[str, bytes | None, bytes | None]]) -> list[dict]:
    store = DraftStore(config, migrate=False)
    out = []
    for name, data, published in missing:
        page = None
        if published is not None:
            try:
                page = parse(published.decode("utf-8"))
            except (UnicodeDecodeError, ParseError):
                page = None
        out.append(assess(config, Path(name), None, data, store=store, published=page).stored())
    return out


def _assess_fresh(config: Config, missing: list[tuple[str, bytes | None, bytes | None]],
                  workers: int | None = None) -> list[dict]:
    """What `assess` finds in each of these drafts (as stored), shared among processes when there are many."""
    from ..checks import pool

    return pool.map_items(_assess_stored, config, missing, least=PARALLEL_FROM, smallest=25, processes=workers)


def _duplicates(config: Config, index: SiteIndex, items: list[QueueItem], known: dict) -> None:
    """QT011 for every item, as `lint_page` would find it, from the index's matches of their paths (`known`)."""
    rule = next(r for r in lint.active_rules(config) if r.id == lint.DUPLICATE.id)
    readable = [i for i in items if i.readable and i.question is not None]
    for item in readable:
        matches = known.get(str(item.path))
        if matches is None:  # not (yet) in the index: searched alone
            matches = index.similar(item.question, limit=3, threshold=config.similar_threshold)
        message = lint.duplicate_message(item.question, matches)
        if not message:
            continue
        finding = lint.Finding(str(item.path), rule.id, rule.name, rule.level, message)
        if item.revises is not None and _published_question(index, item) == item.question:
            finding = dataclasses.replace(finding, level=KEPT, message=f"{message} (kept from the published page; "
                                          f"{_FIXED_BY.get(rule.id, 'a revision need not fix it')})")  # as `_kept`
        item.findings.append(finding)
        item.settle()


def _published_question(index: SiteIndex, item: QueueItem) -> str | None:
    """The question of the page a revision replaces, as the index holds it (read from the file if it does not)."""
    for entry in index.pages_at(str(item.revises)):
        return entry.question
    try:
        return parse(Path(item.revises).read_bytes().decode("utf-8")).question
    except (OSError, UnicodeDecodeError, ParseError):
        return None
