"""An approval's journal: what it is about to do, written before it touches the content tree.

`drafts/.qtgen/approvals/<id>.json` names each draft (relative to the drafts folder), the sha256 of the bytes
checked and placed, where they go (relative to the content tree) and the sha256 of the page they replace, whose
bytes are kept beside the journal (`<id>.<n>.orig`). Paths are relative, so a site moved after a crash still
recovers; they are confined on reading, so a planted journal can never make recovery touch anything outside
the drafts folder and the content tree.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from ..config import Config
from ..errors import QtgenError
from ..format.files import inside, write_atomic
from ..paths import confined
from ..drafts.folder import now

JOURNALS = "approvals"
_ID = re.compile(r"\d{8}T\d{6}-[0-9a-f]{8}")  # begin()'s: the start, then 4 random bytes


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Entry:
    draft: str  # the draft, relative to the drafts folder
    draft_sha: str  # the bytes that were checked and are placed
    target: str  # where they go, relative to the content tree
    original_sha: str | None  # the page replaced (a revision), or None for a new page
    original: str | None = None  # the file beside the journal holding that page's bytes


def _relative(path: Path, root: Path) -> str:
    return PurePosixPath(Path(path).resolve().relative_to(Path(root).resolve())).as_posix()


def _plain(rel: str) -> bool:
    parts = PurePosixPath(rel).parts
    return bool(parts) and not PurePosixPath(rel).is_absolute() and ".." not in parts


class Journal:
    def __init__(self, config: Config, path: Path, data: dict):
        self.config = config
        self.path = path
        self.data = data

    @property
    def id(self) -> str:
        return self.data["id"]

    @property
    def commit(self) -> bool:
        return bool(self.data.get("commit"))

    @property
    def message(self) -> str:
        return self.data["message"]

    @property
    def undoing(self) -> bool:
        return bool(self.data.get("undo"))

    @property
    def entries(self) -> list[Entry]:
        return [Entry(**e) for e in self.data["entries"]]

    # -- where things are, confined ---------------------------------------------------------------------
    def draft_path(self, entry: Entry) -> Path:
        return confined(self.config.drafts / entry.draft, self.config.drafts)

    def target_path(self, entry: Entry) -> Path:
        target = self.config.content / entry.target
        if not inside(target, self.config.content):
            raise QtgenError(f"{self.path}: names {entry.target!r}, outside the content tree")
        return target

    def original_bytes(self, entry: Entry) -> bytes | None:
        return (self.path.parent / entry.original).read_bytes() if entry.original else None

    def valid(self) -> str | None:
        """Why this journal cannot be acted on (not in the shape qtgen writes, or a path outside the folders it
        may name), or None."""
        data = self.data
        if not (isinstance(data.get("id"), str) and _ID.fullmatch(data["id"]) and self.path.name == f"{data['id']}.json"
                and isinstance(data.get("pid"), int) and isinstance(data.get("started"), str)
                and isinstance(data.get("message"), str)):
            return "it is not a journal qtgen wrote (its id, file name, pid or start are not qtgen's)"
        try:
            for e in self.entries:
                if not (_plain(e.draft) and _plain(e.target)) or (e.original and "/" in e.original):
                    return "it names a path outside the drafts folder or the content tree"
                if e.original is not None and not re.fullmatch(re.escape(data["id"]) + r"\.\d+\.orig", str(e.original)):
                    return "it names a kept page that is not its own (begin() names them <id>.<n>.orig)"
                self.draft_path(e)
                self.target_path(e)
        except (QtgenError, TypeError, KeyError) as exc:
            return str(exc)
        return None

    # -- life ------------------------------------------------------------------------------------------
    @staticmethod
    def folder(config: Config) -> Path:
        return config.state(JOURNALS)

    @classmethod
    def begin(cls, config: Config, commit: bool, message: str,
              pages: list[tuple[Path, bytes, Path, bytes | None]], *, decisions: list[dict] | None = None,
              lot: str | None = None, override: str | None = None, reviewer: str | None = None) -> "Journal":
        """Record an approval before it acts: (draft, bytes, target, bytes it replaces or None) per page; the
        reviewers' decisions and the lot it publishes, recorded once the pages are (`placement.after_published`);
        the override reason, which a recovery puts in the message it builds again."""
        folder = cls.folder(config)
        txid = now().replace(":", "").replace("-", "") + "-" + secrets.token_hex(4)
        entries = []
        for n, (draft, data, target, original) in enumerate(pages, 1):
            kept = None
            if original is not None:
                kept = f"{txid}.{n}.orig"
                write_atomic(folder / kept, original, within=config.drafts)
            entries.append(Entry(_relative(draft, config.drafts), sha(data), _relative(target, config.content),
                                 sha(original) if original is not None else None, kept))
        import time

        data = {"id": txid, "started": now(), "started_at": time.time(), "pid": os.getpid(), "commit": commit,
                "message": message, "entries": [asdict(e) for e in entries], "decisions": decisions or [],
                "lot": lot, "override": override, "reviewer": reviewer}
        path = write_atomic(folder / f"{txid}.json", json.dumps(data, indent=1, ensure_ascii=False) + "\n",
                            within=config.drafts)
        return cls(config, path, data)

    @classmethod
    def pending(cls, config: Config) -> list["Journal"]:
        folder = cls.folder(config)
        if not folder.is_dir():
            return []
        out = []
        for path in sorted(folder.glob("*.json")):
            try:
                data = json.loads(path.read_text("utf-8"))
                if isinstance(data, dict) and "id" in data and isinstance(data.get("entries"), list):
                    out.append(cls(config, path, data))
            except (OSError, ValueError):
                continue  # half-written by a process killed mid-write: nothing was done after it
        return out

    def mark_undo(self) -> None:
        """From here on this approval is being undone: a recovery finishes the undo, never the approval."""
        self.data["undo"] = True
        write_atomic(self.path, json.dumps(self.data, indent=1, ensure_ascii=False) + "\n", overwrite=True,
                     within=self.config.drafts)

    def close(self) -> None:
        for entry in self.entries:
            if entry.original and "/" not in entry.original:
                (self.path.parent / entry.original).unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)
