"""How many of the site's pages each exact repair of `qtgen fix` would change (nothing is written).

    python bench/fixable.py [TARBALL]

Counts, over the full site tree, the pages whose answer has currency dollars the site typesets as math
(QT012), LaTeX commands starting with \\n in math (QT006), a description over the configured bound (QT009)
and repeated keywords; and, for the pages repaired, how many lint no longer flags for that rule. Baseline
measured in the same run: reading and parsing the same pages.
"""

from __future__ import annotations

import collections
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import unpack  # noqa: E402

from qtgen.config import Config  # noqa: E402
from qtgen.format.reader import read  # noqa: E402
from qtgen.checks.lint import lint_page  # noqa: E402
from qtgen.drafting.revision import repaired  # noqa: E402


def main() -> int:
    learn, keep = unpack(sys.argv[1] if len(sys.argv) > 1 else None)
    config = Config(root=learn.parent, content_dir=learn)
    files = sorted(learn.rglob("*.md"))
    started = time.perf_counter()
    pages = [(p, read(p)) for p in files]
    parse_s = time.perf_counter() - started
    counts, cleared, flagged = collections.Counter(), collections.Counter(), collections.Counter()
    started = time.perf_counter()
    for path, page in pages:
        repair = repaired(config, page)
        kinds = {c.split(":")[0] for c in repair.changes}
        counts.update(kinds)
        if kinds & {"QT006", "QT012", "QT009"}:
            before = {f.rule for f in lint_page(page, config)}
            after = {f.rule for f in lint_page(repair.page, config)}
            for rule in kinds & {"QT006", "QT012", "QT009"}:
                flagged[rule] += rule in before
                cleared[rule] += rule in before and rule not in after
    fix_s = time.perf_counter() - started
    print(f"{len(files)} pages; parsing {parse_s:.1f}s, repairing {fix_s:.1f}s ({fix_s / parse_s:.1f}x parsing)")
    for kind in ("QT012", "QT006", "QT009", "keywords"):
        extra = f"; lint flagged {flagged[kind]}, no longer flags {cleared[kind]}" if kind in flagged else ""
        print(f"  {kind:<9} {counts[kind]:>6} page(s) would be repaired{extra}")
    del keep
    return 0


if __name__ == "__main__":
    sys.exit(main())
