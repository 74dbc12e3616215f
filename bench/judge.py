"""What judging costs against what drafting costs, per page, online and through the Batch API, in the same run.

    python bench/judge.py [N] [TARBALL]        (default 100 pages drawn from the full site tree)

N published pages are drawn at random (seed 1) from the full 35,915-page tree (read from ../shared, never copied
into the project). Their questions are drafted with `qtgen batch` and the drafts judged with `qtgen judge`, against
the local server of the tests (tests/fake_openai.py), which answers each question with the site's own answer
(so the judge reads answers of the site's real length) and reports tokens as the characters of the request and
the reply divided by 4. Twice: once online, once through the Batch API (`batch_lane = "batch-api"`,
`judge --via batch-api`). Prices: gpt-4o-mini's (0.15 / 0.60 dollars per million tokens online, half through the
Batch API). Prints tokens and dollars per page for each, and the judge/draft ratios.

The fake judge's reply is its short grade (five criteria with one-line reasons, no issue for these pages): a real
judge that lists issues writes more; each quoted issue adds about 60 output tokens (shown as a second figure).
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import unpack  # noqa: E402
from fake_openai import FakeOpenAI  # noqa: E402

PRICE = (0.15, 0.60)
ISSUE_TOKENS = 60


def pages(learn: Path, n: int) -> list:
    from qtgen.format.reader import read

    files = sorted(learn.rglob("*.md"))
    random.Random(1).shuffle(files)
    chosen, seen = [], set()
    for path in files:
        page = read(path)
        if page.question.casefold() in seen or "," in page.subject or '"' in page.question:
            continue
        seen.add(page.question.casefold())
        chosen.append(page)
        if len(chosen) == n:
            break
    return chosen


def site(root: Path, lane: str, chosen: list) -> Path:
    (root / "drafts").mkdir(parents=True)
    (root / "content" / "learn").mkdir(parents=True)
    (root / "qtgen.toml").write_text(f'model = "test-model"\nretry_wait = 0.05\nbatch_lane = "{lane}"\n'
                                     f'batch_api_poll = 0.1\n[prices]\ntest-model = [{PRICE[0]}, {PRICE[1]}]\n')
    rows = ["question,subject"] + [f'"{p.question}",{p.subject}' for p in chosen]
    (root / "q.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


def qtgen(args: list[str], root: Path, server: FakeOpenAI) -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "QTGEN_"))},
           "OPENAI_BASE_URL": server.url, "OPENAI_API_KEY": "sk-bench", "XDG_CACHE_HOME": str(root / ".cache")}
    r = subprocess.run([sys.executable, "-m", "qtgen", *args], cwd=root, env=env, capture_output=True, text=True)
    if r.returncode not in (0, 1):
        sys.exit(f"qtgen {' '.join(args)}: {r.stderr[-400:]}")
    return r


def measure(lane: str, chosen: list, tmp: Path) -> dict:
    answers = {p.question: p for p in chosen}

    def reply(question, subject, body):
        p = answers.get(question)
        if p is None:
            return {"answer": "", "page_description": "", "page_keywords": []}
        return {"answer": p.decoded_answer(), "page_description": p.seo.page_description,
                "page_keywords": [k.strip() for k in p.seo.page_keywords.split(",")]}

    root = site(tmp / lane, lane, chosen)
    with FakeOpenAI(reply=reply) as server:
        server.measure_usage = True
        qtgen(["batch", "q.csv"] + (["--wait"] if lane == "batch-api" else []), root, server)
        runs = json.loads(qtgen(["runs", "--json"], root, server).stdout)
        via = ["--via", "batch-api", "--wait"] if lane == "batch-api" else []
        qtgen(["judge", "--all", *via], root, server)
    ledger = sqlite3.connect(root / "drafts" / ".qtgen" / "batch.sqlite")
    drafted = ledger.execute("SELECT count(*), sum(tokens_in), sum(tokens_out) FROM items WHERE state = 'done'").fetchone()
    judged = sqlite3.connect(root / "drafts" / ".qtgen" / "judgments.sqlite").execute(
        "SELECT count(*), sum(tokens_in), sum(tokens_out), sum(cost) FROM judgments").fetchone()
    return {"drafted": drafted[0], "draft_in": drafted[1] / drafted[0], "draft_out": drafted[2] / drafted[0],
            "draft_cost": sum(r["cost"] for r in runs) / drafted[0], "judged": judged[0],
            "judge_in": judged[1] / judged[0], "judge_out": judged[2] / judged[0], "judge_cost": judged[3] / judged[0]}


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    learn, tree = unpack(sys.argv[2] if len(sys.argv) > 2 else None)
    with tree, tempfile.TemporaryDirectory(prefix="qtgen-bench-judge-") as tmp:
        chosen = pages(learn, n)
        print(f"{len(chosen)} pages drawn from {sum(1 for _ in learn.rglob('*.md'))} (seed 1); "
              f"tokens = characters / 4; prices {PRICE[0]} / {PRICE[1]} $ per 1M tokens online, half in batches")
        results = {lane: measure(lane, chosen, Path(tmp)) for lane in ("online", "batch-api")}
    print(f"{'per page':22s}{'tokens in':>10s}{'tokens out':>11s}{'dollars':>12s}")
    for lane, m in results.items():
        print(f"{'draft, ' + lane:22s}{m['draft_in']:10.0f}{m['draft_out']:11.0f}{m['draft_cost']:12.6f}"
              f"   ({m['drafted']} drafted)")
        print(f"{'judge, ' + lane:22s}{m['judge_in']:10.0f}{m['judge_out']:11.0f}{m['judge_cost']:12.6f}"
              f"   ({m['judged']} judged)")
    for lane, m in results.items():
        price = (PRICE[1] if lane == "online" else PRICE[1] / 2) / 1e6
        print(f"{lane}: judging costs {m['judge_cost'] / m['draft_cost']:.2f}x drafting "
              f"(with 3 quoted issues a page: {(m['judge_cost'] + 3 * ISSUE_TOKENS * price) / m['draft_cost']:.2f}x); "
              f"judge input / draft input {m['judge_in'] / m['draft_in']:.2f}x")
    online, api = results["online"], results["batch-api"]
    print(f"batch-api / online: drafting {api['draft_cost'] / online['draft_cost']:.2f}x, judging "
          f"{api['judge_cost'] / online['judge_cost']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
