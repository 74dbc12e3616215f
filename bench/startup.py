"""Start-up: `qtgen --help`, and the time `qtgen batch` takes to send its first request, each against a
baseline measured in the same run.

    python bench/startup.py [path/to/learn-full.tar.xz]

- `qtgen --help` against `python -c "import yaml"` (target: under 2x, however many commands there are).
- `qtgen batch` of 600 questions on a site of 1,000 real pages (the first 1,000 of the full tree, index not
  yet built: a first run) and on the same site again (index built), against the local server in tests/:
  the time from starting the process to the first request reaching the server, against a bare script that
  imports the openai SDK and sends one request to the same server (the least any client pays).
Each figure is the best of five runs, the two sides alternating.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from corpus import unpack  # noqa: E402
from fake_openai import FakeOpenAI  # noqa: E402

BARE_REQUEST = """
import sys
from openai import OpenAI
OpenAI(base_url=sys.argv[1], api_key="k").chat.completions.create(
    model="test-model", messages=[{"role": "user", "content": "Question (Economics): What is a tariff?"}])
"""


def timed(cmd: list[str], **kw) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    return time.perf_counter() - started


def first_request(cmd: list[str], server: FakeOpenAI, **kw) -> float:
    """Seconds from starting `cmd` to the first request reaching the server (the process is then stopped)."""
    before = len(server.times)
    started_wall, started = time.monotonic(), time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    while len(server.times) == before and proc.poll() is None:
        time.sleep(0.002)
    took = (server.times[before] - started_wall) if len(server.times) > before else time.perf_counter() - started
    proc.kill()
    proc.wait()
    return took


def site(learn: Path, root: Path, pages: int = 1000) -> Path:
    content = root / "content" / "learn"
    for n, path in enumerate(sorted(learn.rglob("*.md"))[:pages]):
        target = content / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    (root / "drafts").mkdir()
    (root / "qtgen.toml").write_text('model = "test-model"\nretry_wait = 0.05\n')
    subjects = sorted({p.parent.name for p in content.rglob("*.md")})
    from qtgen.format.reader import read

    names = {s: read(next((content / s).glob("*.md"))).subject for s in subjects}
    rows = [f"What is studied in unit {i} of this course?,{names[subjects[i % len(subjects)]]}" for i in range(600)]
    (root / "q.csv").write_text("question,subject\n" + "\n".join(rows) + "\n")
    return root


def main() -> int:
    qtgen = shutil.which("qtgen") or str(Path(sys.executable).with_name("qtgen"))
    y = min(timed([sys.executable, "-c", "import yaml"]) for _ in range(7))
    h = min(timed([qtgen, "--help"]) for _ in range(7))
    print(f"start-up: python -c 'import yaml' {y * 1000:.0f} ms, qtgen --help {h * 1000:.0f} ms; ratio {h / y:.2f} "
          "(target < 2)")
    learn, tmp = unpack(sys.argv[1] if len(sys.argv) > 1 else None)
    with tmp, tempfile.TemporaryDirectory(prefix="qtgen-startup-") as work, FakeOpenAI() as server:
        env = {**os.environ, "OPENAI_BASE_URL": server.url, "OPENAI_API_KEY": "k",
               "XDG_CACHE_HOME": str(Path(work) / "cache")}
        env.pop("QTGEN_MODEL", None)
        bare, cold, warm = [], [], []
        for n in range(5):
            root = site(learn, Path(work) / f"site{n}")
            cmd = [qtgen, "-q", "batch", "q.csv", "--no-related"]
            bare.append(first_request([sys.executable, "-c", BARE_REQUEST, server.url], server, env=env))
            cold.append(first_request(cmd, server, cwd=root, env=env))  # first run: the index is built
            shutil.rmtree(root / "drafts" / ".qtgen" / "batch.sqlite", ignore_errors=True)
            for suffix in ("", "-wal", "-shm"):
                (root / "drafts" / ".qtgen" / f"batch.sqlite{suffix}").unlink(missing_ok=True)
            for draft in (root / "drafts").glob("*/*.md"):
                draft.unlink()
            warm.append(first_request(cmd, server, cwd=root, env=env))  # the index is there and fresh
        b, c, w = min(bare), min(cold), min(warm)
        print(f"time to the first request, 600 questions on a 1,000-page site: bare openai script {b * 1000:.0f} ms; "
              f"qtgen batch, index built in the run {c * 1000:.0f} ms (ratio {c / b:.2f}), index fresh "
              f"{w * 1000:.0f} ms (ratio {w / b:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
