"""The drafts folder, laid out as the site is: `drafts/<subject-slug>/<file_name>`.

Rejected drafts go to `drafts/rejected/<subject-slug>/` with the reason beside them, and every version
of a draft (as drafted, regenerated, edited) is kept in `drafts/.qtgen/history/<subject-slug>/<file_name>/`,
numbered, with the time and what made it. A flat drafts folder of an older qtgen is migrated on first
use without losing a file. Review commands act only on files inside the drafts folder.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..config import Config
from ..errors import InputError, ParseError, QtgenError
from ..format.files import inside, sweep_temps, write_atomic
from ..locks import Lock, open_lock_file
from ..paths import confined
from ..format.reader import read
from ..format.slug import slug
from ..format.text import clean_line

REJECTED = "rejected"
OWN = ".qtgen"  # qtgen's own files: the index, the ledger, the history


def now() -> str:
    return dt.datetime.now().isoformat(timespec="seconds")


@dataclass
class Version:
    number: int
    path: Path
    saved: str
    made_by: str
    feedback: str | None = None
    provenance: dict | None = None  # what made this version (qtgen.publishing.provenance)
    by: str | None = None  # who made it ("Name <email>"): the reviewer who edited, regenerated or reverted

    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")


@dataclass
class Revision:
    """A draft that revises a published page: which file, from which bytes (their sha256), and why."""

    published: Path
    sha256: str
    reason: str = ""
    rules: list[str] | None = None
    created: str = ""
    made_by: str = ""


class History:
    """Every version of one draft, numbered from 1; the last one is the draft as it stands."""

    def __init__(self, folder: Path, draft: Path, root: Path | None = None):
        self.folder = folder
        self.draft = draft
        self.root = root  # the drafts folder: nothing is written outside it

    def versions(self) -> list[Version]:
        out = []
        if not self.folder.is_dir():
            return out
        for page in sorted(self.folder.glob("[0-9]*.md")):
            try:
                number = int(page.stem)
                meta = json.loads(page.with_suffix(".json").read_text("utf-8"))
            except (ValueError, OSError):
                meta, number = {}, int(page.stem) if page.stem.isdigit() else 0
            if number:
                out.append(Version(number, page, str(meta.get("saved", "")), str(meta.get("made_by", "unknown")),
                                   meta.get("feedback"), meta.get("provenance") if isinstance(meta.get("provenance"),
                                                                                         dict) else None,
                                   str(meta["by"]) if meta.get("by") else None))
        return sorted(out, key=lambda v: v.number)

    def get(self, number: int) -> Version:
        for version in self.versions():
            if version.number == number:
                return version
        known = ", ".join(str(v.number) for v in self.versions()) or "none"
        raise InputError(f"{self.draft.name}: no version {number} (versions: {known})")

    def record(self, text: str, made_by: str, feedback: str | None = None, saved: str | None = None,
               provenance: dict | None = None, by: str | None = None) -> Version:
        versions = self.versions()
        number = versions[-1].number + 1 if versions else 1
        page = self.folder / f"{number:04d}.md"
        meta = {"version": number, "saved": saved or now(), "made_by": made_by}
        if feedback:
            meta["feedback"] = feedback
        if provenance:
            meta["provenance"] = provenance
        if by:
            meta["by"] = by
        write_atomic(page.with_suffix(".json"), json.dumps(meta, indent=1, ensure_ascii=False) + "\n", overwrite=True,
                     within=self.root)
        write_atomic(page, text, within=self.root)  # never replaces a version: two writers cannot take one number
        return Version(number, page, meta["saved"], made_by, feedback, provenance, by)

    def ensure_current(self) -> None:
        """Record the draft as it stands, if the history does not end with it."""
        current = self.draft.read_text(encoding="utf-8")
        versions = self.versions()
        if not versions:
            mtime = dt.datetime.fromtimestamp(self.draft.stat().st_mtime).isoformat(timespec="seconds")
            self.record(current, "draft", saved=mtime)
        elif versions[-1].text() != current:
            self.record(current, "changed outside qtgen")

    def save(self, text: str, made_by: str, feedback: str | None = None, provenance: dict | None = None,
             by: str | None = None) -> Version:
        """Replace the draft with `text`, keeping every earlier version (`by`: who made this one)."""
        self.ensure_current()
        version = self.record(text, made_by, feedback, provenance=provenance, by=by)
        write_atomic(self.draft, text, overwrite=True, within=self.root)
        return version


_swept: set[Path] = set()  # drafts folders this process has swept of stale temp files


class DraftStore:
    """Where drafts, rejections and versions live, and which paths review commands may touch."""

    def __init__(self, config: Config, migrate: bool = True):
        self.config = config
        self.root = config.drafts
        self.notes: list[str] = []
        self._revision_folders: dict[str, Path] = {}
        if self.root.exists() and not self.root.is_dir():
            raise InputError(f"drafts folder {self.root}: is a file, not a folder (drafts_dir in the config)")
        config.state()  # qtgen's own files: refused at once if a symlink leads them out of the drafts folder
        if migrate:
            self.notes = self.migrate()
            if self.root not in _swept:
                sweep_temps(self.root)  # what a killed qtgen was writing when it died
                _swept.add(self.root)

    def lock(self, notify=None) -> Lock:
        """Held while a draft is changed, replaced, rejected or approved: regenerate, edit and approve of one
        draft never overlap (a change that finds the draft gone or different keeps its text as a version)."""
        return Lock(self.config.state("drafts.lock"), "another qtgen changing drafts",
                    timeout=self.config.lock_timeout, notify=notify)

    def unsaved_edit(self, path: Path) -> Path:
        """Where an edit that could not be saved is kept, beside the draft (not a page: `.edit.txt`)."""
        return confined(path.with_name(path.name + ".edit.txt"), self.root)

    @property
    def rejected_root(self) -> Path:
        return self.root / REJECTED

    @property
    def history_root(self) -> Path:
        return self.config.state("history")

    def path_for(self, subject_slug: str, file_name: str) -> Path:
        if subject_slug == REJECTED:
            raise InputError(f"subject folder {REJECTED!r}: qtgen keeps rejected drafts there; choose another "
                             "subject name, or set drafts_dir to a folder of its own")
        if not subject_slug or not file_name or "/" in subject_slug + file_name or subject_slug in (".", ".."):
            raise InputError(f"{subject_slug}/{file_name}: not a draft's place")
        if self.root.exists() and not self.root.is_dir():
            raise InputError(f"drafts folder {self.root}: is a file, not a folder")
        return confined(self.root / subject_slug / file_name, self.root)

    def key_of(self, path: Path) -> str:
        """`subject-slug/file_name` of a draft path."""
        return f"{path.parent.name}/{path.name}"

    # -- revisions of published pages ------------------------------------------------------------
    def revision_file(self, path: Path) -> Path:
        folder = self._revision_folders.get(path.parent.name)
        if folder is None:  # confined once per subject folder (a queue asks for thousands)
            folder = self._revision_folders[path.parent.name] = self.config.state("revisions", path.parent.name)
        return folder / f"{path.name}.json"

    def revision_of(self, path: Path) -> "Revision | None":
        """What a draft revises, if it is a revision of a published page."""
        try:
            data = json.loads(self.revision_file(path).read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return Revision(self._published_path(str(data["published"])), str(data["sha256"]), str(data.get("reason", "")),
                        list(data.get("rules", [])), str(data.get("created", "")), str(data.get("made_by", "")))

    def _published_name(self, published: Path) -> str:
        """How a revision names its published page: below the content tree (so a moved or copied site keeps its
        revisions), or as it is if it lies elsewhere."""
        content = self.config.content.resolve()
        real = Path(published).resolve()
        return real.relative_to(content).as_posix() if real.is_relative_to(content) else str(published)

    def _published_path(self, name: str) -> Path:
        """The published page a revision names: below this site's content tree; a path an older qtgen wrote in
        full is taken from this site's tree when the site was moved or copied since (its bytes are checked)."""
        path = Path(name)
        if not path.is_absolute():
            return self.config.content / path
        if path.is_relative_to(self.config.content) or path.resolve().is_relative_to(self.config.content.resolve()):
            return path
        here = self.config.content / path.parent.name / path.name
        return here if here.is_file() else path

    def published_of(self, path: Path):
        """The published page a revision keeps its identity and unchanged fields from (None if not a revision)."""
        revision = self.revision_of(path)
        if revision is None:
            return None
        try:
            return read(revision.published)
        except (ParseError, OSError):
            return None

    def mark_revision(self, path: Path, revision: "Revision") -> None:
        data = {"published": self._published_name(revision.published), "sha256": revision.sha256, "reason": revision.reason,
                "rules": revision.rules, "created": revision.created or now(), "made_by": revision.made_by}
        write_atomic(self.revision_file(path), json.dumps(data, indent=1, ensure_ascii=False) + "\n", overwrite=True,
                     within=self.root)

    def unmark_revision(self, path: Path) -> None:
        self.revision_file(path).unlink(missing_ok=True)

    def history(self, path: Path) -> History:
        return History(self.history_root / path.parent.name / path.name, path, self.root)

    # -- the queue -------------------------------------------------------------------------------
    def drafts(self) -> list[Path]:
        """Every draft waiting for review (loose files an older layout left behind included)."""
        return [Path(name) for name in self.draft_names()]

    def draft_names(self) -> list[str]:
        """`drafts` as plain strings, read with scandir (no stat a file: a queue may hold tens of thousands)."""
        root = str(self.root)
        if not os.path.isdir(root):
            return []

        def pages(folder: str) -> list[str]:
            # a symlinked folder or file could lead into the content tree: never a draft
            with os.scandir(folder) as found:
                return [e.path for e in found if e.name.endswith(".md") and not e.name.startswith(".")
                        and e.is_file(follow_symlinks=False)]

        out = pages(root)
        with os.scandir(root) as found:
            folders = sorted(e.name for e in found if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")
                             and e.name != REJECTED)
        for name in folders:
            out += pages(os.path.join(root, name))
        return sorted(out, key=lambda name: name.split(os.sep))  # as Paths sort

    def resolve(self, name: str) -> Path:
        """A draft named as a path, `subject-slug/file_name`, or a file name (with or without `.md`).

        Only files inside the drafts folder (and not among the rejected or qtgen's own files) are
        ever returned; a published page or any other file is refused with one line.
        """
        raw = str(name).strip()
        if not raw:
            raise InputError("name a draft")
        as_path = Path(raw)
        candidates: list[Path] = []
        if as_path.is_absolute() or os.sep in raw or "/" in raw:
            candidates = [as_path] if as_path.is_absolute() else [Path.cwd() / as_path, self.root / as_path]
            if not as_path.suffix:
                candidates += [c.with_name(c.name + ".md") for c in candidates]
            existing = [c for c in candidates if c.is_file()]
            for c in existing:
                if self._is_draft(c):
                    return c
            if existing:
                raise InputError(f"{raw}: not a draft in {self.root}; review commands act only on drafts")
            raise InputError(f"{raw}: no such draft in {self.root}")
        file_name = raw if raw.endswith(".md") else raw + ".md"
        matches = [p for p in self.drafts() if p.name == file_name and self._is_draft(p)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            names = ", ".join(self.key_of(p) for p in matches)
            raise InputError(f"{raw}: drafted under several subjects ({names}); name one as subject/{file_name}")
        raise InputError(f"{raw}: no such draft in {self.root}")

    def _is_draft(self, path: Path) -> bool:
        if path.is_symlink() or path.parent.is_symlink() or not path.is_file():
            return False
        if not inside(path, self.root) or path.name.startswith(".") or path.suffix != ".md":
            return False
        rel = path.resolve().relative_to(self.root.resolve()).parts
        return len(rel) <= 2 and not (rel[0] == REJECTED or rel[0].startswith("."))

    # -- rejections ------------------------------------------------------------------------------
    def reject(self, path: Path, reason: str, by: str | None = None) -> Path:
        """Move a draft to rejected/<subject-slug>/ and keep the reason (and who rejected it) beside it, never in
        the page."""
        reason = clean_line(reason or "")
        if not reason:
            raise InputError("--reason: give the reason for rejecting")
        try:
            page = read(path)
            about = {"question": page.question, "subject": page.subject, "id": page.id}
            subject_slug = slug(page.subject, self.config.slug_style) or path.parent.name
        except ParseError:
            about, subject_slug = {}, path.parent.name if path.parent != self.root else "unreadable"
        folder = self.rejected_root / subject_slug
        target = confined(folder / path.name, self.root)
        note = {"reason": reason, "rejected": now(), **({"by": by} if by else {}), **about}
        with self.lock():
            data = path.read_bytes()
            write_atomic(folder / f"{path.name}.reason.json", json.dumps(note, indent=1, ensure_ascii=False) + "\n",
                         overwrite=True, within=self.root)
            write_atomic(target, data, overwrite=True, mode=path.stat().st_mode & 0o7777, within=self.root)
            path.unlink()
            self.unmark_revision(path)
        return target

    def rejection(self, subject_slug: str, file_name: str) -> str | None:
        """The reason a question was rejected for this subject, if it was."""
        note = self.rejected_root / subject_slug / f"{file_name}.reason.json"
        try:
            data = json.loads(note.read_text("utf-8"))
        except (OSError, ValueError):
            return None
        reason = str(data.get("reason") or "no reason given")
        return f"{reason} (rejected by {data['by']})" if isinstance(data, dict) and data.get("by") else reason

    # -- the flat layout of older versions -------------------------------------------------------
    def migrate(self) -> list[str]:
        """Move drafts, rejections and history of a flat drafts folder into subject folders.

        Each file is linked to its new name (never over another file) and then unlinked; a file
        that cannot be placed (unreadable, or its place taken) stays where it is, with a note.
        """
        notes: list[str] = []
        if not self.root.is_dir():
            return notes
        old_history = self.root / OWN / "history"
        loose = (list(self.root.glob("*.md")) + list(self.rejected_root.glob("*.md"))
                 + [p for p in old_history.glob("*.md") if p.is_file()])
        if not loose:
            return notes
        import fcntl

        with open_lock_file(self.config.state("migrate.lock")) as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another qtgen migrating at the same moment waits its turn
            try:
                self._migrate(notes)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return notes

    def _migrate(self, notes: list[str]) -> None:
        for path in sorted(self.root.glob("*.md")):
            if not path.name.startswith("."):
                self._move_by_subject(path, self.root, notes)
        rejected = self.rejected_root
        if rejected.is_dir():
            for path in sorted(rejected.glob("*.md")):
                self._move_by_subject(path, rejected, notes, reason=rejected / f"{path.name}.reason.json")
        old_history = self.history_root
        if old_history.is_dir():
            for path in sorted(p for p in old_history.iterdir() if p.is_file() and p.suffix == ".md"):
                matches = [p for p in self.drafts() if p.name == path.name and p.parent != self.root]
                if len(matches) != 1:
                    notes.append(f"{path}: kept where it is (no single draft of that name to file it under)")
                    continue
                history = self.history(matches[0])
                folder = history.folder
                folder.mkdir(parents=True, exist_ok=True)
                if history.versions():
                    continue
                try:
                    text = path.read_text(encoding="utf-8")
                except FileNotFoundError:
                    continue
                history.record(text, "before versions were numbered")
                path.unlink(missing_ok=True)
                notes.append(f"{path.name}: its previous version is now version 1 of {self.key_of(matches[0])}")

    def _move_by_subject(self, path: Path, base: Path, notes: list[str], reason: Path | None = None) -> None:
        subject = None
        if not path.is_file():
            return  # moved by another process meanwhile
        try:
            subject = read(path).subject
        except ParseError:
            if reason is not None and reason.is_file():
                try:
                    subject = json.loads(reason.read_text("utf-8")).get("subject")
                except (OSError, ValueError):
                    subject = None
        subject_slug = slug(str(subject or ""), self.config.slug_style)
        if not subject_slug or subject_slug == REJECTED:
            notes.append(f"{path}: kept where it is (no subject to file it under)")
            return
        moves = [(path, base / subject_slug / path.name)]
        if reason is not None and reason.is_file():
            moves.append((reason, base / subject_slug / reason.name))
        for source, target in moves:
            if not _move_no_replace(source, confined(target, self.root)):
                notes.append(f"{source}: kept where it is ({target} already exists)")
                return
        notes.append(f"{path.name}: moved to {base.name}/{subject_slug}/")


def _move_no_replace(source: Path, target: Path) -> bool:
    """Rename without ever replacing a file; False if the target is taken."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except FileExistsError:
        if not source.exists():
            return True  # another process moved it meanwhile
        if target.read_bytes() != source.read_bytes():
            return False
        return _unlink(source)  # the same bytes are already there
    except FileNotFoundError:
        return True  # another process moved it meanwhile
    except OSError:
        if target.exists():
            return False
        os.rename(source, target)
        return True
    _unlink(source)
    return True


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    return True


def draft_paths_in(store: DraftStore, names: list[str]) -> list[Path]:
    """Resolve several draft names, refusing a name given twice."""
    paths: list[Path] = []
    for name in names:
        path = store.resolve(name)
        if path in paths:
            raise QtgenError(f"{name}: named twice")
        paths.append(path)
    return paths


def unchanged(store: DraftStore, path: Path) -> bool:
    """Whether a revision is still its published page, byte for byte."""
    revision = store.revision_of(path)
    try:
        return revision is not None and path.read_bytes() == revision.published.read_bytes()
    except OSError:
        return False
