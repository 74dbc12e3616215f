"""Each lint rule on a page that triggers it and one that does not; the fixtures' real defects."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from qtgen.config import Config
from qtgen.checks.lint import lint_page, lint_paths
from qtgen.format.page import Page, Seo
from qtgen.format.reader import read

from conftest import run_qtgen

GOOD_ANSWER = (
    "Tariffs are taxes on imported goods. They shape trade and prices in many ways. Governments use them to "
    "raise revenue, to shield young industries and to answer unfair practices abroad. Economists weigh these "
    "aims against higher prices for households and the risk of retaliation by trading partners. History "
    "offers examples of both careful use and costly trade wars."
    + "\n\n1. **Revenue**: governments collect money.\n2. **Protection**: local producers gain.\n\n"
    + "In summary, tariffs raise revenue and protect producers, at a cost to consumers."
)
DESCRIPTION = "Tariffs are taxes on imports that raise revenue and protect producers, at a cost to consumers."


def page(answer: str = GOOD_ANSWER, description: str = DESCRIPTION, keywords: str = "tariff, trade, tax, imports, duty",
         question: str = "What is a tariff?") -> Page:
    return Page(id=1, date=dt.date(2026, 1, 1), title=question, article_title=question,
                seo=Seo(title="QuickTakes | Economics", page_description=description, page_keywords=keywords),
                question=question, answer=answer.replace("\n", "\\n"), subject="Economics",
                file_name="what-is-a-tariff.md", url="/learn/economics/questions/what-is-a-tariff", score=-1.0)


CFG = Config(lint_words=(50, 650))


def rules(p: Page, cfg: Config = CFG) -> set[str]:
    return {f.rule for f in lint_page(p, cfg)}


def test_a_house_style_page_has_no_finding():
    assert rules(page()) == set()


@pytest.mark.parametrize("rule, bad", [
    ("QT001", page(answer="Too short.\n\n1. **A**: b\n\nIn summary, short.")),
    ("QT002", page(answer=GOOD_ANSWER.replace("1. **", "**").replace("2. **", "**"))),
    ("QT003", page(answer=GOOD_ANSWER.rsplit("\n\n", 1)[0])),
    ("QT019", page(answer=GOOD_ANSWER[:-30])),
    ("QT004", page(answer="As an AI language model, " + GOOD_ANSWER)),
    ("QT004", page(answer="Sure, here is the answer. " + GOOD_ANSWER)),
    ("QT005", page(answer=GOOD_ANSWER + "\n\n```python\nprint(1)\n")),
    ("QT005", page(answer=GOOD_ANSWER + "\n\n$$x = 1")),
    ("QT006", page(answer=GOOD_ANSWER + " Here $\\nu \\neq 0$.")),
    ("QT007", page(answer=GOOD_ANSWER + " <script>alert(1)</script>")),
    ("QT007", page(answer=GOOD_ANSWER + " <iframe src=x>")),
    ("QT008", page(answer=GOOD_ANSWER + " {{ question }}")),
    ("QT008", page(answer=GOOD_ANSWER + " {% if x %}")),
    ("QT009", page(description="Short.")),
    ("QT010", page(keywords="a, b")),
    ("QT017", page(answer=GOOD_ANSWER + "\n\nThe answer is: 1023964587\n[ ] {")),
    ("QT017", page(answer=GOOD_ANSWER.replace("In summary", "page_keywords: trade. In summary"))),
    ("QT017", page(answer=GOOD_ANSWER.replace("In summary", '"answer": "x", In summary'))),
    ("QT018", page(answer=GOOD_ANSWER.replace("In summary", "Tariffs change trade between nations a lot.\n\n" * 3
                                              + "In summary"))),
    ("QT019", page(answer=GOOD_ANSWER.replace("cost to consumers.", "cost to the"))),
    ("QT019", page(answer=GOOD_ANSWER.replace("governments collect money.", "governments collect money from the"))),
    ("QT020", page(keywords="/nabla, neta-2064857, wtobglobalisimandictionary], page_addresses: [, } }, {")),
    ("QT020", page(keywords="trade, tariffs, page description: taxes, imports, customs")),
    ("QT020", page(keywords="trade, a phrase of far too many words here, imports, customs, duty")),
    ("QT021", page(description=", a description that starts with punctuation and goes on for long enough to pass.")),
    ("QT021", page(description="A description that ends without its final words and runs on and on about trade and")),
    ("QT021", page(description="A description cut mid-phrase and given a full stop after a word such as the.")),
    ("QT022", page(question="How does the WTO engage with NGOs?")),
])
def test_each_rule_fires_on_its_defect(rule, bad):
    assert rule in rules(bad)


def test_quality_gate_near_misses_do_not_fire():
    fine = page(answer=GOOD_ANSWER.replace("In summary", "The set $\\{1, 2\\}$ and `dict = {}` are fine. In summary")
                + "\n\n```json\n{\"answer\": 1}\n```\n\nIn summary, code and math may hold braces.",
                keywords="Dune: Part Two, #MeToo, 2025, trade policy, import duties")
    assert rules(fine) & {"QT017", "QT018", "QT019", "QT020", "QT021", "QT022"} == set()
    assert "QT022" not in rules(page(question="How do tariffs shape the movement of goods?",
                                     answer=GOOD_ANSWER.replace("trade", "trade and goods that move")))


def test_near_misses_do_not_fire():
    ok = page(answer=GOOD_ANSWER + " The ratio $\\frac{a}{b}$ and $$\\frac{1}{2}}$$ and $\\ne$ hmm" .replace("$\\ne$", "$\\leq$")
              + " A newline\nnumber list.")
    assert rules(ok) & {"QT005", "QT006", "QT008"} == set()
    assert "QT006" not in rules(page(answer=GOOD_ANSWER + "\nnext line starts with n"))


def test_rules_can_be_disabled_or_given_another_level():
    bad = page(description="Short.")
    cfg = Config(lint_words=(50, 650), lint={"disable": ["QT009"]})
    assert "QT009" not in rules(bad, cfg)
    cfg = Config(lint_words=(50, 650), lint={"levels": {"description-bounds": "error"}})
    assert [f.level for f in lint_page(bad, cfg) if f.rule == "QT009"] == ["error"]


def test_fixture_errors_are_exactly_the_real_defects(fixtures, tmp_path):
    _, findings = lint_paths(fixtures, Config(root=tmp_path))
    errors = {(f.path, f.rule) for f in findings if f.level == "error"}
    refusals = {(str(p), "QT004") for p in fixtures if read(p).no_index}
    latex = {(str(p), "QT006") for p in fixtures if "\\neq" in read(p).answer or "\\nu" in read(p).answer}
    # what the site's own rendering shows wrong (checked against its npm stack: tests/golden)
    site_math = {("chemistry/what-is-the-magnetic-nature-of-molecular-oxygen.md", "QT013"),  # double superscript
                 # the quality gate's hits on the site's own pages (reported, not tuned away)
                 ("chemistry/what-is-the-magnetic-nature-of-molecular-oxygen.md", "QT020"),  # keyword '$'
                 ("chemistry/what-is-the-magnetic-nature-of-molecular-oxygen.md", "QT021"),  # description ends "$"
                 ("college-basketball/how-did-the-university-of-michigan-perform-in-the-2025-big-ten-tournament.md", "QT019"),
                 ("criminal-or-civil-law/what-are-the-legal-consequences-for-a-lawyer-who-breaches-confidentiality.md", "QT020"),
                 ("mathematics/how-does-a-translation-differ-from-a-reflection-in-terms-of-movement-on-the-coordinate-plane.md",
                  "QT019"),  # a 105-character answer
                 ("mathematics/how-does-a-translation-differ-from-a-reflection-in-terms-of-movement-on-the-coordinate-plane.md",
                  "QT022"),
                 ("mathematics/what-is-the-integration-rule-for-functions-of-the-form-fx--x--qn.md", "QT020"),
                 ("movies-and-cinematography/which-films-are-nominated-for-best-adapted-screenplay-at-the-2025-academy-awards.md",
                  "QT019"),  # a stray "OSCARS" line
                 ("movies-and-cinematography/which-films-are-nominated-for-best-adapted-screenplay-at-the-2025-academy-awards.md",
                  "QT022"),
                 ("movies-and-cinematography/which-films-are-nominated-for-best-production-design-at-the-2025-academy-awards.md",
                  "QT019"),
                 ("economics/what-are-the-effects-of-a-6-price-floor-on-milk-in-terms-of-supply-and-demand.md", "QT012"),
                 ("mathematics/what-are-the-laws-of-exponents-and-how-do-they-apply-to-zero-and-negative-exponents.md",
                  "QT015")}  # "\\neq" decoded to a newline leaves "$$ ... (a " opening a block
    root = fixtures[0].parent.parent
    assert refusals and latex
    assert errors == refusals | latex | {(str(root / name), rule) for name, rule in site_math}


def test_lint_command_exit_codes_and_json(tmp_path):
    from qtgen.format.writer import render

    good = tmp_path / "what-is-a-tariff.md"
    good.write_text(render(page()))
    r = run_qtgen("lint", "--no-index", good, cwd=tmp_path)
    assert r.returncode == 0, r.stdout
    good.write_text(render(page(answer=GOOD_ANSWER.replace("In summary", "See <script>x</script>. In summary"))))
    r = run_qtgen("lint", "--json", good, cwd=tmp_path)
    assert r.returncode == 1
    data = json.loads(r.stdout)
    assert [f["rule"] for f in data["findings"] if f["level"] == "error"] == ["QT007"]


@pytest.mark.parametrize("keywords", ["Canadian Charter of Rights, Union Budget 2024-25, 1939-1945, PV=nRT, dynamic_cast",
                                      "V_max, .NET, -OH, #MeToo, Dune: Part Two, 2025"])
def test_ordinary_keywords_pass_the_gate(keywords):
    assert "QT020" not in rules(page(keywords=keywords))


@pytest.mark.parametrize("keywords", ["keyword1, keyword2, trade, tax, duty", "the, and, of, trade, tax",
                                      "1,2,3,4,5", "Key Point 1: Hash Tables, trade, tax, duty, imports"])
def test_placeholder_keywords_fail_the_gate(keywords):
    assert "QT020" in rules(page(keywords=keywords))


@pytest.mark.parametrize("insert", ["<|im_end|>", "Keywords: trade, tax", "2. **Key points in a list (with short bold term)",
                                    "3.", "**Unclosed bold text here"])
def test_small_model_debris_is_caught(insert):
    assert "QT017" in rules(page(answer=GOOD_ANSWER.replace("In summary", insert + "\n\nIn summary")))


def test_near_repetition_and_a_sentence_cut_with_a_full_stop():
    near = GOOD_ANSWER.replace("In summary", "Tariffs raise the price of imported goods for all households. "
                               "Tariffs raise the prices of imported goods for all the households. "
                               "Tariffs raise the price of the imported goods for all households.\n\nIn summary")
    assert "QT018" in rules(page(answer=near))
    assert "QT019" in rules(page(answer=GOOD_ANSWER.replace("at a cost to consumers.", "at a cost without the.")))


def test_question_filler_and_spelled_out_acronyms_are_not_off_topic():
    assert "QT022" not in rules(page(question="Can you provide a brief overview of tariffs?"))
    tcp = page(question="How does TCP work?", answer=GOOD_ANSWER.replace(
        "Tariffs are taxes", "The Transmission Control Protocol works with tariffs, which are taxes"))
    assert "QT022" not in rules(tcp)


def test_markup_the_site_would_not_show_is_an_error():
    from test_render import HOSTILE

    found = [f for f in lint_page(page(GOOD_ANSWER + "\n\n" + HOSTILE), CFG) if f.rule == "QT023"]
    assert len(found) == 1 and found[0].level == "error" and "footnote label" in found[0].message
    plain = GOOD_ANSWER + "\n\nSee [the guide](https://example.com/guide) and <https://example.com>.[^1]\n\n[^1]: a note"
    assert "QT023" not in rules(page(plain))


def test_a_name_with_an_apostrophe_as_a_footnote_label_is_fine():
    text = GOOD_ANSWER + "\n\nAs O'Brien showed.[^o'brien]\n\n[^o'brien]: O'Brien, 1999."
    assert "QT023" not in rules(page(text))


def _tree(root, n: int):
    """n pages of our own under root/content/learn/economics, some with findings (QT004 chatter, QT012 currency)."""
    from qtgen.format.slug import file_name_for, url_for
    from qtgen.format.writer import render

    folder = root / "content" / "learn" / "economics"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        question = f"What did tariff schedule number {i} change?"
        extra = " I cannot answer that." if i % 7 == 0 else (" It cost $5 and $10 a ton." if i % 11 == 0 else "")
        p = page(GOOD_ANSWER.replace("\n", "\\n") + extra).model_copy(update={
            "question": question, "title": question, "article_title": question, "id": 1000 + i,
            "file_name": file_name_for(question), "url": url_for(question, "Economics")})
        (folder / p.file_name).write_text(render(p))
    return folder


def test_lint_shared_among_processes_finds_what_one_process_finds(tmp_path):
    from qtgen.checks import lint

    folder = _tree(tmp_path, lint.PARALLEL_FROM + 20)
    files = [(str(p), p.read_bytes()) for p in sorted(folder.glob("*.md"))]
    cfg = Config(root=tmp_path)
    alone = lint._lint_fresh(files, cfg, workers=1)
    shared = lint._lint_fresh(files, cfg, workers=2)
    assert shared == alone and len(alone) == len(files)
    rules = {row[0] for _, rows, _ in alone for row in rows}
    assert {"QT004", "QT012"} <= rules


def test_lint_keeps_findings_by_bytes_and_rereads_a_changed_file(site):
    import sqlite3

    folder = _tree(site, 30)
    first = run_qtgen("lint", "content/learn", "--json", "--no-index", cwd=site)
    again = run_qtgen("lint", "content/learn", "--json", "--no-index", cwd=site)
    assert first.returncode == again.returncode == 1 and first.stdout == again.stdout
    found = json.loads(first.stdout)
    assert found["files"] == 30 and any(f["rule"] == "QT004" for f in found["findings"])
    store = site / "drafts" / ".qtgen" / "assessments.sqlite"
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT COUNT(*) FROM assessments").fetchone()[0] == 30
        # a kept result is what lint reports: change one, and lint says it
        key, data = next((k, json.loads(d)) for k, d in db.execute("SELECT key, data FROM assessments")
                         if any(r[0] == "QT004" for r in json.loads(d)["findings"]))
        data["findings"] = [r for r in data["findings"] if r[0] != "QT004"]
        db.execute("UPDATE assessments SET data = ? WHERE key = ?", (json.dumps(data), key))
    planted = json.loads(run_qtgen("lint", "content/learn", "--json", "--no-index", cwd=site).stdout)
    assert sum(f["rule"] == "QT004" for f in planted["findings"]) == sum(
        f["rule"] == "QT004" for f in found["findings"]) - 1
    # any edit of a file is another key: it is checked afresh
    fixed = next(p for p in folder.glob("*.md") if "I cannot answer" in p.read_text())
    fixed.write_text(fixed.read_text().replace(" I cannot answer that.", ""))
    after = json.loads(run_qtgen("lint", "content/learn", "--json", "--no-index", cwd=site).stdout)
    assert not [f for f in after["findings"] if f["path"].endswith(fixed.name) and f["rule"] == "QT004"]
    # a read-only lint where there is no drafts folder stores nothing and creates nothing
    bare = site.parent / "bare"
    _tree(bare, 3)
    r = run_qtgen("lint", "content/learn", "--no-index", cwd=bare)
    assert r.returncode == 1 and not (bare / "drafts").exists()


@pytest.mark.parametrize("insert", ["ANSWER: tariffs are taxes", '{"Term": "tariff"}', "See PAGE_TITLE here.",
                                    "Written As A Numbered List here.", "};", '"Keywords": tariffs',
                                    "1. **Tariff**:\n2. **Quota**: a limit.", "The ıdea {\"x\"", "<|endoftext|>"])
def test_debris_is_found_whatever_its_case_and_place(insert):
    """The lint looks for debris lines only where a quick search of the whole text finds a hint of one: each kind,
    in any case, in the middle of a long answer, is still found (and the text around it alone is clean)."""
    answer = GOOD_ANSWER.replace("In summary", f"Some text.\n\n{insert}\n\nIn summary")
    assert "QT017" in rules(page(answer=answer))
    assert "QT017" not in rules(page(answer=GOOD_ANSWER.replace("In summary", "Some text.\n\nIn summary")))


@pytest.mark.parametrize("text", ["As An AI model", "as an ai", "I CAN'T say", "nothing here", "İ cannot do it",
                                  "ı cannot", "<ſcript>", "<SCRIPT>", "a \u212a b", "ONCLICK='x'", "Let Me Know If"])
def test_caseless_search_is_the_case_blind_pattern_s_own(text):
    import re

    from qtgen.checks.caseless import Caseless

    pattern = r"\b(as an ai\b|i cannot\b|i can't\b|let me know if)|<\s*script\b|\bon[a-z]+\s*=|\bk\b"
    fast, slow = Caseless(pattern).search(text), re.compile(pattern, re.I).search(text)
    assert (fast and (fast.span(), fast.group(0))) == (slow and (slow.span(), slow.group(0)))


def test_repetition_counts_the_sentences_a_pairwise_reading_counts():
    """The sentences are compared all at once (rapidfuzz's cdist); the count is the one reading each pair gives:
    the very same sentence at any length, or one of 8 words or more at 90/100 or closer to an earlier one."""
    from rapidfuzz import fuzz

    from qtgen.checks.rules import _repeated

    base = ["tariffs raise the price of imported goods for all households",
            "tariffs raise the prices of imported goods for all the households",
            "short one here now", "short one here now", "short one here today",
            "a completely different sentence about trade deficits and currency",
            "quotas limit the quantity of goods that may be imported in a year"]
    for n in range(2, len(base) + 1):
        for shift in range(len(base)):
            sentences = (base[shift:] + base[:shift])[:n]
            expected = sum(1 for i, x in enumerate(sentences) if any(
                x == y or len(x.split()) >= 8 and fuzz.ratio(x, y) >= 90 for y in sentences[:i]))
            assert _repeated(sentences) == expected


@pytest.mark.parametrize("markdown,cut", [
    ("Tariffs raise prices.\n\nIn summary, they protect.", False),
    ("Tariffs raise prices.\n\nIn summary, they protect the", True),          # ends mid-sentence
    ("Tariffs raise prices of\n\nIn summary, they protect.", True),         # a paragraph cut on "of"
    ("The area is\n\n$$x^2$$\n\nIn summary, it grows.", False),               # a paragraph leading into math
    ("Tariffs raise prices.\n\nThe answer ends on the.", True),               # a full stop after "the"
    ("Tariffs raise prices of\n\n***", True),                                  # a thematic break ends the text
    ("Tariffs raise prices of\n\n[1]: http://example.org/x.", True),          # a link definition ends it
    ("Tariffs raise prices of\n\n<div>ok.</div>", True),                      # raw HTML ends it
    ("Tariffs raise the prices:", True),                                       # a colon with nothing after
    ("x'of " + "y" * 40 + " " + "z'of", True),                                 # a window the last word spans
    ("A line\nthat goes on of\n...", True),                                    # no word on the last line
])
def test_the_quick_reading_of_lines_never_misses_a_cut_off_paragraph(markdown, cut):
    """`_cut_off` reads lines before parsing: where it says a text is whole, the parse must find nothing cut off."""
    from qtgen.checks.rules import _cut_off_parsed, _surely_whole

    found = _cut_off_parsed(markdown) is not None
    assert found == cut
    assert not (_surely_whole(markdown) and found)
    if markdown.startswith("Tariffs raise prices.\n\nIn summary, they protect."):
        assert _surely_whole(markdown)  # the plain case needs no parse


@pytest.mark.parametrize("text", ["Tariffs rise. Prices follow!  Do they?\tYes...  Next e.g. this", "x. . y",
                                  "?!  Wait!? Now.\n\nNew paragraph.", "Σ ΟΔΟΣ. Σ next", "a.b c! d?e"])
def test_sentences_split_with_their_stop_give_the_same_words(text):
    """QT018 splits sentences at a stop and the space after it, taking the stop too: no word holds a stop, so
    each sentence's words are those of splitting after the stop."""
    import re

    from qtgen.checks.rules import _SENT, _norm

    lower = text.lower()
    assert [_norm(x) for x in _SENT.split(lower)] == [_norm(x) for x in re.split(r"(?<=[.!?])\s+", lower)]


def test_superscripts_and_math_marks_still_say_the_same_term():
    """QT022 reads "sp²", "sp^2" and "$sp_{2}$" as sp2 (the superscripts are translated only where there is one)."""
    q = "How does sp2 hybridization shape ethene?"
    for said in ("sp²", "sp^2", "$sp_{2}$"):
        answer = GOOD_ANSWER.replace("Tariffs are taxes on imported goods.",
                                     f"Ethene carbons use {said} hybridization to form a planar shape.")
        assert "QT022" not in rules(page(answer=answer, question=q)), said
    assert "QT022" in rules(page(question=q))


def test_a_prompt_run_inside_a_long_sentence_is_found():
    """QT024 looks only at stretches of the text made of the prompt's own words: a run of the prompt inside
    other words is still one."""
    from qtgen.checks.prompt_text import _prompt_grams, _prompt_folders

    three, six, vocabulary = _prompt_grams(_prompt_folders(str(CFG.prompts)))
    run = " ".join(sorted(six)[0])
    answer = GOOD_ANSWER.replace("History offers", f"Zebras {run} quietly. History offers")
    assert "QT024" in rules(page(answer=answer))
    assert all(w in vocabulary for g in three for w in g)


def test_kept_findings_are_found_again_from_another_folder_or_an_absolute_path(site):
    """A file's findings are kept by its bytes and the settings, not by how its path was typed: linting the same
    tree from another folder or by its absolute path checks nothing again (no row is added to the store)."""
    import sqlite3

    _tree(site, 3)
    first = run_qtgen("lint", "content/learn", "--no-index", cwd=site)
    kept = site / "drafts" / ".qtgen" / "assessments.sqlite"

    def rows() -> int:
        with sqlite3.connect(kept) as db:
            return db.execute("SELECT COUNT(*) FROM assessments").fetchone()[0]

    before = rows()
    assert before >= 3
    inner = run_qtgen("lint", "economics", "--no-index", cwd=site / "content" / "learn")
    absolute = run_qtgen("lint", str(site / "content" / "learn"), "--no-index", cwd=site)
    assert rows() == before
    assert inner.returncode == absolute.returncode == first.returncode
    assert len(absolute.stdout.splitlines()) == len(first.stdout.splitlines())
