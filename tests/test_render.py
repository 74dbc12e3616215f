"""`qtgen render`: the site's rendering in Python, checked against golden files made with the site's own
npm stack (bench/golden.py): our own samples with their HTML, and the 152 fixtures by digest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from qtgen.format.reader import read
from qtgen.site.pagehtml import meta_description, page_title, search_preview, shown
from qtgen.site.render import render_answer
from qtgen.site.sitemath import escape_currency, problems

from conftest import REPO, run_qtgen
from htmlcanon import blocks, canonical, digest

GOLDEN = REPO / "tests" / "golden"
SAMPLES = {json.loads(x)["name"]: json.loads(x) for x in (GOLDEN / "samples.jsonl").read_text().splitlines() if x.strip()}
SITE = [json.loads(x) for x in (GOLDEN / "samples.golden.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("golden", SITE, ids=[g["name"] for g in SITE])
def test_our_samples_render_as_the_site_renders_them(golden):
    ours = render_answer(SAMPLES[golden["name"]]["answer"])
    assert canonical(ours.html) == canonical(golden["html"])  # same text, blocks, math (TeX and KaTeX output)
    assert ours.errors == golden["errors"]  # KaTeX's own messages


def test_every_fixture_renders_as_the_site_renders_it(fixtures):
    table = json.loads((GOLDEN / "fixtures.golden.json").read_text())
    root = fixtures[0].parent.parent
    assert len(table) == len(fixtures) == 152
    wrong = []
    for path in fixtures:
        golden = table[hashlib.sha256(str(path.relative_to(root)).encode()).hexdigest()[:16]]
        ours = render_answer(read(path).answer)
        if digest(ours.html) != golden["digest"] or blocks(ours.html) != golden["blocks"]:
            wrong.append(path.name)
        assert len(ours.errors) == golden["errors"]
    assert wrong == []


def test_the_golden_differs_where_the_rendering_is_wrong():
    """The comparison can fail: a page rendered without math does not match the site's."""
    golden = next(g for g in SITE if g["name"] == "inline-and-display")
    from markdown_it import MarkdownIt

    plain = MarkdownIt("commonmark").render(SAMPLES["inline-and-display"]["answer"].replace("\\n", "\n"))
    assert canonical(plain) != canonical(golden["html"])


def test_currency_is_math_on_the_site_and_the_fix_makes_it_text():
    answer = SAMPLES["currency"]["answer"].replace("\\n", "\n")
    assert [p.kind for p in problems(answer)] == ["currency"]
    fixed, count = escape_currency(answer)
    assert count == 2 and problems(fixed) == []
    html = render_answer(fixed.replace("\n", "\\n")).html
    assert "$26,000 with a useful life" in html and 'class="katex"' not in html


@pytest.mark.parametrize("text, kind", [
    ("A $\\frac{1}{2$ formula.", "katex-error"),
    ("A share $x = 5% of y$ here.", "percent"),
    ("Text\n\n$$\nx = 1\n\nmore", "unclosed"),
    ("Set $\\text{é} + é$ here.", "unicode"),
    ("Costs $5 and $10 each.", "currency"),
])
def test_each_site_math_problem_is_found(text, kind):
    assert kind in [p.kind for p in problems(text)]


@pytest.mark.parametrize("text", ["Energy $E = mc^2$ and $5x + 3 = 8$.", "A $5\\%$ rise, $3 \\times 4$.",
                                  "$$\nx^2\n$$", "Price: \\$5 and \\$10."])
def test_real_math_and_escaped_dollars_are_not_flagged(text):
    assert problems(text) == []


def test_title_meta_and_search_preview():
    from qtgen.format.reader import parse
    from test_index import make_page
    from qtgen.format.writer import render as write

    page = parse(write(make_page(5, "Economics", "What is a tariff?", "a, b, c, d, e")))
    assert page_title(page) == "Student Question : What is a tariff? | Economics | QuickTakes"
    assert meta_description(page) == "Get the full answer from QuickTakes - " + page.seo.page_description
    preview = search_preview(page)
    assert len(preview.description) <= 155 and preview.description.endswith("…") == preview.description_cut
    assert shown("a " * 100, 20).endswith("…") and len(shown("a " * 100, 20)) <= 20


def test_render_command_json_full_and_exit_code(tmp_path):
    from test_index import make_page
    from qtgen.format.writer import render as write

    good = make_page(1, "Physics", "What is energy?", "a, b, c, d, e").model_copy(
        update={"answer": "Energy is $E = mc^2$.\\n\\nIn summary, yes."})
    bad = make_page(2, "Physics", "What is broken?", "a, b, c, d, e").model_copy(
        update={"answer": "Broken $\\\\frac{1}{2$ here."})
    for page in (good, bad):
        (tmp_path / page.file_name).write_text(write(page))
    r = run_qtgen("render", "--json", str(tmp_path / good.file_name), str(tmp_path / bad.file_name), cwd=tmp_path)
    assert r.returncode == 1
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [Path(x["path"]).name for x in rows] == [good.file_name, bad.file_name]
    assert 'class="katex"' in rows[0]["html"] and rows[0]["errors"] == [] and rows[0]["math"] == 1
    assert rows[1]["errors"] and "KaTeX parse error" in rows[1]["errors"][0]
    full = run_qtgen("render", "--full", str(tmp_path / good.file_name), cwd=tmp_path)
    assert full.returncode == 0
    assert "<title>Student Question : What is energy? | Physics | QuickTakes</title>" in full.stdout
    assert '<meta name="description" content="Get the full answer from QuickTakes - ' in full.stdout
    assert 'name="robots"' not in full.stdout  # the site reads noIndex, never no_index


def test_the_currency_escape_never_touches_code_or_real_math():
    text = ('```python\nprint("$5 and $10")\n```\n\nThe book costs $5 and $10 each. '
            "Also $4\\operatorname{Var}(X) + 9\\operatorname{Var}(Y)$, where $X$ and $Y$ are independent.")
    fixed, count = escape_currency(text)
    assert count == 2 and 'print("$5 and $10")' in fixed and "costs \\$5 and \\$10" in fixed
    assert "$4\\operatorname{Var}(X) + 9\\operatorname{Var}(Y)$" in fixed and problems(fixed) == []


def test_render_out_keeps_the_same_question_under_two_subjects_apart(tmp_path):
    from test_index import make_page
    from qtgen.format.writer import render as write

    for subject in ("Physics", "Chemistry"):
        page = make_page(1, subject, "What is entropy?", "a, b, c, d, e")
        path = tmp_path / "pages" / subject.lower() / page.file_name
        path.parent.mkdir(parents=True)
        path.write_text(write(page))
    r = run_qtgen("render", "--out", "html", "pages", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(str(p.relative_to(tmp_path / "html")) for p in (tmp_path / "html").rglob("*.html")) == [
        "chemistry/what-is-entropy.html", "physics/what-is-entropy.html"]


KATEX_FIRST_USES = {
    # the studio's server, a test or a script: the first typeset inside asyncio.run, whose loop then closes
    "asyncio.run": ("async def first():\n    return t('x^2')\n"
                    "assert 'katex' in asyncio.run(first())\n"),
    # a loop in another thread (a notebook kernel, a server thread) typesets first, then closes and its thread ends
    "a loop in a thread": ("def in_thread():\n    loop = asyncio.new_event_loop()\n"
                           "    async def f():\n        return t('a+b')\n"
                           "    assert 'katex' in loop.run_until_complete(f())\n    loop.close()\n"
                           "th = threading.Thread(target=in_thread); th.start(); th.join()\n"),
    # many threads at once (the studio checks drafts in several)
    "threads": ("with concurrent.futures.ThreadPoolExecutor(8) as ex:\n"
                "    assert all('katex' in h for h in ex.map(lambda i: t('x^{%d}' % i), range(64)))\n"),
    # worker processes (lint's pool is started with spawn), each with an engine of its own
    "spawned workers": ("if __name__ == '__main__':\n"
                        "    with multiprocessing.get_context('spawn').Pool(2) as pool:\n"
                        "        assert all('katex' in h for h in pool.map(t, ['x^2', '\\\\frac{1}{2}', 'y']))\n"),
}


@pytest.mark.parametrize("first_use", sorted(KATEX_FIRST_USES))
def test_katex_works_and_the_interpreter_exits_cleanly_however_it_was_first_used(tmp_path, first_use):
    """KaTeX's V8 context lives on a thread of its own: no caller's event loop can take it away by closing (mini-racer
    0.14 binds a context to the loop it was made in), and the interpreter exits with 0 and nothing on stderr (no
    'Event loop is closed', no crash at teardown), whatever typeset first."""
    import subprocess
    import sys

    script = tmp_path / "first_use.py"
    script.write_text("import asyncio, concurrent.futures, multiprocessing, threading\n"
                      "from qtgen.site import katex\n"
                      "def t(tex):\n    return katex.typeset(tex, False).html\n"
                      + KATEX_FIRST_USES[first_use]
                      + "if __name__ == '__main__':\n"
                        "    after = katex.typeset('y^2', True)\n"
                        "    print(after.error is None and 'katex-display' in after.html)\n")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert (r.returncode, r.stderr, r.stdout.strip()) == (0, "", "True")


# -- a draft is hostile input: the allow-list ------------------------------------------------------------
OVERLAY = 'x"><button/form="approve-form"/style="position:fixed;inset:0;opacity:0">'
REFRESH = "<meta http-equiv=refresh content=0;url=http://example.com>"
SVG = "<svg/onload=window.__pwned=1>"
HOSTILE = (f"Note[^{OVERLAY}] and[^{REFRESH}] and[^{SVG}].\n\n[^{OVERLAY}]: one\n\n[^{REFRESH}]: two\n\n"
           f"[^{SVG}]: three\n\nIn summary, text.")


def _elements(html: str) -> list[str]:
    from html.parser import HTMLParser

    seen = []

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):
            seen.append(tag)
            seen.extend(f"{tag}[{k}]" for k, _ in attrs)

    P().feed(html)
    return seen


def test_footnote_labels_cannot_make_elements_or_attributes():
    from qtgen.site.render import render_markdown

    rendered = render_markdown(HOSTILE)
    seen = _elements(rendered.html)
    assert not {"button", "meta", "svg", "button[form]", "a[onload]", "svg[onload]"} & set(seen), seen
    assert not any(s.endswith(("[style]", "[form]", "[onload]", "[http-equiv]")) for s in seen), seen
    # labels are percent-encoded into their links, as the site's mdast-util-to-hast does
    assert 'id="user-content-fnref-x%22%3E%3Cbutton/form=%22approve-form%22/style=%22position:fixed;inset:0;' \
           'opacity:0%22%3E"' in rendered.html
    assert rendered.unshown == []  # escaped at the source: nothing left for the allow-list to remove


def test_the_allow_list_removes_what_the_site_stack_never_makes():
    from qtgen.site.sanitise import clean, unshown

    html = ('<p onclick="x()">a<a href="javascript:alert(1)">b</a><form><button form="f">c</button></form>'
            '<span style="position:fixed;top:0;left:0;width:100vw;height:100vh">d</span>'
            '<span style="height:1em;margin-right:0.05em">e</span><svg onload="x()"><path d="M0 0"/></svg>'
            '<iframe src="http://example.com"></iframe><script>x()</script><img src="data:image/png;base64,AA"></p>')
    out = clean(html)
    seen = _elements(out)
    assert {"form", "button", "iframe", "script"} & set(seen) == set()
    assert "p[onclick]" not in seen and "svg[onload]" not in seen and "javascript:" not in out
    assert "position:fixed" not in out and 'style="height:1em;margin-right:0.05em"' in out  # KaTeX's own style kept
    assert "x()" not in out.replace("onclick", "")  # the script's body goes with it
    found = unshown(html)
    assert "<form>" in found and "<button>" in found and "<iframe>" in found and "onclick= on <p>" in found
    assert any("position:fixed" in f for f in found) and "a javascript: URL" in found


def test_the_allow_list_keeps_every_fixture_as_the_site_shows_it(fixtures):
    """Over the 152 fixtures (the full tree: bench/sanitise.py): the allow-list removes nothing the site shows."""
    changed, flagged = [], []
    for path in fixtures:
        rendered = render_answer(read(path).answer)
        if canonical(rendered.html) != canonical(rendered.raw):
            changed.append(path.name)
        if rendered.unshown:
            flagged.append((path.name, rendered.unshown))
    assert changed == [] and flagged == []


def test_render_full_pages_run_nothing_and_carry_a_policy(tmp_path):
    from test_index import make_page
    from qtgen.format.page import RelatedArticle
    from qtgen.format.writer import render as write

    page = make_page(1, "Physics", "What is energy?", "a, b, c, d, e").model_copy(update={
        "answer": HOSTILE.replace("\n", "\\n"), "score": -1.0,
        "related_article1": RelatedArticle(id=2, title="Evil", subject="Physics", url="javascript:alert(1)")})
    (tmp_path / page.file_name).write_text(write(page))
    r = run_qtgen("render", "--full", str(tmp_path / page.file_name), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    body = r.stdout.split("<body>", 1)[1]
    assert {"svg", "meta", "button"} & set(_elements(body)) == set()
    assert "javascript:" not in body and "Content-Security-Policy" in r.stdout and "default-src 'none'" in r.stdout


@pytest.mark.parametrize("tex", [r"\boxed{42}", r"\fcolorbox{red}{yellow}{x}", r"\colorbox{yellow}{x}", r"\pmb{x}",
                                 r"\rule{1em}{2em}", r"\cancel{x}", r"\sqrt[3]{x}", r"\color{red} x", r"\hspace{1em}x",
                                 r"\begin{array}{|c|c|}\hline a & b \\ \hline\end{array}", r"\xrightarrow[x]{y}",
                                 r"\raisebox{0.25em}{x}", r"\begin{pmatrix}1&2\\3&4\end{pmatrix}"])
def test_the_allow_list_keeps_every_style_katex_writes(tex):
    from qtgen.site.render import render_markdown

    for markdown in (f"${tex}$", f"$${tex}$$"):
        rendered = render_markdown(markdown)
        assert rendered.unshown == [] and canonical(rendered.html) == canonical(rendered.raw), markdown


def test_checking_math_without_markup_finds_what_typesetting_finds():
    """The lint asks KaTeX for errors and warnings only (its DOM tree, not its markup), many spans in one call:
    each span's error and warnings are those of typesetting it alone."""
    from qtgen.site.katex import check_many, typeset
    from qtgen.site.sitemath import problems_many

    spans = [("x^2", False), ("\\frac{1}{2", False), ("\\text{é} + é", False), ("a % b", True), ("\\sum_i x_i", True),
             ("\\badcommand{x}", False), ("x^2", False), ("€", False)]
    checked = check_many(spans)
    assert len(checked) == len(spans)
    for (tex, display), found in zip(spans, checked):
        alone = typeset(tex, display)
        assert (found.error, found.warnings) == (alone.error, alone.warnings), tex
    assert checked[1].error and checked[5].error and checked[2].warnings and checked[0].error is None
    texts = ["A $\\frac{1}{2$ formula.", "Costs $5 and $10 each.", "Energy $E = mc^2$.", "No math here.",
             "Set $\\text{é} + é$ here.", "Text\n\n$$\nx = 1\n\nmore"]
    assert problems_many(texts) == [problems(t) for t in texts]


@pytest.mark.parametrize("text", [
    "See https://example.com/$a and $b$ here.", "Mail me@example.com or www.example.com/$x$ now.",
    "A `code $x$` span, $y^2$, and http://x.org.", "1. item www.a.com\n2. $z$\n\n```math\nq\n```",
    "[link $m$](http://x.org) and $n$ www.b.org", "Plain $p$ and <a href='http://x'>$h$</a> text"])
def test_the_token_reading_parser_finds_the_site_s_math_and_code(text):
    """`tokens` leaves bare URLs in text as text (the core linkify rule only splits text tokens): every block,
    math and code token is the one the full parser, linkify and all, finds."""
    from qtgen.site.render import _parser, tokens

    def kept(stream):
        out = []

        def walk(ts):
            for t in ts:
                if t.type not in ("text", "link_open", "link_close"):
                    out.append((t.type, t.content if t.type != "inline" else t.content, t.info))
                if t.children:
                    walk(t.children)
        walk(stream)
        return out

    assert kept(tokens(text)) == kept(_parser().parse(text, {}))
