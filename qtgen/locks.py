"""Locks between qtgen processes and threads: an fcntl lock on a file, waited for with a message and a timeout.

    with Lock(path, "another approval of this site", timeout=120, notify=print):
        ...

The holder writes who it is (host, pid, command, since) into the file, so a waiting process can say whom it
waits for. A lock is re-entrant within one thread (approve holds the drafts lock and saves versions under
it); another thread of the same process waits like another process does. A lock dies with its holder, so
kill -9 never leaves one behind.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from .errors import InputError, QtgenError

_held: dict[str, tuple[int, int]] = {}  # path -> (thread id, depth), for re-entry by the holding thread
_held_lock = threading.Lock()


class LockTimeout(QtgenError):
    """Another qtgen held the lock for longer than the timeout."""


class Lock:
    def __init__(self, path: Path, what: str, *, timeout: float = 120.0,
                 notify: Callable[[str], None] | None = None, poll: float = 0.05,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.path = Path(path)
        self.what = what
        self.timeout = timeout
        self.notify = notify
        self.poll = poll
        self.clock = clock
        self.sleep = sleep
        self._fh = None

    def __enter__(self) -> "Lock":
        key = str(self.path)
        me = threading.get_ident()
        with _held_lock:
            holder = _held.get(key)
            if holder and holder[0] == me:
                _held[key] = (me, holder[1] + 1)
                return self
        fh = open_lock_file(self.path)
        start, told = self.clock(), False
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pass
            waited = self.clock() - start
            if waited >= self.timeout:
                fh.close()
                raise LockTimeout(f"{self.what} ({self.holder()}) still holds {self.path.name} after "
                                  f"{self.timeout:.0f} s; nothing was done, try again when it has finished")
            if not told and self.notify is not None:
                self.notify(f"waiting for {self.what} ({self.holder()}) to finish, up to {self.timeout:.0f} s")
                told = True
            self.sleep(self.poll)
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "since": time.time(),
                             "command": " ".join(os.path.basename(a) for a in sys.argv[:2])}))
        fh.flush()
        self._fh = fh
        with _held_lock:
            _held[key] = (me, 1)
        return self

    def __exit__(self, *exc) -> None:
        key = str(self.path)
        with _held_lock:
            me, depth = _held[key]
            if depth > 1:
                _held[key] = (me, depth - 1)
                return
            del _held[key]
        fh, self._fh = self._fh, None
        if fh is not None:
            try:
                fcntl.flock(fh, fcntl.LOCK_UN)
            finally:
                fh.close()

    def holder(self) -> str:
        """Who holds the lock, as far as its file says."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8") or "{}")
            return f"pid {data['pid']} on {data['host']}" + (f", {data['command']}" if data.get("command") else "")
        except (OSError, ValueError, KeyError, TypeError):
            return "another process"

    @staticmethod
    def held_here(path: Path) -> bool:
        """Whether this thread holds the lock on `path`."""
        with _held_lock:
            holder = _held.get(str(path))
        return bool(holder and holder[0] == threading.get_ident())


def open_lock_file(path: Path):
    """A lock file opened for reading and writing, never through a symlink and never a file with other names
    (a hard link to a page): writing who holds the lock must not overwrite anything else."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(f"{path}: a symlink where qtgen keeps a lock; remove it") from None
        raise InputError(f"{path}: cannot open the lock file ({exc.strerror})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        raise InputError(f"{path}: not a lock file of qtgen's own (it is linked to another file); remove it")
    return os.fdopen(fd, "r+", encoding="utf-8")


def try_lock(path: Path, what: str) -> Lock | None:
    """The lock if it is free right now, else None (for work that another holder makes unnecessary)."""
    lock = Lock(path, what, timeout=0.0)
    try:
        return lock.__enter__()
    except LockTimeout:
        return None
