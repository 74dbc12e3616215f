"""`qtgen batch` with no flags against a local server that limits requests (or tokens) per window and
sends OpenAI's x-ratelimit-* headers: how close the run comes to the provider's real limit.

    python bench/pacing.py [N]

Three workloads of N=600 questions, 0.2 s latency each:
  requests: the server allows 50 requests per 2 s;
  tokens:   the server allows 50 requests' worth of tokens (prompt + max_tokens) per 2 s;
  two processes: the requests case split over two `qtgen batch` runs started together.
The bound, measured against in the same run, is N / allowed rate (the server's own count of what
a request costs). Targets: at least 0.95 of the bound and under 1% answered 429 for one process;
at least 0.9 and under 2% for two.
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

LATENCY, WINDOW, PER_WINDOW = 0.2, 2.0, 50


def make_site(root: Path, first: int, n: int) -> Path:
    (root / "drafts").mkdir(parents=True)
    (root / "qtgen.toml").write_text('model = "test-model"\nretry_wait = 0.05\n')
    lines = ["question,subject"] + [f"What is benchmark topic number {i}?,Economics" for i in range(first, first + n)]
    (root / "q.csv").write_text("\n".join(lines) + "\n")
    return root


def run(name: str, n: int, processes: int, tokens: bool) -> None:
    qtgen = str(Path(sys.executable).with_name("qtgen"))
    with tempfile.TemporaryDirectory() as tmp:
        probe = {"messages": [{"role": "user", "content": "x" * 2400}], "max_tokens": 1500}
        per_request = FakeOpenAI.token_cost(probe)  # close to what a draft's request costs; measured below
        window = dict(token_window=(PER_WINDOW * per_request, WINDOW)) if tokens else dict(rate_window=(PER_WINDOW, WINDOW))
        with FakeOpenAI(latency=LATENCY, **window) as server:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "QTGEN_"))}
            env.update(OPENAI_BASE_URL=server.url, OPENAI_API_KEY="bench", XDG_CACHE_HOME=tmp, NO_COLOR="1")
            share = n // processes
            sites = [make_site(Path(tmp) / f"site{k}", k * share, share) for k in range(processes)]
            started = time.perf_counter()
            procs = [subprocess.Popen([qtgen, "-q", "batch", "q.csv", "--no-related"], cwd=s, env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for s in sites]
            errs = [p.communicate()[1] for p in procs]
            wall = time.perf_counter() - started
            drafted = sum(len(list((s / "drafts").glob("*/*.md"))) for s in sites)
            requests, throttled = len(server.requests), server.throttled
            if tokens:
                costs = [FakeOpenAI.token_cost(r["body"]) for r in server.requests]
                per_request = sum(costs) / len(costs)
                rate = PER_WINDOW * FakeOpenAI.token_cost(probe) / per_request / WINDOW
            else:
                rate = PER_WINDOW / WINDOW
        bound = n / rate
        print(f"{name:<14} {drafted}/{n} drafted in {wall:5.1f}s; bound N/rate {bound:5.1f}s "
              f"({rate:.1f} req/s); ratio bound/measured {bound / wall:.3f}; 429s {throttled}/{requests} "
              f"= {throttled / max(requests, 1):.2%}")
        for p, err in zip(procs, errs):
            if p.returncode:
                print(f"  exit {p.returncode}: {err.strip()[-300:]}")


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 600
    run("requests", n, 1, False)
    run("tokens", n, 1, True)
    run("two processes", n, 2, False)
    print("targets: one process >= 0.95 with < 1% 429s; two processes >= 0.9 with < 2% 429s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
