"""What an approval does to the site and the queue, step by step, shared by approve and recovery: the commit
message qtgen builds (and only it), the commit, the drafts leaving the queue, an undo, and what is recorded once
the pages are published (reviewers' decisions, a lot's state), all driven by the approval's journal so that a
process killed at any step leaves nothing half recorded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..config import Config
from ..errors import QtgenError
from ..format.files import write_atomic
from ..format.page import Page
from ..format.plaintext import one_line
from ..site import gitrepo
from . import provenance
from ..drafts.folder import DraftStore
from .journal import Journal
from .journal import sha as _sha
from ..judging.gate import override_line

TRAILER = "Qtgen-Approval"
REVIEWED_BY = "Reviewed-by"  # who approved: the publisher, beside qtgen's committer


def lock_path(config: Config, repo: Path | None) -> Path:
    """The site's approval lock: in the repository's git folder (or qtgen's own folder without git)."""
    return (gitrepo.git_dir(repo) if repo is not None else config.state()) / "qtgen-approve.lock"


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


def message_for(config: Config, store: DraftStore, items: list, targets: list[Path], revisions: list,
                override: str | None, lot: str | None, unread: int = 0, reviewer: str | None = None) -> tuple[str, list[dict]]:
    """The commit message of an approval, built from the drafts themselves (never taken from a file), and what made
    each page; the same function builds it when an interrupted approval is finished."""
    from ..judging.gate import judge_gate

    message = commit_message([i.page for i in items], [None if r is None else (r.reason or "") for r in revisions])
    overridden = judge_gate(config, items) if override is not None else []
    if overridden:
        message += "\n" + override_line(override) + "\n" + "".join(f"- {one_line(p)}\n" for p in overridden)
    if lot is not None:
        from .lots import status

        message += "\n" + one_line(status(config, lot).summary() + f"; published unread: {unread or len(items)}") + "\n"
    made = provenance.made_records(config, store, items)
    message += "\n" + "".join(line + "\n" for item, target, record in zip(items, targets, made)
                              for line in provenance.trailers(str(target.relative_to(config.content)),
                                                              record, record.get("judgment"), item.data))
    if lot is not None:
        message += f"Qtgen-Lot: {one_line(lot)}\n"
    if reviewer:
        message += f"{REVIEWED_BY}: {one_line(reviewer, 200)}\n"
    return message, made


def with_trailer(message: str, line: str) -> str:
    """The message with one more trailer: in its last paragraph if that holds trailers already, else a new one."""
    body = message.rstrip("\n")
    last = body.rsplit("\n\n", 1)[-1]
    if last and all(": " in x and x.split(": ", 1)[0].replace("-", "").isalnum() for x in last.split("\n")):
        return body + "\n" + line + "\n"
    return body + "\n\n" + line + "\n"


def commit_pages(repo: Path, placed: list[Path], data: list[bytes], message: str, before: Callable[[], None]) -> str:
    """Commit the placed pages. If another commit took some meanwhile (the user's own `git commit` of what was
    staged), those are published already: only the rest is committed, and none is ever undone."""
    try:
        return gitrepo.commit_only(repo, placed, message, before=before)
    except QtgenError:
        pending = [t for t, d in zip(placed, data) if not gitrepo.committed_as(repo, t, d)]
        if len(pending) == len(placed):
            raise
        if not pending:
            return gitrepo.head(repo) or ""
        return gitrepo.commit_only(repo, pending, message)


def finish_drafts(store: DraftStore, journal: Journal) -> list[str]:
    """The approved drafts leave the queue (their versions stay in the history); one changed since stays.
    Runs after the commit, so it never raises: what it cannot do is said."""
    notes = []
    for entry in journal.entries:
        try:
            path = journal.draft_path(entry)
            if _sha(path.read_bytes()) != entry.draft_sha:
                notes.append(f"{entry.draft} changed after it was approved: kept in the queue")
                continue
            path.unlink()
            store.unmark_revision(path)
            # unlinking a symlink removes the link, never what it points to
            path.with_name(path.name + ".edit.txt").unlink(missing_ok=True)
        except FileNotFoundError:
            continue
        except (OSError, QtgenError) as exc:
            notes.append(f"{entry.draft}: approved, but could not be taken out of the queue ({exc})")
    return notes


def undo(config: Config, journal: Journal, repo: Path | None, targets: list[Path]) -> list[str]:
    """Put back what this approval placed: a page it replaced gets its bytes back, a new page goes. A page that
    HEAD holds with the approved bytes (committed meanwhile by another commit) is published and stays; a file
    that changed since is left as it is, but unstaged; nothing is deleted that git could not unstage.
    Returns what could not be undone."""
    left = []
    by_target = {journal.target_path(e): e for e in journal.entries}
    for target in targets:
        entry = by_target[target]
        try:
            current = target.read_bytes()
        except FileNotFoundError:
            current = None
        ours = current is not None and _sha(current) == entry.draft_sha
        if repo is not None and gitrepo.tracked(repo, target):
            if ours and gitrepo.committed_as(repo, target, current):
                continue  # published by another commit meanwhile: nothing to undo
            staged_ours = gitrepo.staged_sha256(repo, target) == entry.draft_sha
            if (ours or staged_ours) and not gitrepo.unstage(repo, [target]):
                left.append(f"{target}: git could not unstage it, so it was left in place (staged)")
                continue
        if not ours:
            continue  # changed since: left as it is
        original = journal.original_bytes(entry)
        if original is not None:
            write_atomic(target, original, overwrite=True, within=config.content)
        else:
            target.unlink(missing_ok=True)
    return left


def after_published(config: Config, journal: Journal, sha: str | None) -> None:
    """What an approval records once its pages are published, exactly once, from its journal: each reviewer's
    decision (kept for `judge calibrate` and a lot's audit) and a lot's state. Recovery calls it too, so a
    process killed between the commit and these records leaves none of them out."""
    from ..judging.calibration import APPROVE, record

    for decided in journal.data.get("decisions") or []:
        try:
            path = journal.config.drafts / decided["draft"]
            record(config, path, None, decided.get("subject"), decided.get("question"), APPROVE,
                   sha=decided["data_sha"], once_since=journal.data.get("started_at"),
                   by=one_line(decided["by"], 200) if isinstance(decided.get("by"), str) else None)
        except (KeyError, TypeError):
            continue
    lot = journal.data.get("lot")
    if isinstance(lot, str) and lot:
        from .lots import mark_published

        reviewer = journal.data.get("reviewer")
        mark_published(config, lot, sha, one_line(reviewer, 200) if isinstance(reviewer, str) else None)
