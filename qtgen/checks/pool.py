"""Work shared among the machine's cores: chunks mapped in worker processes that end with their parent.

Workers are started with "spawn" (a fresh interpreter: no thread or open database inherited), and each watches
its parent: a parent killed with `kill -9` leaves no worker behind. Where processes cannot be started (a
library script without an `if __name__ == "__main__"` guard, a sandbox), the chunks run in this process.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Callable, Sequence


def _watch(parent: int) -> None:
    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)  # the parent is gone: nobody wants these results
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True, name="qtgen-parent-watch").start()


def workers() -> int:
    return min(4, os.cpu_count() or 1)


def map_chunks(fn: Callable, chunks: Sequence, *args, processes: int | None = None) -> list:
    """[fn(*args, chunk) for chunk in chunks], on `processes` worker processes (default: one a core, up to 4)."""
    processes = workers() if processes is None else processes
    if processes < 2 or len(chunks) < 2:
        return [fn(*args, chunk) for chunk in chunks]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    try:
        with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"), initializer=_watch,
                                 initargs=(os.getpid(),)) as pool:
            return list(pool.map(fn, *([a] * len(chunks) for a in args), chunks))
    except (BrokenProcessPool, RuntimeError, OSError):
        return [fn(*args, chunk) for chunk in chunks]


def map_items(fn: Callable, first, items: list, *, least: int, smallest: int, processes: int | None = None) -> list:
    """fn(first, items) as one list, the items shared among processes in chunks when there are at least `least`
    of them (chunks of `smallest` or more: about eight a process)."""
    processes = workers() if processes is None else processes
    if processes < 2 or len(items) < least:
        return fn(first, items)
    size = max(smallest, len(items) // (processes * 8))
    out: list = []
    for part in map_chunks(fn, [items[i:i + size] for i in range(0, len(items), size)], first, processes=processes):
        out += part
    return out


class Beside:
    """Work done in a thread of this process while it waits for its workers (a sparse product over the index,
    while the workers check the pages): `result()` waits for it, and raises what it raised."""

    def __init__(self, work: Callable) -> None:
        self._box: dict = {}
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True, name="qtgen-beside")
        self._thread.start()

    def _run(self, work: Callable) -> None:
        try:
            self._box["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - raised in the caller by result()
            self._box["error"] = exc

    def result(self):
        self._thread.join()
        if "error" in self._box:
            raise self._box["error"]
        return self._box["value"]
