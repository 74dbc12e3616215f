"""Site-scale checks on the full 35,915-page tree, each as a ratio to `qtgen validate` of the same tree measured in
the same run (the baseline the targets are stated against):

    python bench/scale.py [path/to/learn-full.tar.xz] [--revisions 5000] [--queue-only]

- `qtgen lint content/learn`, the first time (nothing stored) and again (findings kept by each file's bytes);
  target: within 3x validate;
- `qtgen duplicates`: all pairs and the clusters of the whole tree; target: within 3x validate;
- linear growth: validate, lint and duplicates of 10 subjects against 40 (pages and seconds);
- `qtgen batch` of a 10,000-question list in the full site: seconds from the command's start to its first request
  (to a local OpenAI-protocol server; the command is then stopped); target: within 15 s;
- the review queue with N revisions waiting (`qtgen revise`): `qtgen review --json` the first time and again
  (target: within 10 s), the studio's first queue page and a draft page (targets: 2 s and 1 s).

Every command runs as a fresh process in a git repository holding the unpacked tree.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from corpus import unpack

QTGEN = [sys.executable, "-m", "qtgen"]


def run(args: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    r = subprocess.run(QTGEN + args, cwd=cwd, capture_output=True, text=True)
    return time.perf_counter() - started, r


def main() -> int:
    argv = sys.argv[1:]
    revisions = 5000
    queue_only = "--queue-only" in argv
    argv = [a for a in argv if a != "--queue-only"]
    if "--revisions" in argv:
        at = argv.index("--revisions")
        revisions = int(argv[at + 1])
        del argv[at:at + 2]
    learn, tmp = unpack(argv[0] if argv else None)
    with tmp:
        site = learn.parent.parent
        (site / "drafts").mkdir(exist_ok=True)
        env = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "bench",
               "GIT_COMMITTER_EMAIL": "b@x"}
        for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "site"]):
            subprocess.run(["git", *cmd], cwd=site, check=True, env={**os.environ, **env})
        pages = sum(1 for _ in learn.rglob("*.md"))
        print(f"site: {pages} pages in {len(list(learn.iterdir()))} subjects")
        run(["index"], site)

        if not queue_only:
            lint_and_duplicates(site, learn, pages)

        # the review queue with many revisions
        chosen = [str(p.relative_to(site)) for p in sorted(learn.rglob("*.md"))[:revisions]]
        for start in range(0, len(chosen), 1000):
            run(["revise", *chosen[start:start + 1000]], site)
        queued, r = run(["review", "--json"], site)
        again, r = run(["review", "--json"], site)
        waiting = r.stdout.count('"path"')
        print(f"review --json, {waiting} revisions: first {queued:.1f} s, again {again:.1f} s "
              f"(target 10 s)")
        print(studio(site))
    return 0


def lint_and_duplicates(site: Path, learn: Path, pages: int) -> None:
    validate, _ = run(["validate", "content/learn"], site)
    print(f"baseline  qtgen validate content/learn: {validate:.1f} s")
    cold, r = run(["lint", "content/learn"], site)
    warm, r2 = run(["lint", "content/learn"], site)
    same = r.stdout == r2.stdout
    print(f"lint, first time:  {cold:6.1f} s  ratio {cold / validate:5.2f} (target 3)")
    print(f"lint, again:       {warm:6.1f} s  ratio {warm / validate:5.2f} (target 3); same findings: {same}")
    dup, r = run(["duplicates"], site)
    print(f"duplicates:        {dup:6.1f} s  ratio {dup / validate:5.2f} (target 3); {r.stderr.splitlines()[0][:160]}")

    # linear growth: every fourth subject by size (a quarter of the site, large and small) against all 40
    subjects = sorted(learn.iterdir(), key=lambda d: -sum(1 for _ in d.glob("*.md")))[::4]
    ten = [str(d.relative_to(site)) for d in subjects]
    ten_pages = sum(1 for d in subjects for _ in d.glob("*.md"))
    for name, args in (("validate", ["validate"]), ("lint (again)", ["lint"]), ("duplicates", ["duplicates"])):
        part, _ = run(args + ten, site)
        whole, _ = run(args + ["content/learn"], site)
        print(f"growth {name:13s} 10 subjects {ten_pages} pages {part:5.1f} s; 40 subjects {pages} pages "
              f"{whole:5.1f} s: {whole / part:4.2f}x the time for {pages / ten_pages:4.2f}x the pages")

    print(first_request(site))


def first_request(site: Path, n: int = 10_000) -> str:
    """Seconds from `qtgen batch LIST` starting to its first request reaching the server."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from prepare import questions

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from fake_openai import FakeOpenAI

    subjects = []  # the site's own subject names, one page of each folder read
    for folder in sorted((site / "content" / "learn").iterdir()):
        text = next(folder.glob("*.md")).read_text(encoding="utf-8")
        subjects.append(re.search(r"^subject: (.*)$", text, re.M).group(1).strip())
    listed = site / "list.csv"
    listed.write_text("question,subject\n" + "".join(f"{q},\"{subjects[i % len(subjects)]}\"\n"
                                                      for i, q in enumerate(questions(n))))
    with FakeOpenAI() as server:
        env = {**os.environ, "OPENAI_BASE_URL": server.url, "OPENAI_API_KEY": "sk-bench"}
        started = time.perf_counter()
        proc = subprocess.Popen(QTGEN + ["batch", str(listed)], cwd=site, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while not server.times and proc.poll() is None and time.perf_counter() - started < 600:
                time.sleep(0.02)
            took = time.perf_counter() - started
        finally:
            proc.kill()
            proc.wait()
    return f"batch of {n} questions in the full site: first request after {took:.1f} s (target 15 s)"


def studio(site: Path) -> str:
    """The studio's queue page (first request, then again) and a draft page, over HTTP."""
    import urllib.request

    started = time.perf_counter()
    proc = subprocess.Popen(QTGEN + ["studio", "--no-open", "--port", "0"], cwd=site, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        url = proc.stdout.readline().strip()
        ready = time.perf_counter() - started
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        started = time.perf_counter()
        html = opener.open(url, timeout=600).read().decode()  # logs in, then the queue's first page
        first = time.perf_counter() - started
        base = url.split("/?")[0]
        started = time.perf_counter()
        opener.open(base + "/", timeout=600).read()
        second = time.perf_counter() - started
        draft = re.search(r'href="(/draft/[0-9a-f]+)"', html).group(1)
        started = time.perf_counter()
        opener.open(base + draft, timeout=600).read()
        one = time.perf_counter() - started
        return (f"studio: its address given {ready:.2f} s after start (the index, its model and the queue read "
                f"first); first queue page {first:.2f} s, again {second:.2f} s (target 2 s); a draft page {one:.2f} s "
                f"(target 1 s)")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    sys.exit(main())
