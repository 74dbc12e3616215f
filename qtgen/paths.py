"""Where qtgen may write: every write into the drafts folder (drafts, rejections, versions, journals, SQLite
files, locks) resolves its real path first and is refused if a symlink leads it outside the folder's real
path, so nothing in `drafts/` can make qtgen write into the site's content tree (or anywhere else)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import InputError


def inside(path: Path, folder: Path) -> bool:
    """Whether `path` lies inside `folder` once both are resolved (symlinks and `..` followed)."""
    path, folder = Path(path), Path(folder)
    if _plainly_below(path, folder):
        return True
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):
        return False


def _plainly_below(path: Path, folder: Path) -> bool:
    """The fast answer, a few lstat calls instead of resolving every component from /: `path` is written below
    `folder` (no `..`) and nothing between them is a symlink. False means "ask resolve", not "outside"."""
    try:
        rel = path.relative_to(folder)
    except ValueError:
        return False
    if ".." in rel.parts:
        return False
    probe = folder
    for part in rel.parts:
        probe = probe / part
        try:
            if stat.S_ISLNK(os.lstat(probe).st_mode):
                return False
        except FileNotFoundError:
            return True  # nothing further exists, so nothing further can be a link
        except OSError:
            return False
    return True


def _symlink_on_the_way(path: Path, root: Path) -> Path | None:
    """The first symlink between `root` and `path` (or `path` itself), if any."""
    try:
        rel = Path(path).relative_to(root)
    except ValueError:
        return None
    probe = Path(root)
    for part in rel.parts:
        probe = probe / part
        if probe.is_symlink():
            return probe
    return None


def confined(path: Path, root: Path) -> Path:
    """`path`, if its real path lies inside `root`'s real path; otherwise InputError in one line."""
    path = Path(path)
    if inside(path, root):
        return path
    link = _symlink_on_the_way(path, Path(root))
    try:
        real = path.resolve()
    except (OSError, RuntimeError):
        real = path
    how = f" through the symlink {link}" if link is not None else ""
    raise InputError(f"{path}: leads outside {root}{how} (to {real}); qtgen writes only inside {root}, "
                     "never through a symlink out of it: remove the link")
