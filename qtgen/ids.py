"""Page ids: the highest id in the content tree and drafts, read from each file's second line."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterator

_ID = re.compile(rb"^---\n_schema: [^\n]*\nid: (-?\d+)\n")


def page_files(folder: Path) -> Iterator[Path]:
    """Every .md page below `folder` (drafts' hidden temp files excluded)."""
    if not folder.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(".md") and not name.startswith("."):
                yield Path(dirpath) / name


def read_id(path: Path) -> int | None:
    """The id on a page's second line without parsing the whole file."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(128)
    except OSError:
        return None
    match = _ID.match(head)
    return int(match.group(1)) if match else None


def highest_id(folders: list[Path]) -> int | None:
    best = None
    for folder in folders:
        for path in page_files(folder):
            value = read_id(path)
            if value is not None and (best is None or value > best):
                best = value
    return best


def next_id(folders: list[Path], start: int | None = None) -> int:
    """One above the highest id found, or `start` if that is higher (or nothing was found)."""
    top = highest_id(folders)
    candidates = [c for c in (None if top is None else top + 1, start) if c is not None]
    return max(candidates) if candidates else 1
