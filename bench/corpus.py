"""Shared by the benchmarks: the full site tree, unpacked once into a temp folder from ../shared."""

from __future__ import annotations

import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARBALL = REPO.parent / "shared" / "corpus" / "learn-full.tar.xz"


def unpack(tarball: Path | None = None) -> tuple[Path, tempfile.TemporaryDirectory]:
    """The unpacked `content/learn` folder and the temp dir holding it (keep it alive)."""
    tarball = Path(tarball or TARBALL)
    if not tarball.is_file():
        sys.exit(f"{tarball}: not found; pass the path of learn-full.tar.xz")
    tmp = tempfile.TemporaryDirectory(prefix="qtgen-bench-")
    with tarfile.open(tarball) as tar:
        tar.extractall(tmp.name, filter="data")
    learn = next(Path(tmp.name).rglob("learn"))
    return learn, tmp
