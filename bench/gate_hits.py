"""Each lint rule's hits on the site's own pages: how many of the 35,915 published pages (and the fixtures) it flags,
with a sample of its messages to read, so a change to a rule is measured before it lands.

    python bench/gate_hits.py [--json OUT] [--sample N] [TARBALL]

Every page is linted in this process (no kept findings, no workers), one rule at a time, as `qtgen lint` would.
The site's pages were published and read by people: an error rule's hits on them are mostly false alarms, worth
reading one by one. With --json the counts and samples are written for a later comparison (run it on two commits
and compare the files).
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import REPO, unpack  # noqa: E402

from qtgen.config import Config  # noqa: E402
from qtgen.format.reader import read  # noqa: E402
from qtgen.checks.lint import RULES  # noqa: E402


def hits(config: Config, files: list[Path], sample: int, seed: int = 7) -> dict:
    found: dict[str, list[tuple[str, str]]] = collections.defaultdict(list)
    for path in files:
        try:
            page = read(path)
        except Exception:  # noqa: BLE001 - a page qtgen cannot read is not a rule's hit
            continue
        for rule in RULES:
            try:
                message = rule.check(page, config)
            except Exception as exc:  # noqa: BLE001 - a crash is a hit worth seeing
                message = f"crash: {type(exc).__name__}: {exc}"
            if message:
                found[rule.id].append((path.name, message))
    rng = random.Random(seed)
    return {rule.id: {"name": rule.name, "level": rule.level, "hits": len(found[rule.id]),
                      "sample": rng.sample(found[rule.id], min(sample, len(found[rule.id])))} for rule in RULES}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("tarball", nargs="?")
    parser.add_argument("--json")
    parser.add_argument("--sample", type=int, default=8)
    args = parser.parse_args()
    learn, keep = unpack(args.tarball)
    config = Config(root=learn.parent, content_dir=learn)
    tree = sorted(learn.rglob("*.md"))
    tarball = Path(args.tarball) if args.tarball else REPO.parent / "shared" / "corpus" / "learn-full.tar.xz"
    fixtures = sorted((tarball.parent / "fixtures").rglob("*.md"))
    out = {"tree": hits(config, tree, args.sample), "fixtures": hits(config, fixtures, args.sample),
           "pages": len(tree), "fixture_pages": len(fixtures)}
    print(f"{'rule':<26} {'level':<8} {'tree (' + str(len(tree)) + ')':>14} {'fixtures (' + str(len(fixtures)) + ')':>15}")
    for rule in RULES:
        t, f = out["tree"][rule.id], out["fixtures"][rule.id]
        print(f"{rule.id} {rule.name:<21} {rule.level:<8} {t['hits']:>14,} {f['hits']:>15,}")
    for rule in RULES:
        t = out["tree"][rule.id]
        if t["hits"] and rule.level == "error":
            print(f"\n{rule.id} {rule.name}: a sample of {len(t['sample'])}")
            for name, message in t["sample"]:
                print(f"  {name}: {message[:150]}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
