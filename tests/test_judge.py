"""`qtgen judge` against the local OpenAI-protocol server in tests/, whose judge grades deterministically: a sentence
holding a planted falsehood is an issue quoting it. The verdict and score, the quote check, the cache and what
invalidates it, the cost cap, the weak offline judge, and the gate approve keeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qtgen.format.reader import read
from qtgen.format.writer import render

from qtgen.judging.rubric import PASS, REJECT, REVISE, graded, quoted_in

from conftest import clean_env, git, init_repo, run_qtgen, write_config
from fake_openai import INVENTED_QUOTE, JUDGE_MARK, FakeOpenAI, house_answer

FALSE = "The Sun orbits the Earth once a year."
SOUND = "What is a tariff?"
PLANTED = "How does the sun move across the sky?"


def reply(question, subject, body):
    data = house_answer(question, subject)
    if "sun" in question.lower():
        data["answer"] = data["answer"].replace("In summary,", f"{FALSE}\n\nIn summary,")
    if "medicine" in question.lower():
        data["answer"] = data["answer"].replace("In summary,", "For a cold, drink bleach daily.\n\nIn summary,")
    return data


@pytest.fixture
def server():
    with FakeOpenAI(reply=reply) as s:
        yield s


def configure(site: Path, *lines: str) -> None:
    path = write_config(site)
    path.write_text(path.read_text() + "\n".join(lines) + "\n")


def env(site: Path, server) -> dict:
    return clean_env(site, OPENAI_BASE_URL=server.url, OPENAI_API_KEY="sk-test-judge-secret")


def judge_requests(server) -> list[dict]:
    return [r for r in server.requests if JUDGE_MARK in json.dumps(r["body"].get("messages"))]


def drafted(site: Path, server, *questions: str) -> None:
    for q in questions:
        r = run_qtgen("draft", q, "-s", "Physics", cwd=site, env=env(site, server))
        assert r.returncode == 0, r.stderr


def judged(site: Path, server, *args: str) -> dict[str, dict]:
    r = run_qtgen("judge", *args, "--json", cwd=site, env=env(site, server))
    assert r.returncode == 0, r.stderr
    return {Path(j["path"]).name: j for j in map(json.loads, r.stdout.splitlines())}


def test_a_planted_falsehood_fails_quoted_and_a_sound_answer_passes(site, server):
    configure(site, "[prices]", '"test-model" = [1.0, 2.0]')
    drafted(site, server, PLANTED, SOUND)
    out = judged(site, server, "--all")
    bad, good = out["how-does-the-sun-move-across-the-sky.md"], out["what-is-a-tariff.md"]
    assert bad["verdict"] == REVISE and bad["score"] < 70
    assert [i["quote"] for i in bad["issues"]] == [FALSE] and bad["issues"][0]["severity"] == "major"
    assert bad["criteria"]["correctness"]["score"] == 2 and "false" in bad["criteria"]["correctness"]["reason"]
    assert good["verdict"] == PASS and good["score"] >= 90 and good["issues"] == []
    # the contract of --json: one object a line with these fields
    assert set(good) >= {"path", "verdict", "score", "criteria", "issues", "model", "cached", "cost"}
    assert set(good["criteria"]) == {"correctness", "answers_question", "completeness", "clarity", "safety"}
    assert good["model"] == "test-model" and good["cached"] is False
    assert good["cost"] == pytest.approx((120 * 1.0 + 480 * 2.0) / 1e6)  # the fake server's usage, at these prices
    request = judge_requests(server)[0]["body"]
    assert request["response_format"]["json_schema"]["name"] == "judgment" and request["temperature"] == 0
    # the key never reaches a kept grade
    assert b"sk-test-judge-secret" not in (site / "drafts" / ".qtgen" / "judgments.sqlite").read_bytes()


def test_an_unchanged_draft_is_never_judged_twice_and_an_edit_or_a_new_rubric_judges_it_again(site, server):
    drafted(site, server, PLANTED, SOUND)
    judged(site, server, "--all")
    assert len(judge_requests(server)) == 2
    again = judged(site, server, "--all")
    assert len(judge_requests(server)) == 2 and all(j["cached"] and j["cost"] == 0 for j in again.values())
    # an edit of the answer (here: the falsehood corrected by hand) leaves the draft unjudged in its new form
    draft = site / "drafts" / "physics" / "how-does-the-sun-move-across-the-sky.md"
    draft.write_text(draft.read_text().replace(FALSE, "The Earth orbits the Sun once a year."))
    after = judged(site, server, "how-does-the-sun-move-across-the-sky")
    assert len(judge_requests(server)) == 3
    assert after["how-does-the-sun-move-across-the-sky.md"]["verdict"] == PASS
    # a subject's own rubric is another rubric: its drafts are judged again, the others' grades stand
    own = site / "prompts" / "physics"
    own.mkdir(parents=True)
    packaged = Path(__file__).resolve().parent.parent / "prompts" / "judge.j2"
    own.joinpath("judge.j2").write_text(packaged.read_text() + "\nBe strict about units.\n")
    judged(site, server, "--all")
    assert len(judge_requests(server)) == 5
    assert "Be strict about units." in json.dumps(judge_requests(server)[-1]["body"]["messages"])


def test_a_quote_the_answer_does_not_hold_is_dropped_and_counted(site, server):
    drafted(site, server, SOUND)
    server.judge_invents = True  # the judge makes up a critical error, quoting words that are not in the answer
    out = judged(site, server, "--all")["what-is-a-tariff.md"]
    # not held against the answer (its score stands), but a serious issue nobody could check is read by a person
    assert out["issues"] == [] and out["dropped_quotes"] == 1 and out["score"] == 97 and out["verdict"] == REVISE
    r = run_qtgen("show", "what-is-a-tariff", cwd=site, env=env(site, server))
    assert "1 issue(s) dropped" in r.stdout and INVENTED_QUOTE not in r.stdout


def test_dangerous_advice_is_rejected(site, server):
    drafted(site, server, "Which medicine helps against a cold?")
    out = judged(site, server, "--all")["which-medicine-helps-against-a-cold.md"]
    assert out["verdict"] == REJECT and out["issues"][0]["severity"] == "critical"
    assert out["criteria"]["safety"]["score"] == 1


@pytest.mark.parametrize("criteria,issues,verdict,score", [
    ({}, [], PASS, 100),
    ({"completeness": 3}, [], PASS, 94),
    ({"clarity": 2}, [], REVISE, 92),  # any criterion at 2 or less asks for a revision, whatever the score
    ({}, [("minor", "the answer")], PASS, 95),
    ({}, [("major", "the answer")], REVISE, 80),
    ({}, [("critical", "the answer")], REJECT, 60),
    ({"answers_question": 1}, [], REJECT, 78),
    ({"correctness": 3, "completeness": 3}, [("minor", "the answer"), ("minor", "answer is")], REVISE, 68),
])
def test_the_verdict_and_score_follow_from_the_evidence_by_fixed_rules(criteria, issues, verdict, score):
    reply = {"criteria": {n: {"score": criteria.get(n, 5), "reason": "r"} for n in
                          ("correctness", "answers_question", "completeness", "clarity", "safety")},
             "issues": [{"quote": q, "problem": "p", "correction": "c", "severity": s} for s, q in issues]}
    _, kept, dropped, got_score, got_verdict = graded(reply, "This is the answer is here.")
    assert (got_verdict, got_score, dropped, len(kept)) == (verdict, score, 0, len(issues))


def test_a_reply_that_is_not_a_grade_is_an_error_never_a_pass_and_its_text_is_made_safe():
    from qtgen.errors import QtgenError

    answer = "Don\u2019t see a doctor: drink bleach daily. Tariffs \u2014 taxes on imports \u2014 raise prices."
    criteria = {n: {"score": 5, "reason": "ok"} for n in ("correctness", "answers_question", "completeness", "clarity",
                                                           "safety")}

    def grade(issues, **extra):
        return graded({"criteria": {**criteria, **extra}, "issues": issues}, answer)

    # a straight apostrophe and dash quote the typographic ones; a misnamed severity is not taken for a small one
    _, kept, dropped, _, verdict = grade([{"quote": "Don't see a doctor: drink bleach daily", "problem": "p",
                                           "correction": "c", "severity": "critical"}])
    assert (len(kept), dropped, verdict) == (1, 0, REJECT)
    _, kept, _, _, verdict = grade([{"quote": "Tariffs - taxes on imports - raise", "problem": "p", "correction": "c",
                                     "severity": "Critical!"}])
    assert kept[0].severity == "critical" and verdict == REJECT
    _, kept, _, _, verdict = grade([{"quote": "taxes on imports", "problem": "p", "correction": "c",
                                     "severity": "dreadful"}])
    assert kept[0].severity == "major" and verdict == REVISE
    for bad in ({"quote": "x"}, 7, True):  # issues that are not a list
        with pytest.raises(QtgenError):
            grade(bad)
    with pytest.raises(QtgenError):
        grade([], correctness={"score": float("nan"), "reason": "r"})
    with pytest.raises(QtgenError):
        grade([], clarity={"score": "5", "reason": "r"})
    # terminal escapes and line breaks never reach what is kept or printed
    _, kept, _, _, _ = grade([{"quote": "taxes on imports", "problem": "bad\x1b]52;c;aGk=\x07\nforged line",
                               "correction": "\x1b[31mred", "severity": "minor"}])
    assert kept[0].problem == "bad]52;c;aGk= forged line" and kept[0].correction == "[31mred"


def test_quotes_are_matched_as_the_reader_sees_them():
    answer = "1. **Tariffs** raise   prices\nfor consumers."
    assert quoted_in("Tariffs raise prices for consumers", answer)
    assert quoted_in("tariffs RAISE prices", answer)
    assert not quoted_in("Tariffs lower prices", answer)
    assert not quoted_in("  ", answer) and not quoted_in("raise", answer)  # too short to say where


def test_bad_reply_and_bad_input_are_one_line_errors(site, server):
    r = run_qtgen("judge", cwd=site, env=env(site, server))
    assert r.returncode == 2 and "name the drafts to judge, or use --all" in r.stderr
    r = run_qtgen("judge", "no-such-draft", cwd=site, env=env(site, server))
    assert r.returncode != 0 and "no-such-draft: no such draft" in r.stderr and "Traceback" not in r.stderr
    drafted(site, server, SOUND)
    server.raw_bodies.append(json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "test-model",
                                         "choices": [{"index": 0, "finish_reason": "stop", "message": {
                                             "role": "assistant", "content": '{"criteria": {}, "issues": []}'}}]}))
    r = run_qtgen("judge", "--all", cwd=site, env=env(site, server))
    assert r.returncode == 1 and "grades no 'correctness'" in r.stderr and "Traceback" not in r.stderr
    asked = len(judge_requests(server))
    assert judged(site, server, "--all")["what-is-a-tariff.md"]["cached"] is False  # a bad reply was never kept
    assert len(judge_requests(server)) == asked + 1


def test_the_cost_cap_stops_before_a_request_it_cannot_afford(site, server):
    configure(site, "[prices]", '"test-model" = [1000.0, 1000.0]')
    drafted(site, server, SOUND)
    before = len(server.requests)
    r = run_qtgen("judge", "--all", "--max-cost", "0.5", cwd=site, env=env(site, server))
    assert r.returncode == 1 and "--max-cost $0.5 reached" in r.stderr
    assert len(server.requests) == before


def test_the_offline_model_is_too_small_to_judge(site):
    r = run_qtgen("judge", "--all", cwd=site, env=clean_env(site))
    assert r.returncode == 2 and "too small to judge" in r.stderr and "--allow-weak-judge" in r.stderr


def test_a_judge_model_of_its_own(site, server):
    server.models.add("judge-model")
    configure(site, 'judge_model = "judge-model"')
    drafted(site, server, SOUND)
    assert judged(site, server, "--all")["what-is-a-tariff.md"]["model"] == "judge-model"
    assert judge_requests(server)[-1]["body"]["model"] == "judge-model"
    assert judged(site, server, "--all", "--model", "test-model")["what-is-a-tariff.md"]["cached"] is False


def test_review_shows_and_sorts_by_risk_and_filters_by_verdict(site, server):
    drafted(site, server, SOUND, PLANTED, "Which medicine helps against a cold?", "What is inertia?", "What is friction?")
    friction = site / "drafts/physics/what-is-friction.md"  # judged sound, but unpublishable as it stands
    friction.write_text(render(read(friction).model_copy(update={
        "answer": read(friction).answer.replace("In summary,", "<script>alert(1)</script>\\n\\nIn summary,")})))
    judged(site, server, "what-is-a-tariff", "how-does-the-sun-move-across-the-sky", "which-medicine-helps-against-a-cold",
           "what-is-friction")
    r = run_qtgen("review", "--json", "--sort", "risk", cwd=site, env=env(site, server))
    items = json.loads(r.stdout)
    assert [(i["question"], (i["judge"] or {}).get("verdict")) for i in items] == [
        ("What is friction?", PASS), ("Which medicine helps against a cold?", REJECT), (PLANTED, REVISE),
        ("What is inertia?", None), (SOUND, PASS)]
    assert items[0]["status"] == "errors"
    r = run_qtgen("review", "--json", "--verdict", "unjudged", cwd=site, env=env(site, server))
    assert [i["question"] for i in json.loads(r.stdout)] == ["What is inertia?"]
    r = run_qtgen("review", cwd=site, env=env(site, server))
    assert "revise" in r.stdout and "reject" in r.stdout and "pass" in r.stdout


def test_approve_refuses_an_unjudged_or_failing_draft_unless_overridden_with_a_reason(site, server):
    configure(site, "[judge]", "required = true", "min_score = 80")
    init_repo(site)
    drafted(site, server, SOUND, PLANTED, "What is inertia?")
    judged(site, server, "what-is-a-tariff", "how-does-the-sun-move-across-the-sky")
    e = env(site, server)
    r = run_qtgen("approve", "what-is-inertia", cwd=site, env=e)
    assert r.returncode != 0 and "not judged by test-model" in r.stderr
    r = run_qtgen("approve", "how-does-the-sun-move-across-the-sky", cwd=site, env=e)
    assert r.returncode != 0 and "the judge says revise" in r.stderr
    assert not list((site / "content" / "learn").rglob("*.md"))
    # --all-clean publishes what passes and leaves the rest waiting
    r = run_qtgen("approve", "--all-clean", cwd=site, env=e)
    assert r.returncode == 0, r.stderr
    assert [p.name for p in (site / "content" / "learn").rglob("*.md")] == ["what-is-a-tariff.md"]
    assert "left 2 draft(s) waiting" in r.stderr
    r = run_qtgen("approve", "what-is-inertia", "--override", "  ", cwd=site, env=e)
    assert r.returncode != 0 and "--override needs a reason" in r.stderr
    r = run_qtgen("approve", "what-is-inertia", "--override", "checked by hand by the physics editor", cwd=site, env=e)
    assert r.returncode == 0, r.stderr
    message = git(site, "log", "-1", "--format=%B")
    assert "Judge gate overridden: checked by hand by the physics editor" in message
    assert "what-is-inertia.md: not judged by test-model" in message


def test_cohens_kappa_of_a_textbook_table():
    from qtgen.judging.calibration import kappa

    pairs = [("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10 + [("no", "no")] * 15
    assert kappa(pairs) == pytest.approx(0.4)
    assert kappa([]) is None and kappa([("a", "a")] * 3) == 1.0


def test_every_human_decision_is_kept_with_the_judges_grade_and_calibration_reads_them(site, server):
    init_repo(site)
    e = env(site, server)
    drafted(site, server, SOUND, "What is inertia?", PLANTED, "Which medicine helps against a cold?",
            "What is momentum?", "What is friction?")
    judged(site, server, "what-is-a-tariff", "what-is-inertia", "how-does-the-sun-move-across-the-sky",
           "which-medicine-helps-against-a-cold", "what-is-momentum")
    assert run_qtgen("approve", "what-is-a-tariff", cwd=site, env=e).returncode == 0  # passed, approved unchanged
    edited = site / "drafts" / "physics" / "what-is-inertia.md"
    edited.write_text(edited.read_text().replace("It is best understood", "It is most easily understood"))
    assert run_qtgen("approve", "what-is-inertia", cwd=site, env=e).returncode == 0  # passed, edited, approved
    r = run_qtgen("regenerate", "how-does-the-sun-move-across-the-sky", "--from-judge", cwd=site, env=e)
    assert r.returncode == 0, r.stderr
    sent = json.dumps(server.requests[-1]["body"]["messages"])
    assert FALSE in sent and "A reviewer's check found these problems" in sent  # the judge's issue, as feedback
    assert run_qtgen("reject", "which-medicine-helps-against-a-cold", "--reason", "dangerous", cwd=site,
                     env=e).returncode == 0
    assert run_qtgen("reject", "what-is-momentum", "--reason", "off the syllabus", cwd=site, env=e).returncode == 0
    assert run_qtgen("approve", "what-is-friction", cwd=site, env=e).returncode == 0  # never judged

    r = run_qtgen("judge", "--calibrate", "--json", "--target", "0.3", cwd=site, env=e)
    assert r.returncode == 0, r.stderr
    cal = json.loads(r.stdout)
    assert cal["matrix"] == {
        "pass": {"approve": 1, "edit+approve": 1, "regenerate": 0, "reject": 1},
        "revise": {"approve": 0, "edit+approve": 0, "regenerate": 1, "reject": 0},
        "reject": {"approve": 0, "edit+approve": 0, "regenerate": 0, "reject": 1}}
    assert (cal["judged"], cal["unjudged"]) == (5, 1)
    # agreement 3/5 against 7/25 by chance
    assert cal["kappa"] == pytest.approx((0.6 - 0.28) / 0.72)
    assert cal["passed_approved_unchanged"] == pytest.approx(1 / 3)
    # scores 97 (three passed), 52 (revise), 2 (reject): the gate lets through only drafts the judge passed, and of
    # those a reviewer rejected 1 in 3, so no min_score keeps rejected drafts under 5% (a revise verdict above a
    # score is refused by the gate whatever the score, so it is never counted as let through)
    assert (cal["min_score"], cal["let_through"], cal["rejected_share"]) == (None, 0, None)
    r = run_qtgen("judge", "--calibrate", "--target", "0.3", cwd=site, env=e)
    assert "Cohen's kappa: 0.444" in r.stdout and "no threshold keeps human-rejected drafts under 30.0%" in r.stdout
    assert "too few" in r.stderr
    r = run_qtgen("regenerate", "what-is-friction", "--from-judge", cwd=site, env=e)
    assert r.returncode != 0 and "no such draft" in r.stderr  # approved: no longer a draft


def test_judging_through_the_batch_api_at_its_price_and_a_failed_line_sent_again(site, server):
    configure(site, "batch_api_poll = 0", "[prices]", '"test-model" = [1.0, 2.0]')
    drafted(site, server, PLANTED, SOUND)
    server.batch_api.scripts.append({"fail": 1})  # the first line of the first batch fails
    before = len(judge_requests(server))
    r = run_qtgen("judge", "--all", "--via", "batch-api", "--wait", "--json", cwd=site, env=env(site, server))
    assert r.returncode == 1 and "the next send tries it again" in r.stderr
    assert len(judge_requests(server)) == before  # nothing was asked online
    assert server.batch_api.creates == [{"qtgen": "judge", "file": server.batch_api.uploads[0]}]
    first = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(first) == 1 and first[0]["cost"] == pytest.approx((120 * 0.5 + 480 * 1.0) / 1e6)  # half price
    # the failed line goes in the next batch; the graded one is not sent again
    r = run_qtgen("judge", "--all", "--via", "batch-api", "--json", cwd=site, env=env(site, server))
    assert r.returncode == 0, r.stderr
    assert "sent 1 draft(s)" in r.stderr and len(server.batch_api.creates) == 2
    assert r.stdout == "" and "1 batch(es) still running" in r.stderr  # sent, not waited for
    r = run_qtgen("judge", "--poll", "--json", cwd=site, env=env(site, server))
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 1
    both = judged(site, server, "--all")  # every grade kept: nothing asked online now
    assert len(judge_requests(server)) == before and all(j["cached"] for j in both.values())
    assert both["how-does-the-sun-move-across-the-sky.md"]["verdict"] == REVISE
    assert both["how-does-the-sun-move-across-the-sky.md"]["issues"][0]["quote"] == FALSE


@pytest.mark.parametrize("route", ["upload", "create"])
def test_a_judge_killed_while_sending_a_batch_sends_nothing_twice(site, server, route):
    import signal
    import subprocess
    import sys
    import time

    configure(site, "batch_api_poll = 0")
    drafted(site, server, PLANTED, SOUND)
    gate = server.batch_api.gate(route)
    proc = subprocess.Popen([sys.executable, "-m", "qtgen", "judge", "--all", "--via", "batch-api"], cwd=site,
                            env=env(site, server), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert gate.arrived.wait(60), f"qtgen judge never reached {route}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        gate.release.set()
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 10  # the server finishes the request it held, its client gone
    while len(getattr(server.batch_api, route + "s")) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    r = run_qtgen("judge", "--all", "--via", "batch-api", "--wait", "--json", cwd=site, env=env(site, server))
    assert r.returncode == 0, r.stderr
    assert len(server.batch_api.uploads) == 1 and len(server.batch_api.creates) == 1
    assert len(r.stdout.splitlines()) == 2 and len(set(server.batch_api.answered)) == len(server.batch_api.answered)


def test_two_judges_at_once_ask_once_per_draft(site, server):
    import subprocess
    import sys

    drafted(site, server, PLANTED, SOUND, "What is inertia?")
    server.latency = 0.3
    procs = [subprocess.Popen([sys.executable, "-m", "qtgen", "judge", "--all", "--json"], cwd=site,
                              env=env(site, server), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert len(judge_requests(server)) == 3  # three drafts, one request each, whichever process asked
    assert all(len(out.splitlines()) == 3 for out, _ in outs)


def test_secrets_echoed_in_a_judges_reply_are_masked(site, server):
    drafted(site, server, SOUND)
    echoed = {"criteria": {n: {"score": 5, "reason": "seen key sk-test-judge-secret here"}
                           for n in ("correctness", "answers_question", "completeness", "clarity", "safety")},
              "issues": []}
    server.raw_bodies.append(json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "test-model",
                                         "choices": [{"index": 0, "finish_reason": "stop", "message": {
                                             "role": "assistant", "content": json.dumps(echoed)}}]}))
    r = run_qtgen("judge", "--all", "--json", cwd=site, env=env(site, server))
    assert r.returncode == 0, r.stderr
    assert "sk-test-judge-secret" not in r.stdout and "seen key" in r.stdout
    assert b"sk-test-judge-secret" not in (site / "drafts" / ".qtgen" / "judgments.sqlite").read_bytes()


def test_feedback_from_the_judge_is_of_the_draft_as_it_stands(site, server):
    drafted(site, server, PLANTED)
    judged(site, server, "--all")
    draft = site / "drafts" / "physics" / "how-does-the-sun-move-across-the-sky.md"
    draft.write_text(draft.read_text().replace(FALSE, "The Earth orbits the Sun once a year."))  # fixed by hand
    r = run_qtgen("regenerate", "how-does-the-sun-move-across-the-sky", "--from-judge", cwd=site, env=env(site, server))
    assert r.returncode == 2 and "not judged in its present form" in r.stderr
    judged(site, server, "--all")  # passes now: the reviewer's own words alone are sent
    r = run_qtgen("regenerate", "how-does-the-sun-move-across-the-sky", "--from-judge", "--feedback", "Add an example",
                  cwd=site, env=env(site, server))
    assert r.returncode == 0, r.stderr
    sent = json.dumps(server.requests[-1]["body"]["messages"])
    assert "Add an example" in sent and "A reviewer's check found" not in sent


def test_an_issue_many_drafts_share_is_printed_once_and_lines_fit_80_columns(site, server):
    questions = [f"How does the sun move across the sky in month {m}?" for m in ("one", "two", "three", "four")]
    drafted(site, server, *questions)
    r = run_qtgen("judge", "--all", cwd=site, env={**env(site, server), "COLUMNS": "80"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert sum("major: \"The Sun orbits the Earth" in line for line in lines) == 1  # said once, for the first
    assert sum("1 issue(s) printed above for another draft" in line for line in lines) == 3
    assert len([line for line in lines if line.startswith("revise")]) == 4
    assert max(len(line) for line in lines) <= 80
    data = [json.loads(x) for x in run_qtgen("judge", "--all", "--json", cwd=site, env=env(site, server)).stdout.splitlines()]
    assert all(len(j["issues"]) == 1 for j in data)  # --json keeps every issue of every draft
