"""`qtgen batch` against a local server that enforces a request limit per window and adds latency.

    python bench/batch.py [N] [CONCURRENCY]

Prints the measured wall time against the theoretical bound max(N / rate, N x latency / concurrency)
(target ratio bound/measured >= 0.9, with under 2% of requests answered 429), and the same workload
through a plain sequential loop of single drafts (the library's draft(), one after another).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from fake_openai import FakeOpenAI  # noqa: E402

from qtgen import draft as drafting  # noqa: E402
from qtgen.llm.backend import open_client  # noqa: E402
from qtgen.config import load  # noqa: E402
from qtgen.site.index import open_index  # noqa: E402

LIMIT, WINDOW = 50, 5.0          # the provider: 50 requests per 5 s window = 600 rpm
LATENCY = 0.25                   # seconds per request


def site(root: Path, n: int) -> Path:
    (root / "drafts").mkdir(parents=True)
    (root / "qtgen.toml").write_text('model = "test-model"\nretry_wait = 0.05\n')
    lines = ["question,subject"] + [f"What is benchmark topic number {i}?,Economics" for i in range(n)]
    (root / "q.csv").write_text("\n".join(lines) + "\n")
    return root


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    rate_per_s = LIMIT / WINDOW
    bound = max(n / rate_per_s, n * LATENCY / concurrency)
    qtgen = str(Path(sys.executable).with_name("qtgen"))
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI(latency=LATENCY, rate_window=(LIMIT, WINDOW)) as server:
        root = site(Path(tmp) / "batch", n)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "QTGEN_"))}
        env.update(OPENAI_BASE_URL=server.url, OPENAI_API_KEY="bench", XDG_CACHE_HOME=tmp, NO_COLOR="1")
        started = time.perf_counter()
        r = subprocess.run([qtgen, "-q", "batch", "q.csv", "-c", str(concurrency), "--rpm", str(rate_per_s * 60 * 0.97),
                            "--no-related"], cwd=root, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        drafted = len(list((root / "drafts").glob("*/*.md")))
        requests, throttled = len(server.requests), server.throttled
        print(f"batch: {drafted}/{n} drafted, exit {r.returncode}; {wall:.1f}s wall; theoretical bound {bound:.1f}s "
              f"(limit {LIMIT}/{WINDOW:g}s, latency {LATENCY}s, concurrency {concurrency}); "
              f"ratio bound/measured {bound / wall:.2f} (target >= 0.9); "
              f"429s {throttled}/{requests} = {throttled / max(requests, 1):.1%} (target < 2%)")
        if r.returncode:
            print(r.stderr[-500:])

    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI(latency=LATENCY, rate_window=(LIMIT, WINDOW)) as server:
        root = site(Path(tmp) / "seq", n)
        os.environ.update(OPENAI_BASE_URL=server.url, OPENAI_API_KEY="bench", XDG_CACHE_HOME=tmp)
        config = load(cwd=root)
        started = time.perf_counter()
        with open_client(config) as client, open_index(config) as index:
            for i in range(n):
                planned = drafting.plan(config, f"What is benchmark topic number {i}?", "Economics")
                drafting.draft(config, client, planned, index)
        seq = time.perf_counter() - started
        print(f"sequential loop of single drafts: {seq:.1f}s; ratio bound/measured {bound / seq:.2f}; "
              f"batch is {seq / wall:.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
