"""Near-duplicate search on the full 35,915-page site: the site-weighted similarity (qtgen.site.similarity)
against the token-sort ratio it replaced, measured in the same run on the same questions.

    python bench/similarity.py [path/to/learn-full.tar.xz]

Prints, for each: one `similar` search (warm: the model built), all pairs of the site (what `lint` and
`qtgen duplicates` need), and a 10,000-question list checked against the site (what `batch` does before its
first request); and the ratio of the new to the old time.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from corpus import unpack

from qtgen.site import similarity as S
from qtgen.site.index import topic

PROBES = ["Why would you use a try/except statement in Python?", "How has the understanding of the Cold War changed?",
          "How can functions be used in mathematical modeling?", "What causes inflation in an economy?",
          "What is the role of mitochondria in a cell?", "How does CRISPR-Cas9 edit genes?"]


def questions_of(learn: Path) -> list[str]:
    out = []
    for path in sorted(learn.rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        start = text.index("\nquestion: >-\n    ") + len("\nquestion: >-\n    ")
        out.append(text[start:text.index("\n", start)])
    return out


def main() -> int:
    from rapidfuzz import fuzz, process

    learn, tmp = unpack(sys.argv[1] if len(sys.argv) > 1 else None)
    with tmp:
        questions = questions_of(learn)
    print(f"site: {len(questions)} questions")
    started = time.perf_counter()
    model = S.Model([S.terms(q) for q in questions], [S.names(q) for q in questions])
    build = time.perf_counter() - started
    topics = [topic(q) for q in questions]

    def timed(fn, runs=5):
        best = []
        for _ in range(runs):
            started = time.perf_counter()
            fn()
            best.append(time.perf_counter() - started)
        return statistics.median(best)

    new_one = timed(lambda: [model.search(q, 5, 0) for q in PROBES]) / len(PROBES)
    old_one = timed(lambda: [process.extract(topic(q), topics, scorer=fuzz.token_sort_ratio, limit=24)
                             for q in PROBES]) / len(PROBES)
    print(f"similar, one question (warm): new {new_one * 1000:.1f} ms, old {old_one * 1000:.1f} ms, "
          f"ratio {new_one / old_one:.3f}; model built in {build:.2f} s")
    listed = [f"What is the main idea of lesson {i} on {questions[(i * 7) % len(questions)][:60]}?" for i in range(10_000)]
    started = time.perf_counter()
    vectors = [model.vector(S.terms(q)) for q in listed]
    model.cross(vectors, model.vectors, 80)
    model.cross(vectors, vectors, 80, upper=True)
    new_list = time.perf_counter() - started
    sample = listed[:200]  # the old way, one search a row, timed on 200 rows and scaled
    started = time.perf_counter()
    for q in sample:
        process.extract(topic(q), topics, scorer=fuzz.token_sort_ratio, limit=1, score_cutoff=90)
    old_list = (time.perf_counter() - started) * len(listed) / len(sample)
    print(f"10,000-question list against the site and itself: new {new_list:.1f} s, old {old_list:.1f} s "
          f"(estimated from 200 rows), ratio {new_list / old_list:.3f}")
    started = time.perf_counter()
    pairs = model.pairs(80)
    new_pairs = time.perf_counter() - started
    print(f"all pairs of the site at 80: {len(pairs)} pairs in {new_pairs:.1f} s "
          f"(the old way is one search a page: about {old_one * len(questions):.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
