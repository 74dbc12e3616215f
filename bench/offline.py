"""The offline model (SmolLM2-135M, `qtgen[local]`) as README command 1 uses it: 20 questions across
subjects, each a real `qtgen draft` (server start included), with its time and what lint finds.

    python bench/offline.py [N]

Baseline measured in the same run: starting the local model's server alone (what every command pays).
Target: a median under 15 s a draft, answers on the question with no debris (no QT017-QT022 error).
Also compares the two ways of getting the SEO description for a small model: derived from the answer
(what qtgen does) and asked for in a second short request.
"""

from __future__ import annotations

import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTIONS = [
    ("How does the WTO engage with NGOs?", "Economics"), ("What causes inflation?", "Economics"),
    ("What is opportunity cost?", "Economics"), ("What is photosynthesis?", "Biology"),
    ("How does a vaccine work?", "Biology"), ("What is the function of the mitochondria?", "Biology"),
    ("What is Newton's second law of motion?", "Physics"), ("What is kinetic energy?", "Physics"),
    ("How do solar panels generate electricity?", "Physics"), ("What is a covalent bond?", "Chemistry"),
    ("What is the pH scale?", "Chemistry"), ("What is an algorithm?", "Computer Science"),
    ("What is a database index?", "Computer Science"), ("What caused the French Revolution?", "History"),
    ("Why did the Roman Empire fall?", "History"), ("What is the Pythagorean theorem?", "Mathematics"),
    ("What is a prime number?", "Mathematics"), ("What is cognitive dissonance?", "Psychology"),
    ("What is the water cycle?", "Geography"), ("What is a metaphor?", "English Literature"),
]
GATE = {"QT017", "QT018", "QT019", "QT020", "QT021", "QT022"}


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    qtgen = str(Path(sys.executable).with_name("qtgen"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "QTGEN_"))}
    from qtgen.config import load
    from qtgen.llm import local_model

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "drafts").mkdir()
        started = time.perf_counter()
        with local_model.serve(load(cwd=root, environ={})):
            server_s = time.perf_counter() - started
        times, rules, failed = [], collections.Counter(), []
        for question, subject in QUESTIONS[:n]:
            started = time.perf_counter()
            r = subprocess.run([qtgen, "-q", "draft", question, "-s", subject], cwd=root, env=env,
                               capture_output=True, text=True)
            times.append(time.perf_counter() - started)
            if r.returncode:
                failed.append(f"{question}: {r.stderr.strip()}")
        lint = subprocess.run([qtgen, "lint", "--json", "--no-index", "drafts"], cwd=root, env=env, capture_output=True,
                              text=True)
        findings = json.loads(lint.stdout)["findings"] if lint.stdout else []
        per_page = collections.defaultdict(set)
        for f in findings:
            rules[f"{f['rule']} {f['level']}"] += 1
            per_page[Path(f["path"]).name].add(f["rule"])
        gated = [p for p, r in per_page.items() if r & GATE]
        drafts = sorted((root / "drafts").glob("*/*.md"))
        print(f"offline drafts: {len(drafts)}/{n} written; per draft median {statistics.median(times):.1f}s, "
              f"max {max(times):.1f}s (target median < 15 s); server start alone {server_s:.1f}s "
              f"(median / server start {statistics.median(times) / server_s:.1f}x)")
        print(f"lint over them: {dict(sorted(rules.items()))}; drafts with a quality-gate error: {len(gated)} {gated}")
        for line in failed:
            print("  failed:", line)
        from qtgen.format.reader import read

        asked_lengths, derived_lengths = [], []
        with local_model.serve(load(cwd=root, environ={})) as settings:
            from openai import OpenAI

            client = OpenAI(base_url=settings.base_url, api_key="none")
            for path in drafts:
                page = read(path)
                derived_lengths.append(len(page.seo.page_description))
                r = client.chat.completions.create(model=settings.model, max_tokens=60, temperature=0.2, messages=[
                    {"role": "user", "content": f"Write one sentence, under 110 characters, describing an article "
                                                f"that answers: {page.question}"}])
                asked_lengths.append(len((r.choices[0].message.content or "").strip()))
        over = sum(1 for x in asked_lengths if x > 117)
        print(f"description derived from the answer: median {statistics.median(derived_lengths):.0f} chars, all within "
              f"70..117; asked in a second request: median {statistics.median(asked_lengths):.0f} chars, {over} of "
              f"{len(asked_lengths)} over 117 (cut)")
        for path in drafts[:2]:
            page = read(path)
            print(f"\n--- {page.question} ({page.subject})\ndescription: {page.seo.page_description}\n"
                  f"keywords: {page.seo.page_keywords}\n{page.decoded_answer()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
