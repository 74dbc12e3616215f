"""Approve: drafts into the site's content tree and its git history, as one transaction.

    from qtgen.work import approval
    result = approval.approve(config, [Path("drafts/physics/what-is-entropy.md")])

- **What is checked is what is published.** Each draft is read once; those bytes are validated, linted and
  placed, and approve refuses if the file changed meanwhile.
- **One at a time.** Approvals of one site take turns (a lock in the repository's git folder, waited for
  with a message and a timeout), and no regenerate, edit or reject of a draft runs during an approval
  (the drafts lock): a regeneration that finishes meanwhile finds its draft gone and keeps its answer as
  a version.
- **A crash never leaves the site half-changed.** Before it touches the content tree, approve writes a
  journal (`drafts/.qtgen/approvals/<id>.json`: each draft's and target's sha256, and a copy of every
  page it replaces); its commit carries the trailer `Qtgen-Approval: <id>`. A process killed at any step
  leaves the journal behind; the next qtgen command (`recover`) finishes that approval, so the pages are
  committed exactly once and the drafts leave the queue, or, where a draft or a page changed since,
  undoes it and keeps the drafts; it says which. Undo never deletes a file it could not unstage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..config import Config
from ..errors import QtgenError
from ..format.files import inside, sweep_temps, write_atomic
from ..format.page import Page
from ..format.slug import slug
from ..locks import Lock, try_lock
from ..site import gitrepo
from ..site.index import SiteIndex
from . import provenance
from .draft import published_path
from .drafts import DraftStore
from .journal import Entry, Journal
from .journal import sha as _sha
from .judge_gate import judge_gate, override_line, refused_by_judge  # noqa: F401 - part of approve's API
from .queue import OK, QueueItem, assess, queue

TRAILER = "Qtgen-Approval"

Notify = Callable[[str], None]


@dataclass
class Approval:
    placed: list[Path]
    commit: str | None
    message: str
    left: list = field(default_factory=list)  # with --all-clean: the drafts not approved (QueueItem)
    left_why: dict = field(default_factory=dict)  # str(path) -> why a clean draft was left (judge gate, open lot)
    recovered: list[str] = field(default_factory=list)  # what was done about earlier interrupted approvals


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


# -- locks ------------------------------------------------------------------------------------------
def _lock_path(config: Config, repo: Path | None) -> Path:
    return (gitrepo.git_dir(repo) if repo is not None else config.state()) / "qtgen-approve.lock"


def site_lock(config: Config, repo: Path | None, notify: Notify | None = None) -> Lock:
    """Held for a whole approval: two reviewers (or the CLI and the studio) approve one after the other."""
    return Lock(_lock_path(config, repo), "another approval of this site", timeout=config.lock_timeout, notify=notify)


# -- approve ----------------------------------------------------------------------------------------
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


UNCHANGED = ("is the published page byte for byte: nothing to publish (edit or regenerate it, or reject it to "
             "take it out of the queue)")


def unchanged(store: DraftStore, path: Path) -> bool:
    """Whether a revision is still its published page, byte for byte."""
    revision = store.revision_of(path)
    try:
        return revision is not None and path.read_bytes() == revision.published.read_bytes()
    except OSError:
        return False


def _checked(config: Config, store: DraftStore, paths: list[Path], index: SiteIndex | None,
             allow_warnings: bool, override: str | None = None) -> tuple[list[QueueItem], list[Path], list]:
    """Each draft read once and judged on those bytes; (items, targets, revisions) or QtgenError."""
    from .duplicates import DUPLICATES, marks_only_no_index
    from .revise import identity_changes, sha256_of

    for path in paths:
        if not path.is_file():
            raise QtgenError(f"not approved: {path.name} is no longer in the queue (approved, rejected or moved "
                             "meanwhile)")
    revisions = [store.revision_of(p) for p in paths]
    for revision in revisions:  # a published page edited since its revision was taken: refused first
        if revision is not None and revision.published.is_file() and sha256_of(revision.published) != revision.sha256:
            raise QtgenError(f"not approved: {revision.published} changed since the revision was taken (someone "
                             "edited it meanwhile); revise it again")
    items = [assess(config, p, index, data=p.read_bytes()) for p in paths]
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
    problems = judge_gate(config, items)
    if problems and not override:
        raise QtgenError("not approved: " + "; ".join(problems) + " ([judge] gate: judge a draft with qtgen judge; "
                         "one the judge failed needs a better version, or a reason to publish it anyway: approve "
                         "--override \"reason\", or the reason box in the studio)")
    targets: list[Path] = []
    for item, revision in zip(items, revisions):
        page = item.page
        target = published_path(config, slug(page.subject, config.slug_style), page.file_name)
        if not inside(target, config.content):
            raise QtgenError(f"not approved: {target} lies outside the content tree {config.content}")
        if target in targets:
            raise QtgenError(f"not approved: {target} is named twice")
        if revision is not None:
            changed = identity_changes(revision.published, page, item.data,
                                       may_mark_no_index=DUPLICATES in revision.rules)
            if changed:
                raise QtgenError(f"not approved: {item.path.name} changes what identifies the published page "
                                 f"({', '.join(changed)}); a revision may change only the answer, description and keywords")
            if DUPLICATES in revision.rules and not marks_only_no_index(revision.published, item.data):
                raise QtgenError(f"not approved: {item.path.name} marks a duplicate no_index and changes more; a "
                                 "duplicate's revision adds no_index: True and nothing else (revert it, or reject it "
                                 "and make a plain revision for other edits)")
            if revision.published.resolve() != target.resolve():
                raise QtgenError(f"not approved: {item.path.name} revises {revision.published}, but its subject and "
                                 f"question now belong at {target}; a revision cannot move a page")
            if not target.is_file():
                raise QtgenError(f"not approved: {target}, which {item.path.name} revises, is gone")
            if sha256_of(target) != revision.sha256:
                raise QtgenError(f"not approved: {target} changed since the revision was taken (someone edited it "
                                 "meanwhile); revise it again")
            if target.read_bytes() == item.data:
                raise QtgenError(f"not approved: {item.path.name} {UNCHANGED}")
        elif target.exists() or target.is_symlink():
            raise QtgenError(f"not approved: {target} already exists")
        targets.append(target)
    return items, targets, revisions


def approve(config: Config, paths: list[Path], *, index: SiteIndex | None = None, allow_warnings: bool = False,
            commit: bool = True, notify: Notify | None = None, override: str | None = None,
            note: str | None = None, expect: dict[str, str] | None = None, trailers: list[str] | None = None,
            unread: set[Path] | frozenset = frozenset()) -> Approval:
    """Validate, lint, place in the content tree and commit exactly these files, all or nothing.

    The drafts are removed only once the commit succeeded (or, with commit=False, the files are placed). With
    `expect` (str(path) -> sha256), only if each draft still holds exactly those bytes (an audited lot's). Each
    approval is a reviewer's decision (kept for `judge --calibrate`) but those of `unread` drafts and of a lot.
    """
    config.require_site("approve publishes into a site, but there is")
    store = DraftStore(config)
    paths = [store.resolve(str(p)) for p in paths]
    repo = gitrepo.toplevel(config.content) if commit else None
    with site_lock(config, repo, notify):
        recovered = _recover_held(config, repo)
        with store.lock(notify):
            items, targets, revisions = _checked(config, store, paths, index, allow_warnings, override)
            for item in items:
                want = (expect or {}).get(str(item.path))
                if want is not None and _sha(item.data) != want:
                    raise QtgenError(f"not approved: {item.path.name} changed since its lot was drawn; nothing published "
                                     "(it waits for its own review)")
            message = commit_message([i.page for i in items],
                                     [None if r is None else (r.reason or "") for r in revisions])
            overridden = judge_gate(config, items) if override is not None else []
            if overridden:
                message += "\n" + override_line(override) + "\n" + "".join(f"- {p}\n" for p in overridden)
            if note:
                message += "\n" + note.rstrip("\n") + "\n"
            made = provenance.made_records(config, store, items)
            message += "\n" + "".join(line + "\n" for item, target, record in zip(items, targets, made)
                                      for line in provenance.trailers(str(target.relative_to(config.content)),
                                                                      record, record.get("judgment")))
            message += "".join(line + "\n" for line in trailers or [])
            for folder in sorted({t.parent for t in targets}):
                sweep_temps(folder, recursive=False)  # left by an approve killed mid-write
            originals = [t.read_bytes() if r is not None else None for t, r in zip(targets, revisions)]
            journal = Journal.begin(config, commit, message,
                                    [(i.path, i.data, t, o) for i, t, o in zip(items, targets, originals)])
            message = with_trailer(message, f"{TRAILER}: {journal.id}")
            placed: list[Path] = []

            def unchanged() -> None:  # an editor outside qtgen saved meanwhile: what was checked is not the draft
                for item in items:
                    if item.path.read_bytes() != item.data:
                        raise QtgenError(f"not approved: {item.path.name} changed while it was being approved; "
                                         "nothing published (approve it again)")

            try:
                for item, target, original in zip(items, targets, originals):
                    write_atomic(target, item.data, overwrite=original is not None, within=config.content)
                    placed.append(target)
                if commit:
                    sha = _commit(repo, placed, [i.data for i in items], message, unchanged)
                else:
                    unchanged()
                    sha = None
            except BaseException:
                journal.mark_undo()
                left = _undo(config, journal, repo, placed)
                if not left:
                    journal.close()
                raise
            notes = _finish_drafts(store, journal)
            journal.close()
    from .calibration import APPROVE, record

    for item in items if note is None else []:  # a lot's drafts are published unread: no reviewer decided them
        if item.path not in unread:
            record(config, item.path, item.data, item.subject, item.question, APPROVE)
    provenance.keep_published(config, [str(t.relative_to(config.content)) for t in targets], made, sha)
    return Approval(placed, sha, message, recovered=recovered + notes)


def with_trailer(message: str, line: str) -> str:
    """The message with one more trailer: in its last paragraph if that holds trailers already, else a new one."""
    body = message.rstrip("\n")
    last = body.rsplit("\n\n", 1)[-1]
    if last and all(": " in x and x.split(": ", 1)[0].replace("-", "").isalnum() for x in last.split("\n")):
        return body + "\n" + line + "\n"
    return body + "\n\n" + line + "\n"


def _commit(repo: Path, placed: list[Path], data: list[bytes], message: str, before: Callable[[], None]) -> str:
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


def approve_names(config: Config, names: list[str], *, all_clean: bool = False, index: SiteIndex | None = None,
                  allow_warnings: bool = False, commit: bool = True, notify: Notify | None = None,
                  override: str | None = None) -> Approval | None:
    """`qtgen approve`: the named drafts and, with all_clean, every draft without a finding."""
    from .drafts import draft_paths_in

    config.require_site("approve publishes into a site, but there is")
    store = DraftStore(config)
    paths = draft_paths_in(store, names)
    left: list[QueueItem] = []
    left_why: dict[str, str] = {}
    unread: set[Path] = set()
    if all_clean:
        from .audit import open_lot_members

        waiting = queue(config, index)
        clean = [i for i in waiting if i.status == OK and i.path not in paths]
        in_lots = open_lot_members(config)  # a draft of an open lot waits for its audit, or approve --lot
        for item in clean:
            if str(item.path) in in_lots:
                left_why[str(item.path)] = f"in lot {in_lots[str(item.path)]}, waiting for its audit"
            elif item.revises is not None and unchanged(store, item.path):
                left_why[str(item.path)] = "unchanged from the published page: nothing to publish"
        if override is None:  # a clean draft the judge gate refuses waits, with the others left
            for item, why in refused_by_judge(config, clean):
                left_why.setdefault(str(item.path), why)
        clean = [i for i in clean if str(i.path) not in left_why]
        unread = {i.path for i in clean}  # chosen by their findings, not read: no reviewer's decision
        paths += [i.path for i in clean]
        left = [i for i in waiting if i.path not in paths]
    if not paths:
        return Approval([], None, "", left, left_why) if left else None
    if override is not None:
        override_line(override)  # refused before anything is done
    result = approve(config, paths, index=index, allow_warnings=allow_warnings, commit=commit, notify=notify,
                     override=override, unread=unread)
    result.left_why = left_why
    result.left = left
    return result


def _finish_drafts(store: DraftStore, journal: Journal) -> list[str]:
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


def _undo(config: Config, journal: Journal, repo: Path | None, targets: list[Path]) -> list[str]:
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


# -- recovery ---------------------------------------------------------------------------------------
def recover(config: Config, notify: Notify | None = None) -> list[str]:
    """Finish or undo approvals that a killed qtgen left half done; a line for each, saying which."""
    journals = Journal.pending(config)
    if not journals:
        return []
    messages = []
    for commit in sorted({j.commit for j in journals}):
        try:
            repo = gitrepo.toplevel(config.content) if commit else None
        except QtgenError as exc:
            messages.append(f"an interrupted approval cannot be finished here ({exc}); it is kept")
            continue
        lock = try_lock(_lock_path(config, repo), "another approval of this site")
        if lock is None:
            continue  # an approval is running now: its journal is live
        try:
            messages += _recover_held(config, repo, commit)
        except QtgenError as exc:
            messages.append(f"an interrupted approval could not be finished yet ({exc}); the next qtgen command "
                            "tries again")
        finally:
            lock.__exit__(None, None, None)
    for message in messages:
        if notify is not None:
            notify(message)
    return messages


def _recover_held(config: Config, repo: Path | None, commit: bool | None = None) -> list[str]:
    """With the site's approval lock held: every journal of this kind (committing or not) is a dead process's."""
    commit = repo is not None if commit is None else commit
    messages = []
    for journal in Journal.pending(config):
        if journal.commit != commit:
            continue
        why = journal.valid()
        if why is not None:
            messages.append(f"{journal.path}: not acted on: {why} (remove it if it is not qtgen's)")
            continue
        store = DraftStore(config, migrate=False)
        with store.lock():
            messages.append(_recover_one(config, store, journal, repo if commit else None))
    return messages


def _state(journal: Journal, entry: Entry) -> str:
    """What an interrupted approval left at a target: "placed", "before" (not yet placed) or "changed"."""
    try:
        digest = _sha(journal.target_path(entry).read_bytes())
    except FileNotFoundError:
        return "before" if entry.original_sha is None else "changed"
    if digest == entry.draft_sha:
        return "placed"
    return "before" if digest == entry.original_sha else "changed"


def _recover_one(config: Config, store: DraftStore, journal: Journal, repo: Path | None) -> str:
    entries = journal.entries
    names = ", ".join(Path(e.draft).name for e in entries)
    if repo is not None:
        sha = gitrepo.commit_with(repo, f"{TRAILER}: {journal.id}")
        if sha:
            notes = _finish_drafts(store, journal)
            journal.close()
            return (f"finished an approval interrupted after its commit {sha[:12]} ({names}): the drafts left the "
                    "queue" + (f"; {'; '.join(notes)}" if notes else ""))
    states = [_state(journal, e) for e in entries]
    changed_drafts = []
    for e in entries:
        try:
            if _sha(journal.draft_path(e).read_bytes()) != e.draft_sha:
                changed_drafts.append(e.draft)
        except FileNotFoundError:
            changed_drafts.append(e.draft)
    why = ("it failed and was being undone when qtgen stopped" if journal.undoing
           else f"the draft {changed_drafts[0]} changed or went since" if changed_drafts
           else f"{entries[states.index('changed')].target} changed since" if "changed" in states else "")
    if not why:
        placed = []
        for e, state in zip(entries, states):
            target = journal.target_path(e)
            if state == "before":
                write_atomic(target, journal.draft_path(e).read_bytes(), overwrite=e.original_sha is not None,
                             within=config.content)
            placed.append(target)
        sha = None
        if repo is not None:
            data = [journal.draft_path(e).read_bytes() for e in entries]
            pending = [t for t, d in zip(placed, data) if not gitrepo.committed_as(repo, t, d)]
            try:
                sha = (gitrepo.commit_only(repo, pending, with_trailer(journal.message, f"{TRAILER}: {journal.id}"))
                       if pending else None)
            except QtgenError as exc:
                why = f"its commit failed again ({exc})"
        if not why:
            notes = _finish_drafts(store, journal)
            journal.close()
            where = (f" in commit {sha[:12]}" if sha else " (already committed)" if repo is not None else " (not committed)")
            return (f"finished an interrupted approval of {names}: {len(placed)} page(s) published{where}, the drafts "
                    "left the queue" + (f"; {'; '.join(notes)}" if notes else ""))
    journal.mark_undo()
    targets = [journal.target_path(e) for e in entries]
    left = _undo(config, journal, repo, targets)
    if left:
        return f"could not wholly undo an interrupted approval of {names} ({why}): {'; '.join(left)}; tried again next time"
    journal.close()
    kept = [str(t.relative_to(config.content)) for t, st in zip(targets, states) if st == "changed"]
    return (f"undid an interrupted approval of {names} because {why}; the drafts stay in the queue"
            + (f"; {', '.join(kept)} changed since and was left as it is (unstaged)" if kept
               else "; the content tree is as it was"))
