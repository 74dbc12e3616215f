"""The allow-list (`qtgen.site.sanitise`) over the whole site: what it changes, and what it costs.

    python bench/sanitise.py [path/to/learn-full.tar.xz]

Every page of the full 35,915-page tree is rendered as the site renders it (math by the real KaTeX); the
renderer's own HTML and the HTML after the allow-list must be the same page (the canonical form of
tests/htmlcanon.py: what a reader sees), and the allow-list must find nothing to remove (`unshown`).
Baseline for the cost: the rendering itself, measured in the same run on the same pages.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from corpus import unpack  # noqa: E402
from htmlcanon import canonical  # noqa: E402

from qtgen.format.reader import read  # noqa: E402
from qtgen.site.render import _parser, decode  # noqa: E402
from qtgen.site.sanitise import clean, unshown  # noqa: E402


def main() -> None:
    learn, tmp = unpack(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    with tmp:
        files = sorted(learn.rglob("*.md"))
        md = _parser()
        rendered, render_s, clean_s = [], 0.0, 0.0
        for path in files:
            text = decode(read(path).answer)
            started = time.perf_counter()
            raw = md.render(text, {})
            render_s += time.perf_counter() - started
            started = time.perf_counter()
            out = clean(raw)
            clean_s += time.perf_counter() - started
            rendered.append((path, raw, out))
        changed = [p for p, raw, out in rendered if canonical(raw) != canonical(out)]
        flagged = [(p, unshown(raw)) for p, raw, _ in rendered if unshown(raw)]
        same_bytes = sum(raw == out for _, raw, out in rendered)
    print(f"pages: {len(files)}")
    print(f"changed by the allow-list (as a reader sees them): {len(changed)}")
    for p in changed[:5]:
        print(f"  {p.relative_to(learn)}")
    print(f"markup off the allow-list in the renderer's output: {len(flagged)}")
    for p, what in flagged[:5]:
        print(f"  {p.relative_to(learn)}: {what}")
    print(f"byte-identical after the allow-list: {same_bytes} (the rest differ only in serialisation)")
    print(f"render (baseline) {render_s:.1f}s, allow-list {clean_s:.1f}s: ratio {clean_s / render_s:.3f}")


if __name__ == "__main__":
    main()
