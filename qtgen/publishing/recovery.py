"""Recovery: an approval a killed qtgen left half done is finished, or undone, by the next qtgen command.

The journal (`drafts/.qtgen/approvals/<id>.json`) says what the approval was about to do. An approval whose commit
exists (it carries `Qtgen-Approval: <id>`) is finished: its decisions and lot recorded, its drafts out of the queue.
One that had not committed is finished only if every draft still holds the bytes journalled and still passes what
approve checks (validation, lint errors, the judge gate, its page's place in the content tree), with the message
qtgen builds from the drafts, never one read from the file: a planted journal publishes nothing approve would not.
Otherwise it is undone and the drafts stay in the queue.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..config import Config
from ..errors import QtgenError
from ..format.files import write_atomic
from ..format.slug import slug
from ..locks import try_lock
from ..site import gitrepo
from ..site.index import SiteIndex, open_index
from ..drafting.drafter import published_path
from ..drafts.folder import DraftStore
from .journal import Entry, Journal
from .journal import sha as _sha
from ..drafts.readiness import content_problems, id_problems
from .placement import TRAILER, after_published, finish_drafts, lock_path, message_for, undo, with_trailer

Notify = Callable[[str], None]
finished: dict[str, str] = {}  # drafts (relative to the drafts folder) this process's recovery published -> page


def _remember(config: Config, journal: Journal) -> None:
    for e in journal.entries:
        finished[e.draft] = e.target


def _recheck(config: Config, store: DraftStore, journal: Journal, index: SiteIndex | None) -> tuple[str, str]:
    """(why the journalled drafts may not be published, "" if they may; the message qtgen builds for them).

    The checks are a plain `qtgen approve`'s: lint warnings refuse and the judge gate holds, whatever the journal
    says about --allow-warnings or an override (a journal is a file anyone with the drafts folder can write). An
    approval that needed either is undone, and its reviewer approves again with the flag."""
    from ..judging.gate import judge_gate
    from ..drafts.queue import assess

    entries = journal.entries
    items = [assess(config, journal.draft_path(e), index, data=journal.draft_path(e).read_bytes()) for e in entries]
    problems = content_problems(items, allow_warnings=False)
    if problems:
        return (f"a draft does not pass approve's checks ({problems[0]}); approve it again"
                + (", with --allow-warnings if it should go" if all(i.page is not None and not i.errors for i in items)
                   else ""), "")
    for e, item in zip(entries, items):
        own = published_path(config, slug(item.page.subject, config.slug_style), item.page.file_name)
        if own.resolve() != journal.target_path(e).resolve():
            return f"{e.draft} is not the page at {e.target}", ""
    problems = id_problems(items, index)
    if problems:
        return f"a draft does not pass approve's checks ({problems[0]})", ""
    revisions = [store.revision_of(item.path) for item in items]
    for e, revision in zip(entries, revisions):
        if (revision is None) != (e.original_sha is None):
            return f"{e.draft} {'replaces a page but is no revision' if revision is None else 'is a revision'}", ""
    refused = judge_gate(config, items)
    if refused:
        return (f"the judge gate refuses {refused[0]} (approve it again, with --override \"reason\" if it should "
                "go)"), ""
    lot = journal.data.get("lot") if isinstance(journal.data.get("lot"), str) else None
    reviewer = journal.data.get("reviewer") if isinstance(journal.data.get("reviewer"), str) else None
    message, _ = message_for(config, store, items, [journal.target_path(e) for e in entries], revisions, None, lot,
                             reviewer=reviewer)
    return "", message


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
        lock = try_lock(lock_path(config, repo), "another approval of this site")
        if lock is None:
            continue  # an approval is running now: its journal is live
        try:
            messages += recover_held(config, repo, commit)
        except QtgenError as exc:
            messages.append(f"an interrupted approval could not be finished yet ({exc}); the next qtgen command "
                            "tries again")
        finally:
            lock.__exit__(None, None, None)
    for message in messages:
        if notify is not None:
            notify(message)
    return messages


def recover_held(config: Config, repo: Path | None, commit: bool | None = None,
                 index: SiteIndex | None = None) -> list[str]:
    """With the site's approval lock held: every journal of this kind (committing or not) is a dead process's.
    The drafts' ids are checked against `index` (the site's, opened here when a journal needs it)."""
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
            if index is None and config.drafts.is_dir():
                with open_index(config) as opened:
                    messages.append(_recover_one(config, store, journal, repo if commit else None, opened))
            else:
                messages.append(_recover_one(config, store, journal, repo if commit else None, index))
    return messages


def _committed(repo: Path, journal: Journal, entry: Entry) -> bool:
    """Whether HEAD holds the entry's target with the bytes the journal says were placed there."""
    try:
        data = journal.target_path(entry).read_bytes()
    except OSError:
        return False
    return _sha(data) == entry.draft_sha and gitrepo.committed_as(repo, journal.target_path(entry), data)


def _repository(config: Config) -> Path | None:
    try:
        return gitrepo.toplevel(config.content)
    except QtgenError:
        return None


def _state(journal: Journal, entry: Entry) -> str:
    """What an interrupted approval left at a target: "placed", "before" (not yet placed) or "changed"."""
    try:
        digest = _sha(journal.target_path(entry).read_bytes())
    except FileNotFoundError:
        return "before" if entry.original_sha is None else "changed"
    if digest == entry.draft_sha:
        return "placed"
    return "before" if digest == entry.original_sha else "changed"


def _recover_one(config: Config, store: DraftStore, journal: Journal, repo: Path | None,
                 index: SiteIndex | None) -> str:
    entries = journal.entries
    names = ", ".join(Path(e.draft).name for e in entries)
    if repo is not None:
        sha = gitrepo.commit_with(repo, f"{TRAILER}: {journal.id}")
        if sha and not all(_committed(repo, journal, e) for e in entries):
            return (f"{journal.path}: not acted on: the commit {sha[:12]} of approval {journal.id} does not hold the "
                    "pages it names (remove it if it is not qtgen's)")
        if sha:
            after_published(config, journal, sha)
            _remember(config, journal)
            notes = finish_drafts(store, journal)
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
        why, message = _recheck(config, store, journal, index)
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
                sha = (gitrepo.commit_only(repo, pending, with_trailer(message, f"{TRAILER}: {journal.id}"))
                       if pending else None)
            except QtgenError as exc:
                why = f"its commit failed again ({exc})"
        if not why:
            after_published(config, journal, sha)
            _remember(config, journal)
            notes = finish_drafts(store, journal)
            journal.close()
            where = (f" in commit {sha[:12]}" if sha else " (already committed)" if repo is not None else " (not committed)")
            return (f"finished an interrupted approval of {names}: {len(placed)} page(s) published{where}, the drafts "
                    "left the queue" + (f"; {'; '.join(notes)}" if notes else ""))
    journal.mark_undo()
    targets = [journal.target_path(e) for e in entries]
    # the site's git repository guards an undo even where the approval was not to commit: a page HEAD holds
    # with these bytes is published, and no journal takes it back
    left = undo(config, journal, repo if repo is not None else _repository(config), targets)
    if left:
        return f"could not wholly undo an interrupted approval of {names} ({why}): {'; '.join(left)}; tried again next time"
    journal.close()
    kept = [str(t.relative_to(config.content)) for t, st in zip(targets, states) if st == "changed"]
    return (f"undid an interrupted approval of {names} because {why}; the drafts stay in the queue"
            + (f"; {', '.join(kept)} changed since and was left as it is (unstaged)" if kept
               else "; the content tree is as it was"))
