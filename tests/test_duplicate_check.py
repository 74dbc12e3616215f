"""The model's check of uncertain near-duplicates (`similar_check`), against the local OpenAI-protocol server in
tests/, which judges pairs of questions by a rule this test sets: draft refuses or drafts by its word, batch skips
by it, every answer is kept per pair, the tokens are counted and priced, and the offline model never judges."""

from __future__ import annotations

import json
import re
from pathlib import Path

from qtgen.config import Config, load
from qtgen.drafting.near_duplicates import DuplicateCheck

from conftest import clean_env, publish, run_qtgen, write_config
from fake_openai import FakeOpenAI, house_answer

PUBLISHED = "What is the purpose of using the try...except statement in Python?"




def judge(same_words: set[str]):
    """A server that calls two questions the same when both hold one of `same_words`, and writes pages otherwise."""
    def reply(question, subject, body):
        if body.get("response_format", {}).get("json_schema", {}).get("name") == "same_question" or \
                "Do they ask for the same answer" in json.dumps(body["messages"]):
            text = body["messages"][-1]["content"]
            first = re.search(r"Question 1: (.*)", text).group(1).lower()
            second = re.search(r"Question 2: (.*)", text).group(1).lower()
            same = any(w in first and w in second for w in same_words)
            return {"same": same, "reason": "both ask about " + (next(iter(same_words)) if same else "different things")}
        return house_answer(question, subject)
    return reply


def checks(server: FakeOpenAI) -> list[dict]:
    return [r for r in server.requests if "Do they ask for the same answer" in json.dumps(r["body"].get("messages"))]


def configure(site: Path, *lines: str) -> None:
    path = write_config(site)
    path.write_text(path.read_text() + "\n".join(lines) + "\n")


def env(site: Path, server: FakeOpenAI) -> dict:
    return clean_env(site, OPENAI_BASE_URL=server.url, OPENAI_API_KEY="sk-test")


def test_draft_follows_the_models_word_inside_the_band_and_asks_each_pair_once(site):
    publish(site, PUBLISHED)
    configure(site, "similar_check = true", "similar_band = [10, 100]", '[prices]', '"test-model" = [1.0, 2.0]')
    with FakeOpenAI(reply=judge({"try"})) as server:
        # a rewording the model calls the same: refused, naming the page, whatever the score
        r = run_qtgen("draft", "When should a Python program use try and except?", "-s", "Computer Science",
                      cwd=site, env=env(site, server))
        assert r.returncode != 0 and PUBLISHED in r.stderr and "near-duplicate" in r.stderr, r.stderr
        assert "similar_check: 1 pair(s) put to the model" in r.stderr and "$" in r.stderr
        assert len(checks(server)) == 1
        # asked again: the kept answer, no request
        r = run_qtgen("draft", "When should a Python program use try and except?", "-s", "Computer Science",
                      cwd=site, env=env(site, server))
        assert r.returncode != 0 and "0 pair(s) put to the model" in r.stderr and "1 answered already" in r.stderr
        assert len(checks(server)) == 1
        # a question the model calls different is drafted, even with words in common
        r = run_qtgen("draft", "What is the purpose of using a with statement in Python?", "-s", "Computer Science",
                      cwd=site, env=env(site, server))
        assert r.returncode == 0, r.stderr
        assert Path(r.stdout.strip()).is_file() and len(checks(server)) == 2


def test_without_the_check_the_score_alone_decides_and_no_request_is_made(site):
    publish(site, PUBLISHED)
    with FakeOpenAI(reply=judge({"try"})) as server:
        r = run_qtgen("draft", "Why would you use a try/except statement in Python?", "-s", "Computer Science",
                      cwd=site, env=env(site, server))
        assert r.returncode != 0 and "near-duplicate" in r.stderr and "similar_check" not in r.stderr
        assert checks(server) == []


def test_batch_skips_what_the_model_calls_the_same_and_reports_the_checks(site):
    publish(site, PUBLISHED)
    configure(site, "similar_check = true", "similar_band = [10, 100]")
    questions = site / "list.csv"
    questions.write_text("question,subject\n"
                         "How do you catch errors with try in Python?,Computer Science\n"
                         "What does the Krebs cycle produce?,Biology\n"
                         "What are the products of the Krebs cycle?,Biology\n")
    publish(site, "What is a cell membrane?", "Biology", 8)
    with FakeOpenAI(reply=judge({"try", "krebs"})) as server:
        r = run_qtgen("batch", str(questions), cwd=site, env=env(site, server))
        assert r.returncode == 0, r.stderr
        assert "similar_check:" in r.stderr and "put to the model" in r.stderr
        drafted = sorted(p.name for p in (site / "drafts").glob("*/*.md"))
        assert drafted == ["what-does-the-krebs-cycle-produce.md"]
        assert "near-duplicate" in r.stderr and PUBLISHED in r.stderr and "(the model: the same question)" in r.stderr
        asked = len(checks(server))
        assert asked >= 2
        r = run_qtgen("batch", str(questions), cwd=site, env=env(site, server))  # resumed: nothing asked again
        assert len(checks(server)) == asked


def test_the_offline_model_never_judges_and_bad_bands_are_refused(site):
    offline = Config(similar_check=True, root=site)
    check = DuplicateCheck.open(offline)
    assert not check.enabled and "offline model" in check.note and check.floor == offline.similar_threshold
    assert check.same("a", "b", 85.0) and not check.same("a", "b", 75.0)  # the score alone
    configure(site, "similar_band = [90, 70]")
    r = run_qtgen("similar", "What is a tariff?", cwd=site)
    assert r.returncode == 2 and "similar_band" in r.stderr and "Traceback" not in r.stderr
    configure(site, 'similar_band = "high"')
    r = run_qtgen("similar", "What is a tariff?", cwd=site)
    assert r.returncode == 2 and "similar_band" in r.stderr
    assert load(cwd=site.parent).similar_check is False


def test_duplicates_asks_the_model_before_marking_a_page(site):
    from conftest import init_repo

    publish(site, "Why would you use a try/except statement in Python?", page_id=7)
    publish(site, PUBLISHED, page_id=8)
    publish(site, "What is the try/except statement used for in Python?", page_id=9)
    init_repo(site, ".")
    configure(site, "similar_check = true", "similar_band = [10, 100]")
    with FakeOpenAI(reply=judge({"purpose"})) as server:  # only questions both saying "purpose" are the same
        r = run_qtgen("duplicates", "--json", cwd=site, env=env(site, server))
        assert r.returncode == 0, r.stderr
        report = json.loads(r.stdout)
        assert report["to_mark_no_index"] == 0 and len(checks(server)) >= 1
        assert "put to the model" in r.stderr
    configure(site)
    r = run_qtgen("duplicates", "--json", cwd=site)  # the score alone marks them
    assert json.loads(r.stdout)["to_mark_no_index"] >= 1
