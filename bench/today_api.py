"""Today's API on gpt-6-luna: the requests each workflow makes, with which parameters, how often refused, and the
cost qtgen prints against the published price of the tokens the server counted.

    python bench/today_api.py [N]      (default: a 100-question batch and Batch API run)

Runs `qtgen draft`, `qtgen batch` (online), `qtgen batch --via batch-api` and `qtgen judge --all` against the local
server of the tests (tests/fake_openai.py answering as OpenAI documents for its current models: reasoning models
refuse max_tokens and any temperature but 1, spend reasoning tokens inside max_completion_tokens, answer with dated
names), then a run on an exhausted quota. Published price (genai-prices' data, as OpenAI lists it): gpt-6-luna
$0.10 in / $0.50 out per million tokens online, $0.05 / $0.25 through the Batch API.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from fake_openai import JUDGE_MARK, FakeOpenAI  # noqa: E402

ONLINE, BATCH = (0.10, 0.50), (0.05, 0.25)
MODEL = "gpt-6-luna"


def qtgen(root: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qtgen", *args], cwd=root, env=env, capture_output=True, text=True)


def params(body: dict) -> str:
    keys = [k for k in ("max_tokens", "max_completion_tokens", "temperature", "reasoning_effort") if k in body]
    return ", ".join(f"{k}={body[k]}" for k in keys)


def priced(tokens_in: int, tokens_out: int, price: tuple[float, float]) -> float:
    return (tokens_in * price[0] + tokens_out * price[1]) / 1e6


def printed_cost(text: str) -> str:
    found = re.findall(r"\$(\d+\.\d+)", text)
    return found[-1] if found else "-"


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI(models=(MODEL,)) as server:
        root = Path(tmp) / "site"
        (root / "drafts").mkdir(parents=True)
        (root / "content" / "learn").mkdir(parents=True)
        (root / "qtgen.toml").write_text(f'model = "{MODEL}"\nretry_wait = 0.05\nbatch_api_poll = 0.1\n')
        (root / "q.csv").write_text("question,subject\n" + "".join(f"What is trade idea {i}?,Economics\n" for i in range(n)))
        (root / "b.csv").write_text("question,subject\n" + "".join(f"What is money idea {i}?,Economics\n" for i in range(n)))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "QTGEN_"))}
        env.update(OPENAI_BASE_URL=server.url, OPENAI_API_KEY="sk-bench", XDG_CACHE_HOME=str(Path(tmp) / "cache"),
                   NO_COLOR="1")
        rows = []

        def step(name: str, *args: str) -> None:
            before, refused_before = len(server.requests), len(server.refused)
            files_before = set(server.batch_api.files)
            lines_before = len(server.batch_api.answered)
            r = qtgen(root, env, *args)
            bodies = [x["body"] for x in server.requests[before:]]
            uploaded = [f for k, f in server.batch_api.files.items() if k not in files_before
                        and not f["filename"].startswith("batch-")]  # request files, not results
            bodies += [json.loads(x)["body"] for f in uploaded for x in f["data"].decode().splitlines()]
            shapes = Counter(params(b) for b in bodies)
            rows.append((name, r.returncode, len(server.requests) - before + len(server.batch_api.answered) - lines_before,
                         len(server.refused) - refused_before, "; ".join(f"{c} x {s}" for s, c in shapes.items()),
                         printed_cost(r.stderr)))

        step("draft", "draft", "What is a tariff?", "-s", "Economics")
        step(f"batch of {n} (online)", "batch", "q.csv", "-c", "8")
        step(f"batch of {n} (Batch API)", "batch", "b.csv", "--via", "batch-api", "--wait")
        judged_before = len([x for x in server.requests if JUDGE_MARK in json.dumps(x["body"].get("messages"))])
        step("judge --all (online)", "judge", "--all", "--concurrency", "8")
        db = sqlite3.connect(root / "drafts/.qtgen/batch.sqlite")
        db.row_factory = sqlite3.Row
        for lane, price in (("online", ONLINE), ("batch-api", BATCH)):
            t = db.execute("SELECT SUM(tokens_in) i, SUM(tokens_out) o, SUM(tokens_reasoning) r FROM items WHERE lane = ?",
                           (lane,)).fetchone()
            print(f"ledger, {lane}: {t['i']} tokens in, {t['o']} out ({t['r']} of them reasoning): "
                  f"${priced(t['i'], t['o'], price):.4f} at the published price")
        graded = [x for x in server.requests if JUDGE_MARK in json.dumps(x["body"].get("messages"))][judged_before:]
        print(f"judge: {len(graded)} grades, {sum(120 for _ in graded)} tokens in and "
              f"{sum(480 + 256 for _ in graded)} out as the server counts: ${priced(120 * len(graded), 736 * len(graded), ONLINE):.4f}"
              " at the published price")
        print()
        print(f"{'what':<26} {'exit':>4} {'requests':>8} {'refused':>7}  cost printed  parameters sent")
        for name, code, requests, refused, shapes, cost in rows:
            print(f"{name:<26} {code:>4} {requests:>8} {refused:>7}  ${cost:<11}  {shapes}")
        print()
        server.quota_exhausted = True
        (root / "c.csv").write_text("question,subject\n" + "".join(f"What is quota idea {i}?,Economics\n" for i in range(6)))
        for args in (("draft", "What is a quota?", "-s", "Economics"), ("batch", "c.csv", "-c", "1"), ("limits",)):
            before = len(server.requests)
            r = qtgen(root, env, *args)
            last = [x for x in r.stderr.strip().splitlines() if x.strip()][-1:]
            print(f"exhausted quota, qtgen {' '.join(args[:1])}: exit {r.returncode}, {len(server.requests) - before} "
                  f"request(s); last line: {last[0][:150] if last else ''}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
