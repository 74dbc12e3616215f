"""Approve: drafts into the site's content tree and its git history, as one transaction.

    from qtgen.publishing import approval
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
from ..format.slug import slug
from ..locks import Lock
from ..site import gitrepo
from ..site.index import SiteIndex
from . import provenance
from ..drafting.drafter import published_path
from ..drafts.folder import DraftStore, unchanged  # noqa: F401 - unchanged: part of approve's API
from .journal import Journal
from .journal import sha as _sha
from ..judging.gate import judge_gate, override_line, refused_by_judge  # noqa: F401 - part of approve's API
from .placement import (TRAILER, after_published, commit_message, commit_pages, finish_drafts,  # noqa: F401
                        lock_path, message_for, undo, with_trailer)
from ..drafts.queue import OK, QueueItem, assess, queue
from ..drafts.readiness import content_problems, id_problems
from ..team.person import Person, line_of

Notify = Callable[[str], None]


@dataclass
class Approval:
    placed: list[Path]
    commit: str | None
    message: str
    left: list = field(default_factory=list)  # with --all-clean: the drafts not approved (QueueItem)
    left_why: dict = field(default_factory=dict)  # str(path) -> why a clean draft was left (judge gate, open lot)
    recovered: list[str] = field(default_factory=list)  # what was done about earlier interrupted approvals


# -- locks ------------------------------------------------------------------------------------------
def site_lock(config: Config, repo: Path | None, notify: Notify | None = None) -> Lock:
    """Held for a whole approval: two reviewers (or the CLI and the studio) approve one after the other."""
    return Lock(lock_path(config, repo), "another approval of this site", timeout=config.lock_timeout, notify=notify)


# -- approve ----------------------------------------------------------------------------------------
UNCHANGED = ("is the published page byte for byte: nothing to publish (edit or regenerate it, or reject it to "
             "take it out of the queue)")


def _checked(config: Config, store: DraftStore, paths: list[Path], index: SiteIndex | None,
             allow_warnings: bool, override: str | None = None) -> tuple[list[QueueItem], list[Path], list]:
    """Each draft read once and judged on those bytes; (items, targets, revisions) or QtgenError."""
    from ..drafting.site_duplicates import DUPLICATES, marks_only_no_index
    from ..drafting.revision import identity_changes, sha256_of

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
    problems = content_problems(items, allow_warnings)
    if problems:
        raise QtgenError("not approved: " + "; ".join(problems))
    problems = id_problems(items, index)
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
            expect: dict[str, str] | None = None, lot: str | None = None,
            unread: set[Path] | frozenset = frozenset(), reviewer: Person | None = None) -> Approval:
    """Validate, lint, place in the content tree and commit exactly these files, all or nothing.

    The drafts are removed only once the commit succeeded (or, with commit=False, the files are placed). With
    `expect` (str(path) -> sha256), only if each draft still holds exactly those bytes (an audited lot's, `lot`,
    which is marked published with the commit). Each approval is a reviewer's decision (kept for `judge
    calibrate` and lots' audits) but those of `unread` drafts and of a lot. The decisions and the lot's state are
    part of the approval's journal: recorded once the pages are published, by this process or by recovery. The
    commit says who approved (`reviewer`, else whoever runs qtgen here) in a `Reviewed-by:` trailer, qtgen's
    committer beside it; each decision records it too.
    """
    from ..format.plaintext import one_line
    from .recovery import recover_held

    config.require_site("approve publishes into a site, but there is")
    if override is not None:
        override = one_line(override)
    store = DraftStore(config)
    paths = [store.resolve(str(p)) for p in paths]
    repo = gitrepo.toplevel(config.content) if commit else None
    with site_lock(config, repo, notify):
        recovered = recover_held(config, repo, index=index)
        with store.lock(notify):
            items, targets, revisions = _checked(config, store, paths, index, allow_warnings, override)
            for item in items:
                want = (expect or {}).get(str(item.path))
                if want is not None and _sha(item.data) != want:
                    raise QtgenError(f"not approved: {item.path.name} changed since its lot was drawn; nothing published "
                                     "(it waits for its own review)")
            who = line_of(config, reviewer)
            message, made = message_for(config, store, items, targets, revisions, override, lot, reviewer=who)
            for folder in sorted({t.parent for t in targets}):
                sweep_temps(folder, recursive=False)  # left by an approve killed mid-write
            originals = [t.read_bytes() if r is not None else None for t, r in zip(targets, revisions)]
            decisions = [] if lot is not None else [  # a lot's drafts are published unread: no reviewer decided them
                {"draft": str(i.path.relative_to(config.drafts)), "data_sha": _sha(i.data), "subject": i.subject,
                 "question": i.question, "by": who} for i in items if i.path not in unread]
            journal = Journal.begin(config, commit, message,
                                    [(i.path, i.data, t, o) for i, t, o in zip(items, targets, originals)],
                                    decisions=decisions, lot=lot, override=override, reviewer=who)
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
                    sha = commit_pages(repo, placed, [i.data for i in items], message, unchanged)
                else:
                    unchanged()
                    sha = None
            except BaseException:
                journal.mark_undo()
                left = undo(config, journal, repo, placed)
                if not left:
                    journal.close()
                raise
            after_published(config, journal, sha)
            notes = finish_drafts(store, journal)
            journal.close()
    provenance.keep_published(config, [str(t.relative_to(config.content)) for t in targets], made, sha)
    return Approval(placed, sha, message, recovered=recovered + notes)


def approve_names(config: Config, names: list[str], *, all_clean: bool = False, index: SiteIndex | None = None,
                  allow_warnings: bool = False, commit: bool = True, notify: Notify | None = None,
                  override: str | None = None, reviewer: Person | None = None) -> Approval | None:
    """`qtgen approve`: the named drafts and, with all_clean, every draft without a finding."""
    from ..drafts.folder import draft_paths_in

    from .recovery import finished

    config.require_site("approve publishes into a site, but there is")
    store = DraftStore(config)
    done_by_recovery = [n for n in names if _recovered(config, n, finished)]
    if done_by_recovery and len(done_by_recovery) == len(names) and not all_clean:
        return Approval([], None, "", recovered=[f"{n}: published just now by the recovery of an interrupted approval "
                                                 "(nothing left to do)" for n in done_by_recovery])
    paths = draft_paths_in(store, [n for n in names if n not in done_by_recovery])
    left: list[QueueItem] = []
    left_why: dict[str, str] = {}
    unread: set[Path] = set()
    if all_clean:
        from .lots import open_lot_members

        waiting = queue(config, index)
        clean = [i for i in waiting if i.status == OK and i.path not in paths]
        in_lots = open_lot_members(config)  # a draft of an open lot waits for its audit, or qtgen audit publish
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
                     override=override, unread=unread, reviewer=reviewer)
    result.left_why = left_why
    result.left = left
    return result


def _recovered(config: Config, name: str, finished: dict[str, str]) -> bool:
    """Whether a named draft is gone because this process's recovery just published it (approve rerun after a
    crash: it reports what recovery finished instead of "no such draft")."""
    for draft in finished:
        path = config.drafts / draft
        if not path.exists() and (name in (draft, Path(draft).name, Path(draft).stem)
                                  or Path(name).resolve() == path.resolve()):
            return True
    return False
