"""`qtgen batch` before any request: reading, checking, deduplicating and recording a long list.

    python bench/prepare.py [N] [--site TARBALL]

Prepares N questions (default 10,000; distinct topics, some reworded duplicates) into a fresh ledger,
against an empty site or, with --site, the full site tree (35,915 pages) in the index. Baseline,
measured in the same run: reading the same list (`read_questions`). Target: 10,000 rows in under 3 s
against an empty site; the work per row stays constant as N grows (linear).
"""

from __future__ import annotations

import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from qtgen.config import load  # noqa: E402
from qtgen.batch.run import Batch
from qtgen.batch.options import Options  # noqa: E402
from qtgen.batch.question_list import read_questions  # noqa: E402

WORDS = ("market price supply demand cell energy wave force law court trade tax vote gene atom acid rock "
         "river poem novel king war treaty bank money loan rate risk data code graph proof angle sound light "
         "heat motion orbit star moon soil plant virus brain mind habit memory culture city state power").split()


def questions(n: int, seed: int = 7) -> list[str]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        if i % 50 == 49:  # a reworded duplicate of an earlier question
            out.append("Can you explain " + out[i - 10].removeprefix("What is ").rstrip("?") + "?")
            continue
        words = rnd.sample(WORDS, 4)
        out.append(f"What is the {words[0]} {words[1]} of {words[2]} and {words[3]} number {i}?")
    return out


def run(n: int, learn: Path | None) -> tuple[float, float, dict]:
    root = Path(tempfile.mkdtemp(prefix="qtgen-bench-prepare-"))
    try:
        (root / "qtgen.toml").write_text('model = "test-model"\n')
        (root / "drafts").mkdir()
        if learn is not None:
            (root / "content").mkdir()
            (root / "content" / "learn").symlink_to(learn)
        (root / "q.csv").write_text("question,subject\n" + "".join(f"{q},Economics\n" for q in questions(n)))
        config = load(cwd=root, environ={})
        started = time.perf_counter()
        read_questions(root / "q.csv")
        read_s = time.perf_counter() - started
        with Batch(config) as job:  # the index is built here, outside the timed part
            started = time.perf_counter()
            prepared = job.prepare(root / "q.csv", Options())
            prep_s = time.perf_counter() - started
            counts = job.ledger.counts(prepared.run_id)
        return prep_s, read_s, counts
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    args = sys.argv[1:]
    learn = None
    keep = None
    if "--site" in args:
        at = args.index("--site")
        from corpus import unpack

        learn, keep = unpack(args[at + 1] if len(args) > at + 1 else None)
        del args[at: at + 2]
    n = int(args[0]) if args else 10_000
    for size in sorted({n // 4, n // 2, n}):
        prep_s, read_s, counts = run(size, learn)
        print(f"{size:>6} rows: prepare {prep_s:6.2f}s ({size / prep_s:,.0f} rows/s), reading the list alone "
              f"{read_s:.3f}s (ratio {prep_s / read_s:.1f}x), per row {prep_s / size * 1e6:.0f} us; {counts}")
    print("site:", "full tree" if learn else "empty", "| target: 10,000 rows in under 3 s (empty site), per-row time flat")
    del keep
    return 0


if __name__ == "__main__":
    sys.exit(main())
