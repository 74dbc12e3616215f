"""`qtgen suggest` and `qtgen coverage` against the local OpenAI-protocol server in tests/ (made to propose a mix of
new questions, exact and reworded copies of published, drafted and rejected ones, off-subject and malformed
lines), on a small real site: every filter, the rounds limit, the cost cap, the CSV taken by `qtgen batch`,
coverage figures, and the coverage page in Chromium."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from qtgen.format.slug import file_name_for

from conftest import clean_env, publish, run_qtgen, write_config
from fake_openai import SUGGEST_MARK, FakeOpenAI

PHYSICS = ["What is momentum in physics?", "How does friction affect the motion of objects?",
           "What is kinetic energy and how is it measured?", "How do waves carry energy through a medium?",
           "What is electric current in a circuit?", "How does gravity affect falling objects?",
           "What is the law of conservation of energy?", "How do lenses bend light to form images?"]
ECONOMICS = ["What is inflation?", "How do tariffs affect trade?", "What is opportunity cost?"]
GEOGRAPHY = ["What is the capital city of Spain?", "Which city is the capital of Italy?",
             "How did Paris become the capital city of its country?"]
# a subject of 100 pages and more: enough questions for the off-subject filter to tell what is foreign to it
_WORDS = ["torque", "pressure", "density", "buoyancy", "viscosity", "elasticity", "resonance", "frequency", "amplitude",
          "wavelength", "refraction", "diffraction", "magnetism", "induction", "capacitance", "resistance"]
FILLER = [f"How does {a} relate to {b} in a physics experiment?" for a in _WORDS for b in _WORDS if a < b][:100]
NEW = ["How does air resistance change the speed of falling objects?",
       "Why does a moving object keep its momentum in space?",
       "How do transformers step up the voltage of an alternating supply?",
       "Explain how sound waves carry energy through air.",
       "How do mirrors and lenses differ in forming images of light?",
       "What is potential energy and how does gravity store it?"]




@pytest.fixture
def physics(site) -> Path:
    subjects = {**{q: "Physics" for q in PHYSICS + FILLER}, **{q: "Economics" for q in ECONOMICS},
                **{q: "Geography" for q in GEOGRAPHY}}
    for n, (q, subject) in enumerate(subjects.items(), 1):
        publish(site, q, subject, n)
    path = write_config(site)
    path.write_text(path.read_text() + '[prices]\n"test-model" = [1.0, 2.0]\n')
    return site


@pytest.fixture
def server():
    with FakeOpenAI() as s:
        yield s


def env(site: Path, server) -> dict:
    return clean_env(site, OPENAI_BASE_URL=server.url, OPENAI_API_KEY="sk-test-suggest")


def suggest_requests(server) -> list[dict]:
    return [r for r in server.requests if SUGGEST_MARK in json.dumps(r["body"].get("messages"))]


def test_every_filter_counts_what_it_removed_and_the_list_feeds_batch(physics, server):
    site = physics
    e = env(site, server)
    assert run_qtgen("draft", "How do magnets attract iron objects?", "-s", "Physics", cwd=site, env=e).returncode == 0
    assert run_qtgen("draft", "What is the speed of light in a vacuum?", "-s", "Physics", cwd=site, env=e).returncode == 0
    assert run_qtgen("reject", "what-is-the-speed-of-light-in-a-vacuum", "--reason", "off syllabus", cwd=site,
                     env=e).returncode == 0
    server.suggestions.extend([
        [NEW[0], NEW[1],
         "What is momentum in physics?",                          # published, word for word
         "In physics, what is momentum?",                          # published, in other words
         "How do magnets attract iron objects?",                  # a draft waiting for review
         "What is the speed of light in a vacuum?",               # rejected for this subject
         "What is the capital city of France?",                   # another subject altogether
         "1. **Momentum** of a car",                              # numbering and markup
         "ok?",                                                   # too short
         "Momentum and friction in everyday life",                # neither a question nor an instruction
         NEW[0].upper()],                                          # the same as an earlier suggestion
        ["How does air resistance change the speed of a falling object?", NEW[2], NEW[3]],  # a rewording of NEW[0]
    ])
    r = run_qtgen("suggest", "-s", "Physics", "-n", "4", "--json", cwd=site, env=e)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [q["question"] for q in out["questions"]] == NEW[:4]
    assert out["removed"] == {"malformed": 3, "published": 2, "drafted": 1, "rejected": 1, "repeated": 2,
                              "off-subject": 1}
    assert out["rounds"] == 2 and out["proposed"] == 14
    assert out["cost"] == pytest.approx(2 * (120 * 1.0 + 480 * 2.0) / 1e6)
    assert "kept 4; removed: malformed 3, published 2, drafted 1, rejected 1, repeated 2, off-subject 1" in r.stderr
    # the model was shown the subject: its questions, and in round two what it had proposed already
    first, second = (json.dumps(x["body"]["messages"]) for x in suggest_requests(server))
    assert "How does friction affect the motion of objects?" in first and "What is inflation?" not in first
    assert NEW[0] in second
    # the CSV feeds qtgen batch unchanged
    server.suggestions.append(NEW[4:6])
    r = run_qtgen("suggest", "-s", "Physics", "-n", "2", "--out", "new.csv", cwd=site, env=e)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO((site / "new.csv").read_text())))
    assert [(x["question"], x["subject"]) for x in rows] == [(NEW[4], "Physics"), (NEW[5], "Physics")]
    r = run_qtgen("batch", "new.csv", cwd=site, env=e)
    assert r.returncode == 0, r.stderr
    assert {p.name for p in (site / "drafts" / "physics").glob("*.md")} >= {file_name_for(q) for q in NEW[4:6]}


def test_rounds_are_bounded_and_the_cost_cap_holds(physics, server):
    site = physics
    server.suggestions.extend([[NEW[0]], ["What is momentum in physics?"], [], [NEW[1]]])
    r = run_qtgen("suggest", "-s", "Physics", "-n", "10", "--rounds", "3", "--json", cwd=site, env=env(site, server))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["rounds"] == 3 and len(suggest_requests(server)) == 3 and [q["question"] for q in out["questions"]] == NEW[:1]
    assert "1 of 10 question(s) after 3 round(s)" in r.stderr
    before = len(suggest_requests(server))
    r = run_qtgen("suggest", "-s", "Physics", "-n", "5", "--max-cost", "0.001", cwd=site, env=env(site, server))
    assert r.returncode == 1 and "--max-cost $0.001 reached" in r.stderr and "no question kept" in r.stderr
    assert len(suggest_requests(server)) == before  # 2,500 answer tokens at $2 per million could pass it: not sent


def test_suggest_bad_input_is_one_line(physics, server):
    site = physics
    e = env(site, server)
    (site / "taken.csv").write_text("x\n")
    for args, message in [(["-s", "Astronomy"], "no page of this subject"),
                          (["-s", "Physics", "--out", "taken.csv"], "exists already"),
                          (["-s", "Physics", "--topics", "missing.txt"], "missing.txt"),
                          (["-s", "Physics", "-n", "0"], "0")]:
        r = run_qtgen("suggest", *args, cwd=site, env=e)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    assert (site / "taken.csv").read_text() == "x\n"


def test_coverage_counts_pages_and_finds_topics_with_none(physics, server):
    site = physics
    e = env(site, server)
    assert run_qtgen("draft", "How do magnets attract iron objects?", "-s", "Physics", cwd=site, env=e).returncode == 0
    assert run_qtgen("draft", "What is a budget deficit?", "-s", "Economics", cwd=site, env=e).returncode == 0
    assert run_qtgen("reject", "what-is-a-budget-deficit", "--reason", "no", cwd=site, env=e).returncode == 0
    (site / "topics.txt").write_text("# the syllabus\n1. momentum\nUnit 2: kinetic energy\n- **magnets**\n"
                                     "3.1 thermodynamics\n\n[lenses](http://example.org/lenses)\nmomentum\n")
    r = run_qtgen("coverage", "--json", cwd=site, env=e)
    subjects = {s["subject"]: s for s in json.loads(r.stdout)["subjects"]}
    assert (subjects["Physics"]["published"], subjects["Physics"]["drafted"], subjects["Physics"]["rejected"]) == (108, 1, 0)
    assert (subjects["Economics"]["published"], subjects["Economics"]["drafted"], subjects["Economics"]["rejected"]) == (3, 0, 1)
    r = run_qtgen("coverage", "-s", "Physics", "--topics", "topics.txt", "--json", cwd=site, env=e)
    out = json.loads(r.stdout)
    topics = {t["topic"]: t for t in out["topics"]}
    assert list(topics) == ["momentum", "kinetic energy", "magnets", "thermodynamics", "lenses"]  # once each
    magnetism = sum("magnetism" in q for q in FILLER)  # "magnets" and "magnetism" stem alike
    assert (topics["momentum"]["published"], topics["magnets"]["published"], topics["magnets"]["drafted"]) == (
        1, magnetism, 1)
    assert out["uncovered"] == ["thermodynamics"]
    # suggest fills the uncovered topic first
    server.suggestions.append([{"question": "What does the first law of thermodynamics say about heat and energy?",
                                "topic": "thermodynamics"}])
    r = run_qtgen("suggest", "-s", "Physics", "-n", "1", "--topics", "topics.txt", "--json", cwd=site, env=e)
    assert r.returncode == 0, r.stderr
    sent = suggest_requests(server)[-1]["body"]["messages"][0]["content"]
    assert sent.index("- thermodynamics (0 page(s) now)") < sent.index("- momentum (1 page(s) now)")
    assert json.loads(r.stdout)["questions"][0]["topic"] == "thermodynamics"


def test_the_coverage_page_in_chromium(physics, tmp_path):
    from test_studio import ARTIFACTS, CHROMIUM

    site = physics
    (site / "topics.txt").write_text("momentum\nkinetic energy\nthermodynamics\n<script>x</script>\n")
    report = tmp_path / "coverage.html"
    r = run_qtgen("coverage", "-s", "Physics", "--topics", "topics.txt", "--html", str(report), cwd=site)
    assert r.returncode == 0, r.stderr
    html = report.read_text()
    assert "<script>x" not in html and "&lt;script&gt;x" in html and "default-src 'none'" in html
    r = run_qtgen("coverage", "--html", "content/learn/x.html", cwd=site)
    assert r.returncode == 2 and "inside the content tree" in r.stderr
    if not CHROMIUM:
        pytest.skip("no Chromium: apt-get install -y chromium (CI installs it), or set QTGEN_CHROMIUM")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(report.as_uri())
        for chart in ("#topics-chart img", "#subjects-chart img"):  # the charts are drawn, not broken images
            assert page.evaluate(f"() => document.querySelector('{chart}').naturalWidth") > 300
        assert page.locator("#uncovered li").all_inner_texts() == ["thermodynamics", "<script>x</script>"]
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "coverage.png"), full_page=True)
        browser.close()


def test_suggest_refuses_a_bad_out_before_any_request_and_stops_when_rounds_keep_failing(physics, server):
    site = physics
    e = env(site, server)
    for out, message in (("list.txt", "name a .csv file"), ("content/learn/new.csv", "inside the site"),
                         ("no-such-folder/new.csv", "is not a folder")):
        r = run_qtgen("suggest", "-s", "Physics", "--out", out, cwd=site, env=e)
        assert r.returncode == 2 and message in r.stderr, (out, r.stderr)
    assert suggest_requests(server) == []
    r = run_qtgen("--model", "no-such-model", "suggest", "-s", "Physics", "--out", "new.csv", cwd=site, env=e)
    assert r.returncode == 1 and "two rounds in a row failed" in r.stderr and not (site / "new.csv").exists()


def test_question_forms_a_person_would_accept(physics, server):
    from qtgen.insight.suggestion import tidy, well_formed

    assert tidy("Why do cells need to divide") == "Why do cells need to divide?"
    assert tidy("Compare mitosis in plant cells and animal cells") == "Compare mitosis in plant cells and animal cells."
    assert well_formed("Differentiate between speed and velocity in one dimension.") is None
    assert well_formed("Can you explain how vaccines train the immune system") is None
    assert well_formed("Momentum and friction in everyday life") is not None
    assert well_formed("=HYPERLINK(\"http://x\", \"What is a wave?\")") is not None


def test_a_topic_of_several_parts_and_syllabus_numbering(physics):
    from qtgen.config import load
    from qtgen.site.index import open_index
    from qtgen.insight.coverage import clean_topic, coverage

    assert clean_topic("1.2 Krebs cycle") == "Krebs cycle" and clean_topic("Unit 3: Cell membrane") == "Cell membrane"
    assert clean_topic("- **Photosynthesis**") == "Photosynthesis" and clean_topic("[Evolution](http://x)") == "Evolution"
    config = load(cwd=physics)
    with open_index(config) as index:
        report = coverage(config, index, "Physics", ["momentum and thermodynamics", "thermodynamics"])
    both, alone = report.topics
    assert [p.question for p in both.pages] == ["What is momentum in physics?"] and alone.pages == []


def test_the_coverage_chart_keeps_each_topic_on_its_own_row(physics, tmp_path):
    from qtgen.insight.coverage import Coverage, Covering, SubjectCount, TopicCoverage
    from qtgen.insight.coverage_report import report_html

    long = "A very long topic name that is cut where the chart shows it, the same at the start "
    topics = [TopicCoverage(long + "one", [Covering("p", "q", "content", 1.0)] * 3), TopicCoverage(long + "two"),
              TopicCoverage("Prices from $5 to $10"), TopicCoverage("The $\\frac{1}{ broken math$ topic")]
    html = report_html(Coverage([SubjectCount("Physics", "physics", 3)], "Physics", topics))  # no math error
    assert html.count("data:image/png;base64,") == 2
