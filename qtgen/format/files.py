"""Page files on disk: finding them, and writing them without ever losing one.

A write goes through a temp file in the target's folder and a rename, so a reader never sees a
partial file; without `overwrite` an existing file is never replaced, even in a race. A new file gets
the mode the umask gives (as any program's would, so a site build running as another user reads
it); a replaced file keeps the mode it had.
"""

from __future__ import annotations

import errno
import os
import tempfile
import threading
from pathlib import Path
from typing import Iterable, Iterator

from ..errors import QtgenError

_umask: int | None = None
_umask_lock = threading.Lock()


def page_files(folder: Path) -> Iterator[Path]:
    """Every .md page below `folder` (hidden files and folders, such as temp files, excluded)."""
    if not folder.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(".md") and not name.startswith("."):
                yield Path(dirpath) / name


def expand(paths: Iterable[Path]) -> list[Path]:
    """Files as given, folders as every page below them."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        out.extend(page_files(p) if p.is_dir() else [p])
    return out


def umask() -> int:
    """The process umask (read once: reading it means setting it)."""
    global _umask
    with _umask_lock:
        if _umask is None:
            _umask = os.umask(0o022)
            os.umask(_umask)
        return _umask


def new_file_mode() -> int:
    return 0o666 & ~umask()


def inside(path: Path, folder: Path) -> bool:
    """Whether `path` lies inside `folder` once both are resolved (symlinks and `..` followed)."""
    try:
        return Path(path).resolve().is_relative_to(Path(folder).resolve())
    except (OSError, RuntimeError):
        return False


def write_atomic(path: Path, text: str | bytes, *, overwrite: bool = False, mode: int | None = None) -> Path:
    """Write `text` to `path` through a temp file and a rename in the same folder.

    Without `overwrite` the final step is a hard link, which fails if the name is taken; on a
    filesystem without hard links, an exclusive create of the name and then a rename over it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        try:
            mode = os.stat(path).st_mode & 0o7777 if overwrite else new_file_mode()
        except FileNotFoundError:
            mode = new_file_mode()
    data = text.encode("utf-8") if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_new(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    _fsync_dir(path.parent)
    return path


def _exists(path: Path) -> QtgenError:
    return QtgenError(f"{path}: already exists; not overwritten (use --force to replace it)")


def _link_new(tmp: str, path: Path) -> None:
    try:
        os.link(tmp, path)
        return
    except FileExistsError:
        raise _exists(path) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV, errno.ENOSYS):
            raise
    # No hard links here (FAT, some network filesystems): claim the name exclusively, then rename over it.
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise _exists(path) from None
    os.replace(tmp, path)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
