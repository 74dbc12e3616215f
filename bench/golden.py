"""Golden files of the site's own rendering, made with its exact npm stack (node, development time only).

    (cd bench/golden && npm install)        # react-markdown 9.0.3, remark-math 6.0.0, remark-gfm 4.0.0,
                                            # rehype-katex 7.0.1, katex 0.16.21
    python bench/golden.py                  # rewrite tests/golden/*.golden.*
    python bench/golden.py --full [TARBALL] # agreement of qtgen's rendering over the whole site tree

Our own samples (tests/golden/samples.jsonl) are stored with their HTML. The 152 fixtures are
third-party text, so for them only digests of the canonical HTML and of the KaTeX errors, and the
block structure, are stored, under a hash of each fixture's path (tests/golden/fixtures.golden.json).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))
from htmlcanon import blocks, canonical, digest  # noqa: E402

from qtgen.format.reader import read, parse  # noqa: E402
from qtgen.site.render import render_answer  # noqa: E402

GOLDEN = REPO / "tests" / "golden"
FIXTURES = REPO.parent / "shared" / "corpus" / "fixtures"


def site_render(items: list[dict]) -> dict[str, dict]:
    """name -> {html, errors, warnings} from the site's own stack."""
    lines = "".join(json.dumps(i) + "\n" for i in items)
    r = subprocess.run(["node", "render.mjs"], cwd=REPO / "bench" / "golden", input=lines, capture_output=True,
                       text=True, check=True)
    return {d["name"]: d for d in map(json.loads, r.stdout.splitlines())}


def fixture_key(relative_path: str) -> str:
    """A fixture's key in the golden table: a hash of its path (the site's file names are its text, not ours)."""
    return hashlib.sha256(relative_path.encode()).hexdigest()[:16]


def errors_digest(errors: list[str]) -> str:
    return hashlib.sha256("\n".join(errors).encode()).hexdigest()


def record(html: str, errors: list[str]) -> dict:
    return {"digest": digest(html), "blocks": blocks(html), "math": html.count('class="katex"'),
            "errors": len(errors), "errors_digest": errors_digest(errors)}


def write_goldens() -> None:
    samples = [json.loads(x) for x in (GOLDEN / "samples.jsonl").read_text().splitlines() if x.strip()]
    out = site_render(samples)
    with open(GOLDEN / "samples.golden.jsonl", "w") as fh:
        for s in samples:
            d = out[s["name"]]
            fh.write(json.dumps({"name": s["name"], "html": d["html"], "errors": d["errors"],
                                 "warnings": d["warnings"]}, ensure_ascii=False) + "\n")
    fixtures = sorted(FIXTURES.rglob("*.md"))
    items = [{"name": str(p.relative_to(FIXTURES)), "answer": read(p).answer} for p in fixtures]
    out = site_render(items)
    table = {fixture_key(name): record(d["html"], d["errors"]) for name, d in sorted(out.items())}
    (GOLDEN / "fixtures.golden.json").write_text(json.dumps(table, indent=0, sort_keys=True) + "\n")
    print(f"{len(samples)} samples, {len(table)} fixtures written to {GOLDEN}")


def full(tarball: str | None) -> None:
    from corpus import unpack

    learn, keep = unpack(tarball)
    files = sorted(learn.rglob("*.md"))
    same = differ = math_pages = err_pages = err_same = 0
    shown = 0
    for start in range(0, len(files), 2000):
        chunk = files[start: start + 2000]
        items = [{"name": str(p.relative_to(learn)), "answer": parse(p.read_text()).answer} for p in chunk]
        site = site_render(items)
        for item in items:
            d = site[item["name"]]
            ours = render_answer(item["answer"])
            ok = canonical(ours.html) == canonical(d["html"])
            same += ok
            differ += not ok
            math_pages += 'class="katex"' in d["html"]
            if d["errors"]:
                err_pages += 1
                err_same += d["errors"] == ours.errors
            if not ok and shown < 5:
                shown += 1
                print("differs:", item["name"])
        print(f"{start + len(chunk)}/{len(files)}: {same} identical, {differ} differ", flush=True)
    print(f"full tree: {same}/{len(files)} pages render identically ({same / len(files):.2%}); "
          f"{math_pages} pages with math; {err_pages} pages with KaTeX errors, {err_same} with the same errors")
    del keep


if __name__ == "__main__":
    if "--full" in sys.argv:
        rest = sys.argv[sys.argv.index("--full") + 1:]
        full(rest[0] if rest else None)
    else:
        write_goldens()
