"""`qtgen batch`: inputs, deduplication, faults, rate limits, kill -9 and resume, budgets, reports."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qtgen.batch.question_list import read_questions
from qtgen.config import load
from qtgen.errors import InputError
from qtgen.format.reader import read
from qtgen.format.validate import validate_paths
from qtgen.format.writer import render

from conftest import clean_env, files_in, run_qtgen
from fake_openai import DROP, INVALID_JSON, LENGTH, FakeOpenAI, status


def env(site, server):
    return clean_env(site, OPENAI_BASE_URL=server.url, OPENAI_API_KEY="sk-test")


def questions(n: int, subject="Economics") -> str:
    return "question,subject\n" + "".join(f"What is economic idea number {i}?,{subject}\n" for i in range(n))


def drafts(site) -> list[Path]:
    return sorted(p for p in (site / "drafts").glob("*/*.md") if p.parent.name != "rejected")


def assert_clean(site, expected: int) -> None:
    """Exactly `expected` valid drafts, unique ids, no temp or partial file."""
    found = drafts(site)
    assert len(found) == expected
    assert [p for p in files_in(site / "drafts") if p.suffix != ".md" and "rejected" not in p.parts] == []
    ids = [read(p).id for p in found]
    assert len(set(ids)) == len(ids)
    assert validate_paths(found, load(cwd=site)).errors == []


# -- inputs -------------------------------------------------------------------------------------
def test_every_input_format_with_bom_comments_and_blank_lines(tmp_path):
    (tmp_path / "q.csv").write_bytes("\ufeffquestion,subject,id,date\n# a comment\n\n\"What is a tariff, really?\",Economics,12,2025-01-02\n"
                                     .encode())
    (tmp_path / "q.tsv").write_text("subject\tquestion\nPhysics\tWhat is a wave?\n")
    (tmp_path / "q.jsonl").write_text('{"question": "What is a gene?", "subject": "Biology"}\n# x\n\n')
    (tmp_path / "q.txt").write_text("What is a cell?\n  \n# skip\nWhat is DNA?\n")
    [row], bad = read_questions(tmp_path / "q.csv")
    assert (row.line, row.question, row.subject, row.page_id, str(row.date)) == (4, "What is a tariff, really?", "Economics", 12, "2025-01-02")
    assert bad == []
    assert [(r.question, r.subject) for r in read_questions(tmp_path / "q.tsv")[0]] == [("What is a wave?", "Physics")]
    assert [(r.line, r.subject) for r in read_questions(tmp_path / "q.jsonl")[0]] == [(1, "Biology")]
    rows, _ = read_questions(tmp_path / "q.txt", "Biology")
    assert [(r.line, r.question) for r in rows] == [(1, "What is a cell?"), (4, "What is DNA?")]


@pytest.mark.parametrize("name, content, line, message", [
    ("q.csv", "question,subject\nWhat is X?,Economics\n,Economics\n", 3, "question: empty"),
    ("q.csv", "question,subject\n" + "x" * 400 + ",Economics\n", 2, "400 characters, over the limit"),
    ("q.csv", "question,subject\nWhat is X?,../../etc\n", 2, "looks like a path"),
    ("q.csv", "question,subject\nWhat is X?,Economics,extra\n", 2, "3 fields, the header has 2"),
    ("q.csv", 'question,subject\nWhat is X?,Economics\n"Broken quote,Economics\nWhat is Y?,Economics\n', 3, "broken CSV"),
    ("q.csv", "question,subject,id\nWhat is X?,Economics,abc\n", 2, "id: 'abc' is not a whole number"),
    ("q.jsonl", '{"question": "What is X?", "subject": "Economics"}\n{"question": oops}\n', 2, "not valid JSON"),
    ("q.jsonl", '["What is X?"]\n', 1, "not a JSON object"),
    ("q.txt", "What is X?\nWhat is \x07 this?\n", 2, "control character U+0007"),
])
def test_bad_lines_name_the_file_and_the_line(tmp_path, name, content, line, message):
    path = tmp_path / name
    path.write_text(content)
    _, bad = read_questions(path, "Economics" if name.endswith(".txt") else None)
    assert any(b.line == line and message in b.message and b.file == str(path) for b in bad), bad


@pytest.mark.parametrize("content, message", [
    (b"subject\nEconomics\n", "q.csv:1: the header has no 'question' column"),
    (b"question\nWhat is X?\n", "q.csv:1: the header has no 'subject' column"),
    (b"question,subject\nWhat is X?,Econ\xe9mics\n", "q.csv:2: not UTF-8"),
    (b"", "no header line"),
])
def test_unreadable_files_are_one_clear_error(tmp_path, content, message):
    path = tmp_path / "q.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_questions(path)


def test_strict_sends_nothing_if_any_line_is_bad(site):
    (site / "q.csv").write_text(questions(3) + ",Economics\n")
    with FakeOpenAI() as server:
        r = run_qtgen("batch", "q.csv", "--strict", cwd=site, env=env(site, server))
        assert len(server.requests) == 0
    assert r.returncode == 2
    assert "q.csv:5: question: empty" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert drafts(site) == []


def test_bad_lines_are_reported_and_the_rest_is_drafted(site):
    (site / "q.csv").write_text(questions(2) + ",Economics\n")
    with FakeOpenAI() as server:
        r = run_qtgen("batch", "q.csv", "--report", "report.jsonl", cwd=site, env=env(site, server))
    assert r.returncode == 1 and "bad line: q.csv:4: question: empty" in r.stderr
    assert_clean(site, 2)
    rows = [json.loads(x) for x in (site / "report.jsonl").read_text().splitlines()]
    assert [(x["line"], x["status"]) for x in rows] == [(2, "done"), (3, "done"), (4, "invalid")]
    assert all(x["tokens"] == 600 and x["path"] for x in rows[:2])


# -- deduplication ------------------------------------------------------------------------------
def test_duplicates_existing_drafts_and_published_pages_are_skipped_before_any_request(site):
    with FakeOpenAI() as server:
        e = env(site, server)
        assert run_qtgen("draft", "What is economic idea number 0?", "-s", "Economics", cwd=site, env=e).returncode == 0
        published = site / "content/learn/economics/what-is-economic-idea-number-1.md"
        published.parent.mkdir(parents=True)
        published.write_text(render(read(drafts(site)[0]).model_copy(update={
            "question": "What is economic idea number 1?", "title": "What is economic idea number 1?",
            "article_title": "What is economic idea number 1?", "file_name": published.name, "id": 7,
            "url": "/learn/economics/questions/what-is-economic-idea-number-1"})))
        (site / "q.csv").write_text(questions(4) + "What is economic idea number 3?,Economics\n"
                                    "What  is economic idea number 3? ,economics\n")
        before = len(server.requests)
        r = run_qtgen("batch", "q.csv", "--report", "r.jsonl", cwd=site, env=e)
        assert len(server.requests) - before == 2  # ideas 2 and 3 only
    assert r.returncode == 0, r.stderr
    rows = {x["line"]: x for x in map(json.loads, (site / "r.jsonl").read_text().splitlines())}
    assert rows[2]["status"] == "skipped" and "already exists" in rows[2]["error"]
    assert rows[3]["status"] == "skipped" and "already published" in rows[3]["error"]
    assert rows[6]["status"] == rows[7]["status"] == "skipped" and rows[7]["error"] == "duplicate of line 5"
    assert rows[4]["status"] == rows[5]["status"] == "done"


# -- faults -------------------------------------------------------------------------------------
def test_every_question_ends_as_a_valid_draft_or_a_reported_failure(site):
    (site / "qtgen.toml").write_text('model = "test-model"\nretry_wait = 0.01\nretries = 2\n')
    (site / "q.csv").write_text(questions(12))
    with FakeOpenAI() as server:
        server.script(status(429, retry_after="0.2"), status(500), DROP, INVALID_JSON, LENGTH,
                      status(503), status(500), status(500))
        r = run_qtgen("batch", "q.csv", "-c", "4", "--report", "r.jsonl", cwd=site, env=env(site, server))
    rows = [json.loads(x) for x in (site / "r.jsonl").read_text().splitlines()]
    done = [x for x in rows if x["status"] == "done"]
    failed = [x for x in rows if x["status"] == "failed"]
    assert len(done) + len(failed) == 12
    assert any("cut off at max_tokens" in x["error"] for x in failed)  # the truncated answer, not retried
    assert r.returncode == (1 if failed else 0)
    assert_clean(site, len(done))
    assert {Path(x["path"]).name for x in done} == {p.name for p in drafts(site)}


def test_a_429_slows_the_whole_run_then_it_recovers(site):
    (site / "q.csv").write_text(questions(10))
    with FakeOpenAI(latency=0.1) as server:
        server.script(status(429, retry_after="0.4"))  # under the test config's retry_wait_max of 0.5
        r = run_qtgen("batch", "q.csv", "-c", "4", cwd=site, env=env(site, server))
        times = list(server.times)
    assert r.returncode == 0, r.stderr
    assert_clean(site, 10)
    t429 = times[0] + 0.1  # the first request got the 429, answered after the latency
    later = [t for t in times if t > t429 + 0.05]
    assert later and min(later) >= t429 + 0.35  # nobody sent anything during the pause
    assert "1 rate-limit answer" in r.stderr


def test_rpm_paces_a_real_run_and_is_kept_for_resume(site):
    """The spacing itself is checked on a clock the test controls (test_ratelimit.py); a real run on a loaded
    machine can only be checked for what no scheduling delay changes."""
    (site / "q.csv").write_text(questions(6))
    with FakeOpenAI() as server:
        r = run_qtgen("batch", "q.csv", "-c", "6", "--rpm", "300", cwd=site, env=env(site, server))
        asked = sorted(json.dumps(x["body"]["messages"][-1]["content"]) for x in server.requests)
    assert r.returncode == 0, r.stderr
    assert len(asked) == 6 and len(set(asked)) == 6  # each question once
    db = sqlite3.connect(site / "drafts/.qtgen/batch.sqlite")
    try:
        options = json.loads(db.execute("SELECT options FROM runs").fetchone()[0])
    finally:
        db.close()
    assert options["rpm"] == 300 and options["concurrency"] == 6


# -- resume -------------------------------------------------------------------------------------
def ledger_rows(site) -> list[tuple]:
    db = sqlite3.connect(site / "drafts/.qtgen/batch.sqlite")
    try:
        return db.execute("SELECT key, state FROM items").fetchall()
    finally:
        db.close()


def test_kill_9_then_resume_gives_exactly_one_valid_draft_per_question(site):
    n = 30
    (site / "q.csv").write_text(questions(n))
    with FakeOpenAI(latency=0.15) as server:
        e = env(site, server)
        proc = subprocess.Popen([sys.executable, "-m", "qtgen", "batch", "q.csv", "-c", "4"], cwd=site, env=e,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while len(drafts(site)) < 8 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert 8 <= len(drafts(site)) < n
        r = run_qtgen("batch", "q.csv", "-c", "4", cwd=site, env=e)
        assert r.returncode == 0, r.stderr
        assert "(resumed)" in r.stderr
    assert_clean(site, n)
    assert sorted(state for _, state in ledger_rows(site)) == ["done"] * n
    r = run_qtgen("runs", cwd=site)
    assert r.returncode == 0 and re.search(rf"finished\s+online\s+{n} done, 0 failed", r.stdout), r.stdout


def test_a_temp_file_left_by_a_killed_writer_is_swept_and_no_other(site):
    """kill -9 between a temp file's creation and its rename leaves it; the next run removes it."""
    folder = site / "drafts" / "economics"
    folder.mkdir(parents=True)
    code = ("import os, sys, time; from qtgen.format import files; "
            "open(os.path.join(sys.argv[1], '.a.md.' + files._owner() + '-x1.tmp'), 'w').write('partial'); "
            "print('ready', flush=True); time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    live = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True)
    assert live.stdout.readline().strip() == "ready"
    child.send_signal(signal.SIGKILL)
    child.wait()
    other_host = folder / ".b.md.qt000000p1-x2.tmp"  # another machine's writer on a shared folder
    other_host.write_text("partial")
    mine = folder / "notes.tmp"  # not qtgen's: never touched
    mine.write_text("keep")
    try:
        assert len(list(folder.glob(".a.md.*.tmp"))) == 2
        r = run_qtgen("review", cwd=site, env=clean_env(site))
        assert r.returncode == 0, r.stderr
        left = sorted(p.name for p in folder.iterdir())
        assert [n for n in left if n.startswith(".a.md.")] == [f".a.md.qt{_host_tag()}p{live.pid}-x1.tmp"]
        assert other_host.exists() and mine.read_text() == "keep"
    finally:
        live.kill()
        live.wait()


def _host_tag() -> str:
    import hashlib
    import os
    import socket

    namespace = str(os.stat("/proc/self/ns/pid").st_ino) if os.path.exists("/proc/self/ns/pid") else ""
    return hashlib.sha256(f"{socket.gethostname()}\0{namespace}".encode()).hexdigest()[:6]


def test_ctrl_c_stops_gracefully_and_resume_finishes(site):
    n = 12
    (site / "q.csv").write_text(questions(n))
    with FakeOpenAI(latency=0.4) as server:
        e = env(site, server)
        proc = subprocess.Popen([sys.executable, "-m", "qtgen", "batch", "q.csv", "-c", "2"], cwd=site, env=e,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while len(server.requests) < 2:  # drafting has begun
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130 and "stopped by Ctrl-C" in err and "left for `qtgen batch resume`" in err
        assert "resume with: qtgen batch resume" in err
        states = [s for _, s in ledger_rows(site)]
        assert "running" not in states  # in-flight requests finished and were recorded
        assert states.count("done") == len(drafts(site)) < n
        r = run_qtgen("batch", "--resume", cwd=site, env=e)
        assert r.returncode == 0, r.stderr
    assert_clean(site, n)


def test_ctrl_c_with_nothing_left_says_so_and_exits_130(site):
    import threading

    arrived, release = threading.Event(), threading.Event()

    def reply(question, subject, body):
        from fake_openai import house_answer

        if "number 2" in question:  # the last question: held until Ctrl-C has been pressed
            arrived.set()
            release.wait(60)
        return house_answer(question, subject)

    (site / "q.csv").write_text(questions(3))
    with FakeOpenAI(reply=reply) as server:
        proc = subprocess.Popen([sys.executable, "-m", "qtgen", "batch", "q.csv", "-c", "1"], cwd=site,
                                env=env(site, server), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert arrived.wait(60)
        proc.send_signal(signal.SIGINT)
        for line in proc.stderr:  # the stop is taken while the last request is in flight
            if line.startswith("stopping:"):
                break
        release.set()
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "stopped by Ctrl-C: nothing was left; the run is finished" in err
    assert "left for" not in err and "resume with" not in err and "error" not in err
    assert len(drafts(site)) == 3


def test_limit_and_max_cost_stop_cleanly_and_leave_the_rest_resumable(site):
    (site / "q.csv").write_text(questions(6))
    (site / "qtgen.toml").write_text('model = "test-model"\nretry_wait = 0.01\n[prices]\ntest-model = [1000.0, 1000.0]\n')
    with FakeOpenAI() as server:
        e = env(site, server)
        r = run_qtgen("batch", "q.csv", "--limit", "2", cwd=site, env=e)
        assert r.returncode == 0 and len(drafts(site)) == 2 and "--limit 2" in r.stderr
        r = run_qtgen("batch", "q.csv", "-c", "1", "--max-cost", "1.0", cwd=site, env=e)  # 600 tokens = $0.60 each
        assert r.returncode == 0 and len(drafts(site)) == 4 and "--max-cost 1 reached" in r.stderr
        r = run_qtgen("batch", "q.csv", cwd=site, env=e)
        assert r.returncode == 0, r.stderr
    assert_clean(site, 6)
    assert "$3.6000" in r.stderr  # the whole run's cost in the summary


def test_a_draft_written_just_before_a_crash_is_adopted_not_written_again(site):
    (site / "q.csv").write_text(questions(2))
    with FakeOpenAI() as server:
        e = env(site, server)
        assert run_qtgen("batch", "q.csv", "--limit", "0", cwd=site, env=e).returncode == 0  # recorded, not drafted
        assert run_qtgen("draft", "What is economic idea number 0?", "-s", "Economics", cwd=site, env=e).returncode == 0
        before = len(server.requests)
        r = run_qtgen("batch", "q.csv", cwd=site, env=e)
        assert r.returncode == 0, r.stderr
        assert len(server.requests) - before == 1
    assert_clean(site, 2)


def test_rejected_and_near_duplicate_questions_are_skipped_unless_asked(site):
    with FakeOpenAI() as server:
        e = env(site, server)
        assert run_qtgen("draft", "What is economic idea number 0?", "-s", "Economics", cwd=site, env=e).returncode == 0
        assert run_qtgen("reject", "what-is-economic-idea-number-0", "--reason", "too vague", cwd=site).returncode == 0
        published = site / "content/learn/economics/what-is-opportunity-cost.md"
        published.parent.mkdir(parents=True)
        published.write_text(render(read(site / "drafts/rejected/economics/what-is-economic-idea-number-0.md").model_copy(update={
            "question": "What is opportunity cost?", "title": "What is opportunity cost?",
            "article_title": "What is opportunity cost?", "file_name": published.name, "id": 7,
            "url": "/learn/economics/questions/what-is-opportunity-cost"})))
        (site / "q.csv").write_text("question,subject\nWhat is economic idea number 0?,Economics\n"
                                    "Can you explain opportunity cost?,Economics\nWhat is economic idea number 5?,Economics\n")
        before = len(server.requests)
        r = run_qtgen("batch", "q.csv", "--report", "r.jsonl", cwd=site, env=e)
        assert r.returncode == 0, r.stderr
        assert len(server.requests) - before == 1
        rows = {x["line"]: x for x in map(json.loads, (site / "r.jsonl").read_text().splitlines())}
        assert rows[2]["status"] == "skipped" and "was rejected" in rows[2]["error"] and "too vague" in rows[2]["error"]
        assert rows[3]["status"] == "skipped" and "near-duplicate" in rows[3]["error"]
        assert rows[4]["status"] == "done"
        (site / "q2.csv").write_text("question,subject\nCan you explain opportunity cost?,Economics\n")
        r = run_qtgen("batch", "q2.csv", "--allow-similar", cwd=site, env=e)
        assert r.returncode == 0, r.stderr
    assert (site / "drafts/economics/can-you-explain-opportunity-cost.md").exists()


def test_a_huge_csv_field_is_one_bad_line_and_the_rest_is_read(tmp_path):
    (tmp_path / "q.csv").write_text("question,subject\nWhat is a cat?,Biology\n\"" + "x" * 140_000
                                    + "\",Biology\nWhat is a dog?,Biology\n")
    rows, bad = read_questions(tmp_path / "q.csv")
    assert [r.question for r in rows] == ["What is a cat?", "What is a dog?"]
    assert [(b.line, "over the limit" in b.message) for b in bad] == [(3, True)]
