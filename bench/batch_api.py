"""The Batch API lane against the online lane, on the same questions, in the same run.

    python bench/batch_api.py [N] [MAX_REQUESTS]      (default 1000 questions; 50,000 lines per file)

Both lanes run `qtgen batch` against the local server of the tests (tests/fake_openai.py): the
online lane's chat requests, the Batch API's files and batches. Prints, for each: drafts written,
requests per question, batches used, HTTP calls, wall time and the cost the run reports with the
same price table (the Batch API lane at half price); then the ratios batch/online.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from fake_openai import FakeOpenAI  # noqa: E402

PRICE = (0.15, 0.60)  # gpt-4o-mini's online price, dollars per million tokens (input, output)


def site(root: Path, n: int, lane: str, max_requests: int) -> Path:
    (root / "drafts").mkdir(parents=True)
    (root / "content" / "learn").mkdir(parents=True)
    (root / "qtgen.toml").write_text(f'model = "test-model"\nretry_wait = 0.05\nbatch_lane = "{lane}"\n'
                                     f'batch_api_poll = 0.2\nbatch_api_max_requests = {max_requests}\n'
                                     f'[prices]\ntest-model = [{PRICE[0]}, {PRICE[1]}]\n')
    lines = ["question,subject"] + [f"What is benchmark topic number {i}?,Economics" for i in range(n)]
    (root / "q.csv").write_text("\n".join(lines) + "\n")
    return root


def run(lane: str, n: int, tmp: Path, max_requests: int = 50_000) -> dict:
    qtgen = str(Path(sys.executable).with_name("qtgen"))
    with FakeOpenAI() as server:
        root = site(tmp / lane, n, lane, max_requests)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "QTGEN_"))}
        env.update(OPENAI_BASE_URL=server.url, OPENAI_API_KEY="bench", XDG_CACHE_HOME=str(tmp), NO_COLOR="1")
        args = [qtgen, "batch", "q.csv", "-c", "16", "--no-related", "--report", "report.jsonl"]
        if lane == "batch-api":
            args.append("--wait")
        started = time.perf_counter()
        r = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        drafted = len(list((root / "drafts").glob("*/*.md")))
        api = server.batch_api
        uploaded = sum(len(f["data"].splitlines()) for f in api.files.values() if f["filename"].startswith("qtgen-"))
        costs = re.findall(r"\$(\d+\.\d{4})", r.stderr)
        report = [json.loads(x) for x in (root / "report.jsonl").read_text().splitlines()]
        return {"lane": lane, "drafted": drafted, "exit": r.returncode, "wall": wall,
                "model_requests": len(server.requests) + uploaded, "batches": len(api.creates),
                "http_calls": len(server.requests) + len(api.uploads) + len(api.creates),
                "cost": float(costs[-1]) if costs else float("nan"),
                "tokens": sum(x["tokens"] for x in report), "stderr": r.stderr[-400:] if r.returncode else ""}


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    max_requests = int(sys.argv[2]) if len(sys.argv) > 2 else 50_000
    with tempfile.TemporaryDirectory() as tmp:
        online = run("online", n, Path(tmp))  # the baseline, measured in this same run
        batch = run("batch-api", n, Path(tmp), max_requests)
    for r in (online, batch):
        print(f"{r['lane']:>9}: {r['drafted']}/{n} drafted, exit {r['exit']}; {r['model_requests'] / n:.2f} request(s) "
              f"per question; {r['batches']} batch(es); {r['http_calls']} HTTP call(s) to send them; "
              f"{r['tokens']:,} tokens; cost ${r['cost']:.4f}; {r['wall']:.1f}s wall")
        if r["stderr"]:
            print(r["stderr"])
    print(f"batch-api / online (baseline: the online lane, same questions, same server, same prices): "
          f"cost {batch['cost'] / online['cost']:.2f} (target 0.50), "
          f"HTTP calls {batch['http_calls'] / online['http_calls']:.4f}, "
          f"wall {batch['wall'] / online['wall']:.2f}")
    return 0 if batch["drafted"] == online["drafted"] == n else 1


if __name__ == "__main__":
    sys.exit(main())
