"""`qtgen validate` throughput and `qtgen --help` start-up, each against a baseline in the same run.

    python bench/validate.py [path/to/learn-full.tar.xz]

Baselines: bare `yaml.load(front matter, Loader=CSafeLoader)` over the same files (target: qtgen at
least 0.70 of its throughput), and `python -c "import yaml"` (target: `qtgen --help` under 3x its time).
Both sides run as fresh subprocesses, alternating, best of three.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from corpus import unpack

BARE = """
import sys, os, yaml
n = 0
for root, dirs, files in os.walk(sys.argv[1]):
    for name in files:
        if name.endswith('.md'):
            text = open(os.path.join(root, name), encoding='utf-8').read()
            yaml.load(text[4:text.index('\\n---\\n')], Loader=yaml.CSafeLoader)
            n += 1
print(n)
"""


def timed(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def best(cmd: list[str], runs: int) -> float:
    return min(timed(cmd) for _ in range(runs))


def main() -> int:
    qtgen = shutil.which("qtgen") or str(Path(sys.executable).with_name("qtgen"))
    learn, tmp = unpack(sys.argv[1] if len(sys.argv) > 1 else None)
    with tmp:
        count = sum(1 for _ in learn.rglob("*.md"))
        bare_cmd = [sys.executable, "-c", BARE, str(learn)]
        ours_cmd = [qtgen, "-q", "validate", "--errors-only", str(learn)]
        bare, ours = [], []
        for _ in range(3):
            bare.append(timed(bare_cmd))
            ours.append(timed(ours_cmd))
        b, o = min(bare), min(ours)
        print(f"validate: {count} files; bare CSafeLoader {b:.2f}s ({count / b:.0f} files/s), "
              f"qtgen validate {o:.2f}s ({count / o:.0f} files/s); throughput ratio {b / o:.2f} (target >= 0.70)")
    y = best([sys.executable, "-c", "import yaml"], 7)
    h = best([qtgen, "--help"], 7)
    print(f"start-up: python -c 'import yaml' {y * 1000:.0f} ms, qtgen --help {h * 1000:.0f} ms; "
          f"ratio {h / y:.2f} (target < 3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
