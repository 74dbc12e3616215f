"""The site index over the full tree: cold build, warm refresh, `similar`, memory, related quality.

    python bench/index.py [path/to/learn-full.tar.xz]

Baseline: bare `yaml.load(front matter, Loader=CSafeLoader)` over the same files, in the same run.
Targets: warm refresh under 0.1 of the cold build; `similar` under 0.5 s warm.
Quality: on 100 pages that carry related articles, how many of the site's own five qtgen reproduces.
"""

from __future__ import annotations

import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import yaml
from corpus import unpack

from qtgen.config import Config
from qtgen.format.files import page_files
from qtgen.site.index import SiteIndex
from qtgen.format.reader import parse


def main() -> int:
    learn, tmp = unpack(sys.argv[1] if len(sys.argv) > 1 else None)
    with tmp, tempfile.TemporaryDirectory() as work:
        files = list(page_files(learn))
        started = time.perf_counter()
        for path in files:
            text = path.read_text(encoding="utf-8")
            yaml.load(text[4:text.index("\n---\n")], Loader=yaml.CSafeLoader)
        bare = time.perf_counter() - started

        config = Config(root=Path(work), content_dir=learn, drafts_dir=Path(work) / "drafts")
        index = SiteIndex(config)
        cold = index.refresh()
        warm = index.refresh()
        print(f"index: {cold.read} pages; cold build {cold.seconds:.2f}s, bare CSafeLoader {bare:.2f}s "
              f"(ratio {cold.seconds / bare:.2f}); warm refresh {warm.seconds:.3f}s "
              f"(ratio to cold {warm.seconds / cold.seconds:.3f}, target < 0.1; {warm.read} re-read)")

        index.entries()
        question = "Can you explain how photosynthesis works in plants?"
        index.similar(question)
        runs = []
        for _ in range(5):
            t = time.perf_counter()
            matches = index.similar(question)
            runs.append(time.perf_counter() - t)
        print(f"similar: {min(runs) * 1000:.0f} ms warm (target < 500 ms); top: "
              + "; ".join(f"{m.score:.0f} {m.entry.question[:50]}" for m in matches[:3]))

        rng = random.Random(7)
        with_related = [p for p in files if b"related_article5:" in p.read_bytes()[-3000:]]
        sample = rng.sample(with_related, 100)
        hits = total = 0
        t = time.perf_counter()
        for path in sample:
            page = parse(path.read_text(encoding="utf-8"))
            site = {a.url for a in page.related}
            ours = {e.url for e in index.related(page.question, page.subject, page.seo.page_keywords, page.file_name, page.id)}
            hits += len(site & ours)
            total += len(site)
        per = (time.perf_counter() - t) / len(sample)
        print(f"related: {hits} of {total} site related articles reproduced on 100 pages "
              f"(overlap at 5: {hits / total:.1%}); {per * 1000:.0f} ms per page")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory: {peak:.0f} MB (whole benchmark process)")
        index.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
