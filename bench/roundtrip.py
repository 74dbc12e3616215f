"""Parse and re-emit every file of the full site tree; every one must come back byte-identical.

    python bench/roundtrip.py [path/to/learn-full.tar.xz]
"""

from __future__ import annotations

import sys
import time

from corpus import unpack

from qtgen.format.files import page_files
from qtgen.format.reader import parse
from qtgen.format.writer import render


def main() -> int:
    learn, tmp = unpack(sys.argv[1] if len(sys.argv) > 1 else None)
    with tmp:
        files = list(page_files(learn))
        started = time.perf_counter()
        same, different = 0, []
        for path in files:
            data = path.read_bytes()
            if render(parse(data.decode("utf-8"))).encode("utf-8") == data:
                same += 1
            else:
                different.append(path.relative_to(learn))
        elapsed = time.perf_counter() - started
    print(f"round trip: {same} of {len(files)} files byte-identical ({elapsed:.1f}s)")
    for rel in different[:20]:
        print(f"  differs: {rel}")
    return 0 if same == len(files) else 1


if __name__ == "__main__":
    sys.exit(main())
