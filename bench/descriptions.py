"""How derived SEO descriptions end, on 100 of the site's own answers (the fixtures in ../shared/corpus):

    python bench/descriptions.py [N]

For each answer, the description qtgen writes when the model gives none (the offline model, a reply without one)
and when the model's is too long (its answer's first 300 characters, as a model pasting its opening does), through
`qtgen.format.seo.description` with the site's bounds (70..117 characters). Prints how many end on a sentence's
end, on "…", or mid-phrase (an article, a conjunction or a preposition), and how many fall outside the bounds.
None of the site's 35,915 pages has a description ending in "…".
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from qtgen.format.reader import read  # noqa: E402
from qtgen.format.seo import _TRAILING_WORDS, Bounds, description  # noqa: E402

FIXTURES = REPO.parent / "shared" / "corpus" / "fixtures"


def ending(text: str, bounds: Bounds) -> str:
    if not bounds.desc_min <= len(text) <= bounds.desc_max:
        return "outside 70..117"
    if text.endswith("…"):
        return "…"
    last = text.rstrip(".!?…").rsplit(" ", 1)[-1].lower()
    if last in _TRAILING_WORDS:
        return "mid-phrase"
    return "sentence end" if text.endswith((".", "!", "?")) else "other"


def main(n: int) -> None:
    if not FIXTURES.is_dir():
        sys.exit(f"{FIXTURES}: not found (the corpus lives in ../shared)")
    pages = [read(p) for p in sorted(FIXTURES.rglob("*.md"))][:n]
    bounds = Bounds()
    for case, raw in (("model gave none", lambda p: None), ("model's too long", lambda p: p.decoded_answer()[:300])):
        counts = Counter(ending(description(raw(p), p.answer, bounds, [], p.question), bounds) for p in pages)
        print(f"{case:18s} {len(pages)} answers: " + ", ".join(f"{k} {v}" for k, v in counts.most_common()))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
