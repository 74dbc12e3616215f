"""Reviewing drafts: read and judged (`queue`), then approved into the site's git repository (`approval`),
rejected with a reason, regenerated with feedback or edited, each without losing a version.

    from qtgen import review
    for item in review.queue(config):
        print(item.path, item.status)

Every command here acts only on files inside the drafts folder (`DraftStore.resolve`), and changes a draft
only under the drafts lock, so a regeneration or an edit never overlaps an approval of the same draft.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..config import Config
from ..errors import InputError, QtgenError
from ..format.files import write_atomic
from ..format.page import Page, Seo
from ..format.reader import parse, read
from ..format.text import clean_line, printable
from ..format.validate import Checker
from ..format.writer import render
from ..llm.reply.reader import Completion
from ..drafting.drafter import build_prompt, page_content, plan, strategy
from .approval import Approval, approve, approve_names, commit_message  # noqa: F401 - review's API
from ..drafts.folder import DraftStore, History
from ..drafts.queue import ERRORS, OK, WARNINGS, QueueItem, assess, queue  # noqa: F401 - review's API
from ..team.person import Person, line_of

# -- reject -------------------------------------------------------------------------------------
def reject(config: Config, name: str, reason: str, *, by: Person | None = None) -> Path:
    """Move a draft to drafts/rejected/<subject-slug>/ and keep the reason, and who rejected it, beside it."""
    from ..judging.calibration import REJECTED, record

    store = DraftStore(config)
    path = store.resolve(name)
    data = path.read_bytes()
    who = line_of(config, by)
    target = store.reject(path, reason, by=who)
    page = _page_or_none(data)
    record(config, path, data, page.subject if page else None, page.question if page else None, REJECTED, by=who)
    return target


def _page_or_none(data: bytes) -> Page | None:
    from ..errors import ParseError
    from ..format.reader import parse

    try:
        return parse(data.decode("utf-8"))
    except (UnicodeDecodeError, ParseError):
        return None


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
        from ..drafting.revision import published_diff

        return published_diff(config, path, revision)
    if against is not None:
        old = history.get(against)
    else:
        old = _last_unlike(history, current, "no previous version (made by regenerate or edit)")
    lines = difflib.unified_diff(readable(parse(old.text())), readable(parse(current)),
                                 f"{path.name} (version {old.number}, {old.made_by})", f"{path.name} (now)", lineterm="")
    return "\n".join(lines)


def save_checked(config: Config, path: Path, page: Page, made_by: str, feedback: str | None = None,
                 *, expect: bytes | None = None, keep_errors: bool = False, provenance: dict | None = None,
                 by: Person | None = None) -> list:
    """Write a changed draft only if it validates (with keep_errors: a paid answer is saved all the same, its
    errors shown in the queue); every earlier version is kept.

    With `expect`, only if the draft still holds those bytes (under the drafts lock, so an approval or
    another change cannot slip in between): otherwise the new text is kept as a version and nothing is
    overwritten.
    """
    text = render(page)
    store = DraftStore(config, migrate=False)
    if provenance is None and made_by.startswith("edit"):  # a reviewer's edit of what a model made: still its text
        earlier = [v.provenance for v in store.history(path).versions() if v.provenance]
        provenance = {**earlier[-1], "edited": True} if earlier else None
    checker = Checker(config, published=store.published_of(path))
    checker.check_text(text, str(path), path=path)
    errors = [f for f in checker.report.findings if f.level == "error"]
    if errors and not keep_errors:
        raise QtgenError(f"not saved: {errors[0].field}: {errors[0].message}")
    who = line_of(config, by)
    with store.lock():
        if expect is not None and (not path.is_file() or path.read_bytes() != expect):
            history = store.history(path)
            history.record(text, f"{made_by} (not applied: the draft changed meanwhile)", feedback, provenance=provenance,
                           by=who)
            raise QtgenError(f"{path.name}: the draft was approved, rejected or changed meanwhile; nothing "
                             f"overwritten (this {made_by.split(' ')[0]} is kept as a version: qtgen history "
                             f"{store.key_of(path)})")
        store.history(path).save(text, made_by, feedback, provenance=provenance, by=who)
    return checker.report.findings


def revert(config: Config, name: str, to: int | None = None, *, by: Person | None = None) -> tuple[Path, int]:
    """Restore an earlier version (default: the latest unlike the draft) as a new version; (path, version)."""
    history = history_of(config, name)
    path = history.draft
    current = path.read_text(encoding="utf-8")
    if to is None:
        version = _last_unlike(history, current, "no earlier version to revert to")
    else:
        version = history.get(to)
    with DraftStore(config, migrate=False).lock():
        if path.read_text(encoding="utf-8") != current:
            raise QtgenError(f"{path.name}: changed meanwhile; nothing reverted (run it again)")
        history.save(version.text(), f"revert to {version.number}", provenance=version.provenance,
                     by=line_of(config, by))
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
               on_wait: Callable[[float, Exception], None] | None = None, from_judge: bool = False,
               by: Person | None = None) -> Regeneration:
    """Ask the model again with the previous answer and the reviewer's feedback (`from_judge`: the issues the
    judge found in the draft, after the reviewer's own words if any)."""
    from ..llm.backend import open_client

    store = DraftStore(config)
    path = store.resolve(name)
    before = path.read_bytes()
    page = read(path)
    if from_judge:
        from ..judging.verdicts import NothingToChange, judge_feedback

        try:
            judged = judge_feedback(config, path)
        except NothingToChange:
            if not clean_line(feedback or ""):
                raise
            judged = ""  # the reviewer's own words alone
        feedback = " ".join(x for x in (clean_line(feedback or ""), judged) if x)
    feedback = clean_line(feedback or "")
    if not feedback:
        raise InputError("--feedback: say what should change")
    from ..judging.calibration import REGENERATE, record

    record(config, path, before, page.subject, page.question, REGENERATE, by=line_of(config, by))
    p = plan(config, page.question, page.subject, force=True)
    with open_client(config, notify=notify, on_wait=on_wait) as client:
        prompt = build_prompt(config, p, user_template="regenerate.j2", feedback=feedback,
                              previous_answer=page.decoded_answer(), **strategy(client))
        completion = client.complete(prompt.messages())
        from ..drafting import records

        completion.provenance = records.of_completion(config, client.settings, completion,
                                                         records.of_prompts(config, [prompt]), "online")
    new, notes = regenerated(config, page, completion)
    findings = save_checked(config, path, new, "regenerate", feedback, expect=before, keep_errors=True,
                            provenance=completion.provenance, by=by)
    notes += [f"saved with an error, for review (qtgen edit fixes it, qtgen revert restores the previous version): "
              f"{f.field}: {f.message}" for f in findings if f.level == "error"]
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
    answer = _encode_edit(body, page)
    if not answer:
        raise InputError("edit: the answer is empty; nothing saved")
    seo_fields = Seo(title=page.seo.title, page_description=values.get("description", page.seo.page_description),
                     page_keywords=values.get("keywords", page.seo.page_keywords))
    return page.model_copy(update={"answer": answer, "seo": seo_fields})


def _encode_edit(body: str, page: Page) -> str:
    """The edited answer, stored exactly as typed: the user's spaces (a trailing one, or two for a hard line
    break) are theirs to keep or remove; only real newlines become the two characters \\n, tabs four spaces,
    control characters go, and blank lines at the very start and end are dropped."""
    if body.endswith("\n"):
        body = body[:-1]  # the newline to_editable puts after the answer
    if body == page.decoded_answer():
        return page.answer
    lines = printable(body.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")).split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\\n".join(lines)


def env_editor() -> list[str]:
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    return shlex.split(editor)


@dataclass
class Edit:
    path: Path
    outcome: str  # "saved", "cancelled", "unchanged"


def _without_notice(typed: str) -> str:
    return "\n".join(line for line in typed.split("\n") if not line.startswith("# not saved:"))


def edit(config: Config, name: str, editor: list[str] | None = None) -> Edit:
    """Open an editor on the decoded answer and SEO fields; saved back in the exact format if it validates.

    An edit that cannot be saved is never lost: it is kept beside the draft with the reason on top,
    and the next `edit` opens it again.
    """
    store = DraftStore(config)
    path = store.resolve(name)
    before = path.read_bytes()
    page = read(path)
    editor = editor or env_editor()
    kept = store.unsaved_edit(path)
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
                write_atomic(kept, f"# not saved: the editor exited with {rc}\n" + _without_notice(typed), overwrite=True,
                             within=store.root)
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
        save_checked(config, path, new, "edit", expect=before)
    except QtgenError as exc:
        reason = str(exc).splitlines()[0]
        write_atomic(kept, f"# not saved: {reason.removeprefix('not saved: ')}\n" + _without_notice(typed),
                     overwrite=True, within=store.root)
        raise QtgenError(f"{reason}; what you typed is kept in {kept} and `qtgen edit` reopens it",
                         exc.exit_code) from None
    kept.unlink(missing_ok=True)
    return Edit(path, "saved")


def _last_unlike(history, current: str, none: str):
    """The latest version whose text is not `current`; QtgenError saying `none` (or that nothing changed) otherwise."""
    versions = history.versions()
    earlier = [v for v in versions if v.text() != current]
    if not earlier and len(versions) > 1:
        raise QtgenError(f"{history.draft.name}: no change: its {len(versions)} versions all hold this text (a "
                         "regeneration that answers with the same text changes nothing)")
    if not earlier:
        raise QtgenError(f"{history.draft.name}: {none}")
    return earlier[-1]
