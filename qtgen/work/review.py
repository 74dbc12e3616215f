"""The review queue: drafts are read, judged and then approved into the site's git repository,
rejected with a reason, regenerated with feedback or edited, each without losing a version.

    from qtgen import review
    for item in review.queue(config):
        print(item.path, item.status)

Every command here acts only on files inside the drafts folder (`DraftStore.resolve`).
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..config import Config
from ..errors import InputError, QtgenError
from ..format.files import inside, sweep_temps, write_atomic
from ..format.page import Page, Seo
from ..format.reader import parse, read
from ..format.slug import slug
from ..format.text import clean_line, encode_answer
from ..format.validate import Checker
from ..format.writer import render
from ..llm.client import Completion
from ..site.index import SiteIndex
from . import lint
from .draft import build_prompt, page_content, plan, published_path, strategy
from .drafts import DraftStore, History

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

    @property
    def errors(self) -> list[str]:
        return ([f"{v.field}: {v.message}" for v in self.validation if v.level == "error"]
                + [f"{f.rule} {f.name}: {f.message}" for f in self.findings if f.level == "error"])

    @property
    def warnings(self) -> list[str]:
        return ([f"{v.field}: {v.message}" for v in self.validation if v.level == "warning"]
                + [f"{f.rule} {f.name}: {f.message}" for f in self.findings if f.level == "warning"])

    def as_json(self) -> dict:
        p = self.page
        return {"path": str(self.path), "subject": p.subject if p else None, "question": p.question if p else None,
                "id": p.id if p else None, "words": self.words, "status": self.status,
                "errors": self.errors, "warnings": self.warnings,
                "revises": str(self.revises) if self.revises else None}


def assess(config: Config, path: Path, index: SiteIndex | None = None) -> QueueItem:
    """Validate and lint one draft."""
    checker = Checker(config)
    page = checker.check_file(path)
    validation = checker.report.findings
    findings = lint.lint_page(page, config, str(path), index) if page is not None else []
    revision = DraftStore(config, migrate=False).revision_of(path)
    item = QueueItem(path, page, OK, lint.words(page) if page else 0, validation, findings,
                     revision.published if revision else None)
    item.status = ERRORS if item.errors else WARNINGS if item.warnings else OK
    return item


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


# -- approve ------------------------------------------------------------------------------------
@dataclass
class Approval:
    placed: list[Path]
    commit: str | None
    message: str
    left: list = field(default_factory=list)  # with --all-clean: the drafts not approved (QueueItem)


def commit_message(pages: list[Page], reasons: list[str | None] | None = None) -> str:
    """One line saying what the commit does, then a line per page; revisions name their reason."""
    reasons = reasons or [None] * len(pages)
    revised = [(p, r) for p, r in zip(pages, reasons) if r is not None]
    new = [p for p, r in zip(pages, reasons) if r is None]
    if len(pages) == 1:
        p, reason = pages[0], reasons[0]
        if reason is not None:
            return (f"Revise: {p.question} ({reason or 'edited'})\n\nRevised with qtgen; {p.subject}, id {p.id}, "
                    f"{p.url}\n")
        return f"Publish: {p.question} ({p.subject})\n\nApproved with qtgen; id {p.id}, {p.url}\n"
    if not revised:
        head = f"Publish {len(pages)} QuickTakes pages"
    elif not new:
        head = f"Revise {len(pages)} QuickTakes pages"
    else:
        head = f"Publish {len(new)} and revise {len(revised)} QuickTakes pages"
    lines = [f"- {'revise' if r is not None else 'publish'}: {p.question} ({p.subject}, id {p.id})"
             + (f": {r}" if r else "") for p, r in zip(pages, reasons)]
    return f"{head}\n\nApproved with qtgen:\n" + "\n".join(lines) + "\n"


def _id_problems(items: list[QueueItem], index: SiteIndex | None) -> list[str]:
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


def approve(config: Config, paths: list[Path], *, index: SiteIndex | None = None, allow_warnings: bool = False,
            commit: bool = True) -> Approval:
    """Validate, lint, place in the content tree and commit exactly these files, all or nothing.

    The drafts are removed only once the commit succeeded (or, with commit=False, the files are placed).
    """
    from .revise import sha256_of

    store = DraftStore(config)
    paths = [store.resolve(str(p)) for p in paths]
    for path in paths:  # a published page edited since its revision was taken: refused before anything else
        revision = store.revision_of(path)
        if revision is not None and revision.published.is_file() and sha256_of(revision.published) != revision.sha256:
            raise QtgenError(f"not approved: {revision.published} changed since the revision was taken (someone "
                             "edited it meanwhile); revise it again")
    items = [assess(config, p, index) for p in paths]
    problems = []
    for item in items:
        if item.page is None or item.errors:
            problems.append(f"{item.path.name}: {item.errors[0] if item.errors else 'unreadable'}")
        elif item.warnings and not allow_warnings:
            problems.append(f"{item.path.name}: {len(item.warnings)} warning(s), first: {item.warnings[0]} "
                            "(use --allow-warnings)")
    if problems:
        raise QtgenError("not approved: " + "; ".join(problems))
    problems = _id_problems(items, index)
    if problems:
        raise QtgenError("not approved: " + "; ".join(problems))
    targets: list[Path] = []
    revisions = [store.revision_of(item.path) for item in items]
    for item, revision in zip(items, revisions):
        page = item.page
        target = published_path(config, slug(page.subject, config.slug_style), page.file_name)
        if not inside(target, config.content):
            raise QtgenError(f"not approved: {target} lies outside the content tree {config.content}")
        if target in targets:
            raise QtgenError(f"not approved: {target} is named twice")
        if revision is not None:
            from .revise import identity_changes

            changed = identity_changes(revision.published, page)
            if changed:
                raise QtgenError(f"not approved: {item.path.name} changes what identifies the published page "
                                 f"({', '.join(changed)}); a revision may change only the answer, description and keywords")
            if revision.published.resolve() != target.resolve():
                raise QtgenError(f"not approved: {item.path.name} revises {revision.published}, but its subject and "
                                 f"question now belong at {target}; a revision cannot move a page")
            if not target.is_file():
                raise QtgenError(f"not approved: {target}, which {item.path.name} revises, is gone")
            if sha256_of(target) != revision.sha256:
                raise QtgenError(f"not approved: {target} changed since the revision was taken (someone edited it "
                                 "meanwhile); revise it again")
        elif target.exists():
            raise QtgenError(f"not approved: {target} already exists")
        targets.append(target)
    repo = None
    if commit:
        from ..site import gitrepo

        repo = gitrepo.toplevel(config.content)
    for folder in sorted({t.parent for t in targets}):
        sweep_temps(folder, recursive=False)  # left by an approve killed mid-write
    placed: list[Path] = []
    originals: dict[Path, bytes] = {}
    try:
        for item, target, revision in zip(items, targets, revisions):
            if revision is not None:
                originals[target] = target.read_bytes()
                write_atomic(target, item.path.read_bytes(), overwrite=True)  # in place: keeps the file's mode
            else:
                write_atomic(target, item.path.read_bytes())
            placed.append(target)
        sha = None
        message = commit_message([i.page for i in items],
                                 [None if r is None else (r.reason or "") for r in revisions])
        if commit:
            sha = gitrepo.commit_only(repo, placed, message)
    except BaseException:
        for target in placed:  # all or nothing: the drafts stay, the content tree is as it was
            if repo is not None:
                gitrepo.unstage(repo, [target])
            if target in originals:
                write_atomic(target, originals[target], overwrite=True)
            else:
                target.unlink(missing_ok=True)
        raise
    for item in items:
        item.path.unlink()  # its versions stay in the history
        store.unmark_revision(item.path)
        unsaved_edit(item.path).unlink(missing_ok=True)
    return Approval(placed, sha, message)


def approve_names(config: Config, names: list[str], *, all_clean: bool = False, index: SiteIndex | None = None,
                  allow_warnings: bool = False, commit: bool = True) -> Approval | None:
    """`qtgen approve`: the named drafts and, with all_clean, every draft without a finding."""
    from .drafts import draft_paths_in

    store = DraftStore(config)
    paths = draft_paths_in(store, names)
    left: list[QueueItem] = []
    if all_clean:
        waiting = queue(config, index)
        paths += [i.path for i in waiting if i.status == OK and i.path not in paths]
        left = [i for i in waiting if i.path not in paths]
    if not paths:
        return Approval([], None, "", left) if left else None
    result = approve(config, paths, index=index, allow_warnings=allow_warnings, commit=commit)
    result.left = left
    return result


# -- reject -------------------------------------------------------------------------------------
def reject(config: Config, name: str, reason: str) -> Path:
    """Move a draft to drafts/rejected/<subject-slug>/ and keep the reason beside it."""
    store = DraftStore(config)
    return store.reject(store.resolve(name), reason)


# -- versions -----------------------------------------------------------------------------------
def readable(page: Page) -> list[str]:
    """A page as lines a reviewer can compare: the SEO fields, then the decoded answer."""
    return [f"description: {page.seo.page_description}", f"keywords: {page.seo.page_keywords}", "",
            *page.decoded_answer().split("\n")]


def history_of(config: Config, name: str) -> History:
    store = DraftStore(config)
    return store.history(store.resolve(name))


def diff(config: Config, name: str, against: int | None = None) -> str:
    """What changed from version `against` to the draft; by default from the latest version unlike it, or,
    for a revision, from the published page it revises."""
    history = history_of(config, name)
    path = history.draft
    current = path.read_text(encoding="utf-8")
    revision = DraftStore(config, migrate=False).revision_of(path)
    if against is None and revision is not None:
        from .revise import published_diff

        return published_diff(config, path, revision)
    if against is not None:
        old = history.get(against)
    else:
        earlier = [v for v in history.versions() if v.text() != current]
        if not earlier:
            raise QtgenError(f"{path.name}: no previous version (made by regenerate or edit)")
        old = earlier[-1]
    lines = difflib.unified_diff(readable(parse(old.text())), readable(parse(current)),
                                 f"{path.name} (version {old.number}, {old.made_by})", f"{path.name} (now)", lineterm="")
    return "\n".join(lines)


def save_checked(config: Config, path: Path, page: Page, made_by: str, feedback: str | None = None) -> list:
    """Write a changed draft only if it validates; every earlier version is kept."""
    text = render(page)
    checker = Checker(config)
    checker.check_text(text, str(path), path=path)
    errors = [f for f in checker.report.findings if f.level == "error"]
    if errors:
        raise QtgenError(f"not saved: {errors[0].field}: {errors[0].message}")
    DraftStore(config, migrate=False).history(path).save(text, made_by, feedback)
    return checker.report.findings


def revert(config: Config, name: str, to: int | None = None) -> tuple[Path, int]:
    """Restore an earlier version (default: the latest unlike the draft) as a new version; (path, version)."""
    history = history_of(config, name)
    path = history.draft
    current = path.read_text(encoding="utf-8")
    if to is None:
        earlier = [v for v in history.versions() if v.text() != current]
        if not earlier:
            raise QtgenError(f"{path.name}: no earlier version to revert to")
        version = earlier[-1]
    else:
        version = history.get(to)
    history.save(version.text(), f"revert to {version.number}")
    return path, version.number


# -- regenerate ---------------------------------------------------------------------------------
@dataclass
class Regeneration:
    path: Path
    page: Page
    completion: Completion
    notes: list[str]


def regenerated(config: Config, page: Page, completion: Completion) -> tuple[Page, list[str]]:
    """The page with the model's new answer and SEO fields; id, slug, date and related articles kept."""
    answer, page_seo, notes = page_content(config, completion, page.question, page.subject)
    return page.model_copy(update={"answer": answer, "seo": page_seo.model_copy(update={"title": page.seo.title})}), notes


def regenerate(config: Config, name: str, feedback: str, *, notify: Callable[[str], None] = lambda m: None,
               on_wait: Callable[[float, Exception], None] | None = None) -> Regeneration:
    """Ask the model again with the previous answer and the reviewer's feedback."""
    from ..llm.backend import open_client

    store = DraftStore(config)
    path = store.resolve(name)
    before = path.read_bytes()
    page = read(path)
    feedback = clean_line(feedback or "")
    if not feedback:
        raise InputError("--feedback: say what should change")
    p = plan(config, page.question, page.subject, force=True)
    with open_client(config, notify=notify, on_wait=on_wait) as client:
        prompt = build_prompt(config, p, user_template="regenerate.j2", feedback=feedback,
                              previous_answer=page.decoded_answer(), **strategy(client))
        completion = client.complete(prompt.messages())
    new, notes = regenerated(config, page, completion)
    if not path.is_file() or path.read_bytes() != before:  # edited, approved or rejected while the model wrote
        history = store.history(path)
        history.record(render(new), "regenerate (not applied: the draft changed meanwhile)", feedback)
        raise QtgenError(f"{path.name}: the draft changed while the model was writing; nothing overwritten "
                         f"(the regenerated answer is kept as a version: qtgen history {name})")
    save_checked(config, path, new, "regenerate", feedback)
    return Regeneration(path, new, completion, notes)


# -- edit ---------------------------------------------------------------------------------------
EDIT_HEADER = ("# Edit the description, keywords and answer; lines starting with # are ignored.\n"
               "# The answer is Markdown below the --- line. Save and close to apply; empty the file to cancel.\n")


def to_editable(page: Page) -> str:
    return (EDIT_HEADER + f"description: {page.seo.page_description}\nkeywords: {page.seo.page_keywords}\n---\n"
            + page.decoded_answer() + "\n")


_FIELD = re.compile(r"^(description|keywords):\s*(.*)$")


def from_editable(page: Page, text: str) -> Page | None:
    """The page with the edited fields; None if the file was emptied (cancel)."""
    if not text.strip():
        return None
    head, sep, body = text.partition("\n---\n")
    if not sep:
        raise InputError("edit: the '---' line between the fields and the answer is missing; nothing saved")
    values = {}
    for line in head.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = _FIELD.match(line)
        if not m:
            raise InputError(f"edit: unexpected line {line[:60]!r}; nothing saved")
        values[m.group(1)] = clean_line(m.group(2))
    answer = encode_answer(body)
    if not answer:
        raise InputError("edit: the answer is empty; nothing saved")
    seo_fields = Seo(title=page.seo.title, page_description=values.get("description", page.seo.page_description),
                     page_keywords=values.get("keywords", page.seo.page_keywords))
    return page.model_copy(update={"answer": answer, "seo": seo_fields})


def env_editor() -> list[str]:
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    return shlex.split(editor)


@dataclass
class Edit:
    path: Path
    outcome: str  # "saved", "cancelled", "unchanged"


def _without_notice(typed: str) -> str:
    return "\n".join(line for line in typed.split("\n") if not line.startswith("# not saved:"))


def unsaved_edit(path: Path) -> Path:
    """Where an edit that could not be saved is kept, beside the draft (not a page: `.edit.txt`)."""
    return path.with_name(path.name + ".edit.txt")


def edit(config: Config, name: str, editor: list[str] | None = None) -> Edit:
    """Open an editor on the decoded answer and SEO fields; saved back in the exact format if it validates.

    An edit that cannot be saved is never lost: it is kept beside the draft with the reason on top,
    and the next `edit` opens it again.
    """
    path = DraftStore(config).resolve(name)
    page = read(path)
    editor = editor or env_editor()
    kept = unsaved_edit(path)
    start = kept.read_text(encoding="utf-8") if kept.is_file() else to_editable(page)
    with tempfile.TemporaryDirectory(prefix="qtgen-edit-") as tmp:
        work = Path(tmp) / (path.stem + ".edit.md")
        work.write_text(start, encoding="utf-8")
        try:
            rc = subprocess.call([*editor, str(work)])
        except FileNotFoundError:
            raise InputError(f"editor {editor[0]!r} not found: set EDITOR") from None
        typed = work.read_text(encoding="utf-8")
        if rc != 0:
            if typed != start:
                write_atomic(kept, f"# not saved: the editor exited with {rc}\n" + _without_notice(typed), overwrite=True)
                raise QtgenError(f"editor exited with {rc}; nothing saved; what you typed is kept in {kept}")
            raise QtgenError(f"editor exited with {rc}; nothing saved")
    try:
        new = from_editable(page, typed)
        if new is None:
            kept.unlink(missing_ok=True)
            return Edit(path, "cancelled")
        if new == page:
            kept.unlink(missing_ok=True)
            return Edit(path, "unchanged")
        save_checked(config, path, new, "edit")
    except QtgenError as exc:
        reason = str(exc).splitlines()[0]
        write_atomic(kept, f"# not saved: {reason.removeprefix('not saved: ')}\n" + _without_notice(typed),
                     overwrite=True)
        raise QtgenError(f"{reason}; what you typed is kept in {kept} and `qtgen edit` reopens it",
                         exc.exit_code) from None
    kept.unlink(missing_ok=True)
    return Edit(path, "saved")
