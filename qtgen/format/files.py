"""Page files on disk: finding them, and writing them without ever losing one.

A write goes through a temp file in the target's folder and a rename, so a reader never sees a
partial file; without `overwrite` an existing file is never replaced, even in a race. A new file gets
the mode the umask gives (as any program's would, so a site build running as another user reads
it); a replaced file keeps the mode it had.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterable, Iterator

from ..errors import QtgenError
from ..paths import confined, inside  # noqa: F401 - `inside` is part of this module's API

_umask: int | None = None
_umask_lock = threading.Lock()


def page_files(folder: Path) -> Iterator[Path]:
    """Every .md page below `folder` (hidden files and folders, such as temp files, excluded)."""
    for name in page_file_names(folder):
        yield Path(name)


def page_file_names(folder: Path | str) -> Iterator[str]:
    """`page_files` as plain strings (a site holds tens of thousands: no Path object each)."""
    if not os.path.isdir(folder):
        return
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(".md") and not name.startswith("."):
                yield os.path.join(dirpath, name)


def expand(paths: Iterable[Path]) -> list[Path]:
    """Files as given, folders as every page below them."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        out.extend(page_files(p) if p.is_dir() else [p])
    return out


MAX_INPUT = 256 * 1024 * 1024  # bytes read from a file the user names (a question list, a topic list, a listing)


def read_bounded(path: Path | str, limit: int = MAX_INPUT, what: str = "file") -> bytes:
    """A file's bytes, reading at most `limit` (a device such as /dev/zero, a FIFO or a huge file never exhausts
    memory: the size on disk is not trusted, what is read is counted); InputError naming the file otherwise."""
    from ..errors import InputError

    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except IsADirectoryError:
        raise InputError(f"{path}: a folder, not a {what}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise InputError(f"{path}: over {limit:,} bytes; a {what} is smaller than that")
    return data


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


def write_atomic(path: Path, text: str | bytes, *, overwrite: bool = False, mode: int | None = None,
                 within: Path | None = None) -> Path:
    """Write `text` to `path` through a temp file and a rename in the same folder.

    Without `overwrite` the final step is a hard link, which fails if the name is taken; on a
    filesystem without hard links, an exclusive create of the name and then a rename over it.
    With `within`, the write (and any folder it creates) is refused if `path` resolves outside that folder.
    """
    path = Path(path)
    if within is not None:
        confined(path, within)
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        try:
            mode = os.stat(path).st_mode & 0o7777 if overwrite else new_file_mode()
        except FileNotFoundError:
            mode = new_file_mode()
    data = text.encode("utf-8") if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{_owner()}-", suffix=".tmp")
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


# A temp file's name says who writes it: `.<name>.qt<host>p<pid>-<random>.tmp` (host: a hash of the host
# name and pid namespace). A process killed
# between creating it and renaming it (kill -9, power loss) leaves it behind; `sweep_temps` removes
# those whose writer is gone, so a crash never leaves a partial file for long.
_TEMP = re.compile(r"^\..+\.qt([0-9a-f]{6})p(\d+)-[^/]*\.tmp$")
STALE_AFTER = 3600.0  # a temp file of another host (shared folder) is left alone for an hour


def _host() -> str:
    """This machine and pid namespace (a container sharing the folder and the host name has its own)."""
    try:
        namespace = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        namespace = ""
    return hashlib.sha256(f"{socket.gethostname()}\0{namespace}".encode()).hexdigest()[:6]


def _owner() -> str:
    return f"qt{_host()}p{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def sweep_temps(folder: Path, *, recursive: bool = True) -> list[Path]:
    """Remove temp files that a killed qtgen left in `folder`; returns what was removed.

    A temp file of this host is stale once its process is gone; one of another host once it is
    older than an hour. Nothing else is ever touched.
    """
    removed: list[Path] = []
    if not Path(folder).is_dir():
        return removed
    host, now = _host(), time.time()
    walker = os.walk(folder) if recursive else [(str(folder), [], os.listdir(folder))]
    for dirpath, _dirs, names in walker:
        for name in names:
            m = _TEMP.match(name)
            if not m:
                continue
            path = Path(dirpath) / name
            try:
                if m.group(1) == host:
                    stale = int(m.group(2)) != os.getpid() and not _alive(int(m.group(2)))
                else:
                    stale = now - path.lstat().st_mtime > STALE_AFTER
                if stale:
                    path.unlink()
                    removed.append(path)
            except (OSError, ValueError):
                continue
    return removed


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
