"""Trust: no secret leaks, no id used twice, no question paid twice, no published page touched by
accident, no version lost. One test (at least) per defect of issue 9, each against real processes,
a real local OpenAI-protocol server, real files and real git."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qtgen.config import load
from qtgen.format.reader import read
from qtgen.format.validate import validate_paths
from qtgen.format.writer import render

from conftest import clean_env, files_in, git, init_repo, run_qtgen
from fake_openai import HTML, FakeOpenAI, status

KEY = "sk-live-SECRETKEY0123456789abcdef"


def env(site, server, key=KEY, **extra):
    return clean_env(site, OPENAI_BASE_URL=server.url, OPENAI_API_KEY=key, **extra)


def all_bytes(*folders: Path) -> bytes:
    """Every byte of every file below these folders (SQLite files, their WAL and the caches included)."""
    out = b""
    for folder in folders:
        for path in sorted(folder.rglob("*")) if folder.exists() else []:
            if path.is_file():
                out += path.read_bytes()
    return out


def drafts_of(site) -> list[Path]:
    return sorted(p for p in (site / "drafts").glob("*/*.md") if p.parent.name != "rejected")



@pytest.fixture
def repo(site) -> Path:
    init_repo(site)
    return site


# -- 1. secrets -----------------------------------------------------------------------------------
ECHO = "gateway error; request had Authorization: {authorization}"


def test_a_key_echoed_by_a_gateway_reaches_no_file_log_or_table(site):
    (site / "q.csv").write_text("question,subject\nWhat is a tariff?,Economics\nWhat is a quota?,Economics\n")
    with FakeOpenAI() as server:
        server.script(*[status(500, ECHO)] * 12)  # both questions fail after their retries
        r = run_qtgen("batch", "q.csv", "-c", "1", "--report", "report.jsonl", cwd=site, env=env(site, server))
        assert any(KEY in str({k.lower(): v for k, v in req["headers"].items()}.get("authorization")) for req in server.requests)  # it was sent
        d = run_qtgen("draft", "What is an embargo?", "-s", "Economics", cwd=site, env=env(site, server))
    assert r.returncode == 1 and "failed: line 2" in r.stderr
    assert "retrying in" in d.stderr or d.returncode == 0
    for text in (r.stdout, r.stderr, d.stdout, d.stderr):
        assert KEY not in text and "SECRETKEY" not in text
    assert "Bearer ***" in r.stderr  # what the server said is still shown, masked
    assert b"SECRETKEY" not in all_bytes(site, site / ".cache")
    report = [json.loads(line) for line in (site / "report.jsonl").read_text().splitlines()]
    assert all(row["status"] == "failed" and "***" in row["error"] for row in report)


def test_retry_lines_of_draft_and_regenerate_mask_the_key(site):
    with FakeOpenAI() as server:
        server.script(status(503, ECHO), status(503, ECHO))
        d = run_qtgen("draft", "What is a tariff?", "-s", "Economics", cwd=site, env=env(site, server))
        assert d.returncode == 0, d.stderr
        server.script(status(503, ECHO))
        g = run_qtgen("regenerate", "what-is-a-tariff", "--feedback", "shorter", cwd=site, env=env(site, server))
        assert g.returncode == 0, g.stderr
    assert d.stderr.count("retrying in") == 2 and g.stderr.count("retrying in") == 1
    assert KEY not in d.stderr + g.stderr and "Bearer ***" in d.stderr


def test_credentials_in_a_base_url_are_never_stored_or_shown(site):
    with FakeOpenAI(kind="llamacpp") as server:
        url = server.url.replace("http://", "http://qtuser:hunter2secret@")
        e = clean_env(site, OPENAI_BASE_URL=url)
        server.script(status(500, "upstream {url} failed for qtuser:hunter2secret"))
        r = run_qtgen("draft", "What is a tariff?", "-s", "Economics", cwd=site, env=e)
        assert r.returncode == 0, r.stderr
        server.script(*[status(401)] * 1)
        bad = run_qtgen("draft", "What is a quota?", "-s", "Economics", cwd=site, env=e)
    memory = site / ".cache" / "qtgen" / "response_formats.json"
    assert memory.is_file() and "json_object" in memory.read_text()  # what worked is remembered...
    stored = all_bytes(site, site / ".cache")
    assert b"hunter2secret" not in stored and b"qtuser" not in stored  # ...under a key without credentials
    assert bad.returncode == 1 and "401" in bad.stderr
    for text in (r.stderr, bad.stderr):
        assert "hunter2secret" not in text


# -- 2. ids -----------------------------------------------------------------------------------------
def test_an_explicit_id_in_a_list_never_collides_with_an_automatic_one(site):
    (site / "q.csv").write_text("question,subject,id\nWhat is a tariff?,Economics,1\nWhat is a quota?,Economics,\n"
                                "What is an embargo?,Economics,\nWhat is a subsidy?,Economics,2\n")
    with FakeOpenAI(latency=0.05) as server:
        r = run_qtgen("batch", "q.csv", "-c", "4", cwd=site, env=env(site, server))
    assert r.returncode == 0, r.stderr
    ids = {read(p).question: read(p).id for p in drafts_of(site)}
    assert ids["What is a tariff?"] == 1 and ids["What is a subsidy?"] == 2
    assert len(set(ids.values())) == 4


def test_an_id_another_question_holds_is_refused_before_any_request(site):
    with FakeOpenAI() as server:
        assert run_qtgen("draft", "What is a tariff?", "-s", "Economics", cwd=site, env=env(site, server)).returncode == 0
        count = len(server.requests)
        r = run_qtgen("draft", "What is a quota?", "-s", "Economics", "--id", "1", cwd=site, env=env(site, server))
        assert r.returncode == 1 and "id 1 is already used by" in r.stderr
        assert len(server.requests) == count
        (site / "q.csv").write_text("question,subject,id\nWhat is an embargo?,Economics,1\n")
        b = run_qtgen("batch", "q.csv", "--report", "r.jsonl", cwd=site, env=env(site, server))
        assert len(server.requests) == count
    [row] = [json.loads(x) for x in (site / "r.jsonl").read_text().splitlines()]
    assert b.returncode == 0 and row["status"] == "invalid" and "id 1 is already" in row["error"]


def test_approve_refuses_an_id_used_twice_among_drafts(repo):
    with FakeOpenAI() as server:
        for q in ("What is a tariff?", "What is a quota?", "What is an embargo?"):
            assert run_qtgen("draft", q, "-s", "Economics", cwd=repo, env=env(repo, server)).returncode == 0
    tariff, quota, embargo = (repo / "drafts/economics" / f for f in
                              ("what-is-a-tariff.md", "what-is-a-quota.md", "what-is-an-embargo.md"))
    quota.write_text(render(read(quota).model_copy(update={"id": read(tariff).id})))  # a hand edit
    r = run_qtgen("approve", "what-is-a-tariff", "what-is-a-quota", cwd=repo)
    assert r.returncode == 1 and "is also the id of" in r.stderr
    r = run_qtgen("approve", "what-is-a-quota", cwd=repo)  # the other draft holding it is not approved
    assert r.returncode == 1 and f"id {read(tariff).id} is already used by" in r.stderr
    assert list((repo / "content/learn").rglob("*.md")) == [] and git(repo, "log", "--oneline").count("\n") == 1
    assert run_qtgen("approve", "what-is-an-embargo", cwd=repo).returncode == 0


# -- 3. two batch runs at once -------------------------------------------------------------------
def test_two_batch_runs_on_one_list_never_request_a_question_twice(site):
    n = 16
    (site / "q.csv").write_text("question,subject\n" + "".join(f"What is idea number {i}?,Economics\n" for i in range(n)))
    with FakeOpenAI(latency=0.25) as server:
        e = env(site, server)
        procs = [subprocess.Popen([sys.executable, "-m", "qtgen", "batch", "q.csv", "-c", "2", "--report", f"r{k}.jsonl"],
                                  cwd=site, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for k in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
        asked = [req["body"]["messages"][-1]["content"] for req in server.requests]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert len(asked) == n and len(set(asked)) == n  # every question asked exactly once
    assert len(drafts_of(site)) == n
    ids = [read(p).id for p in drafts_of(site)]
    assert len(set(ids)) == n
    for k in range(2):
        rows = [json.loads(x) for x in (site / f"r{k}.jsonl").read_text().splitlines()]
        assert not [r for r in rows if r["status"] == "failed"]  # no false failure
    assert validate_paths(drafts_of(site), load(cwd=site)).errors == []


# -- 4. review commands act only on drafts ---------------------------------------------------------
def test_review_commands_never_touch_a_published_page(repo):
    page_dir = repo / "content/learn/physics"
    with FakeOpenAI() as server:
        assert run_qtgen("draft", "What is entropy?", "-s", "Physics", cwd=repo, env=env(repo, server)).returncode == 0
        assert run_qtgen("approve", "what-is-entropy", cwd=repo).returncode == 0
        published = page_dir / "what-is-entropy.md"
        before = published.read_bytes()
        e = env(repo, server)
        for args in (["reject", "what-is-entropy.md", "--reason", "x"], ["edit", "what-is-entropy.md"],
                     ["regenerate", "what-is-entropy.md", "--feedback", "x"], ["approve", "what-is-entropy.md"],
                     ["show", "what-is-entropy.md"], ["diff", "what-is-entropy.md"],
                     ["reject", str(published), "--reason", "x"], ["reject", "../../../qtgen.toml", "--reason", "x"]):
            r = run_qtgen(*args, cwd=page_dir, env={**e, "EDITOR": "true"})
            assert r.returncode == 2, (args, r.stderr)
            assert len(r.stderr.strip().splitlines()) == 1 and ("no such draft" in r.stderr or "not a draft" in r.stderr)
    assert published.read_bytes() == before and (repo / "qtgen.toml").exists()
    assert not (repo / "drafts/rejected").exists()


# -- 5. drafts by subject, rejections by subject, migration ---------------------------------------
def test_the_same_question_under_two_subjects_and_rejections_kept_apart(site):
    q = "What is entropy?"
    with FakeOpenAI() as server:
        e = env(site, server)
        assert run_qtgen("draft", q, "-s", "Physics", cwd=site, env=e).returncode == 0
        assert run_qtgen("draft", q, "-s", "Chemistry", cwd=site, env=e).returncode == 0
        r = run_qtgen("reject", "what-is-entropy", "--reason", "x", cwd=site, env=e)
        assert r.returncode == 2 and "several subjects" in r.stderr
        assert run_qtgen("reject", "chemistry/what-is-entropy", "--reason", "too basic", cwd=site, env=e).returncode == 0
        assert run_qtgen("reject", "physics/what-is-entropy.md", "--reason", "wrong level", cwd=site, env=e).returncode == 0
        reasons = {p.parent.name: json.loads(p.read_text())["reason"]
                   for p in (site / "drafts/rejected").glob("*/*.reason.json")}
        assert reasons == {"chemistry": "too basic", "physics": "wrong level"}
        count = len(server.requests)
        for subject, reason in (("Physics", "wrong level"), ("Chemistry", "too basic")):
            r = run_qtgen("draft", q, "-s", subject, cwd=site, env=e)
            assert r.returncode == 1 and reason in r.stderr
        assert len(server.requests) == count
        assert run_qtgen("draft", q, "-s", "Biology", cwd=site, env=e).returncode == 0


def test_a_flat_drafts_folder_is_migrated_without_losing_a_file(site):
    from test_index import make_page

    flat = site / "drafts"
    pages = [make_page(7, "Economics", "What is a tariff?", "a, b, c, d, e"),
             make_page(8, "Physics", "What is a wave?", "a, b, c, d, e")]
    for page in pages:
        (flat / page.file_name).write_text(render(page))
    rejected = make_page(9, "Biology", "What is a cell?", "a, b, c, d, e")
    (flat / "rejected").mkdir()
    (flat / "rejected" / rejected.file_name).write_text(render(rejected))
    (flat / "rejected" / f"{rejected.file_name}.reason.json").write_text(json.dumps({"reason": "dull", "subject": "Biology"}))
    (flat / ".qtgen/history").mkdir(parents=True)
    old_version = render(pages[0].model_copy(update={"answer": "An older answer.\\n\\nIn summary, old."}))
    (flat / ".qtgen/history" / pages[0].file_name).write_text(old_version)
    (flat / "broken.md").write_text("---\nnot a page\n")
    before = sorted(p.read_bytes() for p in files_in(flat) if p.name != "broken.md")
    r = run_qtgen("review", "--json", cwd=site)
    assert r.returncode == 0, r.stderr
    assert (flat / "economics/what-is-a-tariff.md").is_file() and (flat / "physics/what-is-a-wave.md").is_file()
    assert (flat / "rejected/biology/what-is-a-cell.md").is_file()
    assert (flat / "rejected/biology/what-is-a-cell.md.reason.json").is_file()
    assert (flat / "broken.md").is_file()  # no subject to file it under: kept, and listed
    rows = {Path(x["path"]).name: x["status"] for x in json.loads(r.stdout)}
    assert rows == {"what-is-a-tariff.md": "errors" if rows["what-is-a-tariff.md"] == "errors" else rows["what-is-a-tariff.md"],
                    "what-is-a-wave.md": rows["what-is-a-wave.md"], "broken.md": "errors"}
    after = [p.read_bytes() for p in files_in(flat) if p.suffix in (".md", ".json") and p.name != "broken.md"]
    assert all(any(b == a for a in after) for b in before)  # every byte kept somewhere
    h = run_qtgen("history", "economics/what-is-a-tariff", "--json", cwd=site)
    assert [v["version"] for v in json.loads(h.stdout)] == [1]
    assert run_qtgen("diff", "what-is-a-tariff", cwd=site).stdout.count("An older answer") == 1
    assert run_qtgen("draft", "What is a cell?", "-s", "Biology", cwd=site).returncode == 1  # still rejected


# -- 6. every version kept -----------------------------------------------------------------------
def test_every_version_is_kept_with_time_and_feedback(site, tmp_path):
    script = tmp_path / "ed.py"
    script.write_text("import sys\np = sys.argv[1]\nt = open(p).read()\nopen(p, 'w').write(t.replace('In summary', 'To sum up'))\n")
    n = {"count": 0}

    def reply(question, subject, body):
        from fake_openai import house_answer

        n["count"] += 1
        data = house_answer(question, subject)
        data["answer"] = data["answer"].replace("central question", f"central question (take {n['count']})")
        return data

    with FakeOpenAI(reply=reply) as server:
        e = env(site, server)
        assert run_qtgen("draft", "What is a tariff?", "-s", "Economics", cwd=site, env=e).returncode == 0
        for fb in ("add an example", "shorter please"):
            assert run_qtgen("regenerate", "what-is-a-tariff", "--feedback", fb, cwd=site, env=e).returncode == 0
        r = run_qtgen("edit", "what-is-a-tariff", cwd=site, env={**e, "EDITOR": f"{sys.executable} {script}"})
        assert r.returncode == 0, r.stderr
    h = json.loads(run_qtgen("history", "what-is-a-tariff", "--json", cwd=site).stdout)
    assert [(v["version"], v["made_by"], v["feedback"]) for v in h] == [
        (1, "draft", None), (2, "regenerate", "add an example"), (3, "regenerate", "shorter please"), (4, "edit", None)]
    assert all(v["saved"][:4].isdigit() for v in h)
    d = run_qtgen("diff", "what-is-a-tariff", "--against", "1", cwd=site).stdout
    assert "-" in d and "(take 1)" in d and "To sum up" in d
    last = run_qtgen("diff", "what-is-a-tariff", cwd=site).stdout
    assert "(version 3, regenerate)" in last and "(take 1)" not in last
    assert run_qtgen("diff", "what-is-a-tariff", "--against", "9", cwd=site).returncode == 2


# -- 7. resume keeps the run's options -----------------------------------------------------------
def test_resume_uses_the_stored_options_and_says_what_a_flag_overrides(site):
    from test_index import write_tree

    write_tree(site / "content" / "learn")
    (site / "q.txt").write_text("What is a tariff wall?\nWhat is a trade war?\nWhat is a customs union?\n")
    with FakeOpenAI() as server:
        e = env(site, server)
        r = run_qtgen("batch", "q.txt", "--subject", "Economics", "--no-related", "--limit", "1", cwd=site, env=e)
        assert r.returncode == 0, r.stderr
        r = run_qtgen("batch", "--resume", "--limit", "1", cwd=site, env=e)
        assert r.returncode == 0, r.stderr
        r = run_qtgen("batch", "--resume", "--rpm", "600", "--related", cwd=site, env=e)
        assert r.returncode == 0, r.stderr
    assert "--related True overrides the run's False" in r.stderr
    pages = {read(p).question: read(p) for p in drafts_of(site)}
    assert len(pages) == 3
    assert pages["What is a tariff wall?"].related == [] and pages["What is a trade war?"].related == []
    assert pages["What is a customs union?"].related != []


# -- 8. a 429 holds every request not yet sent -----------------------------------------------------
def test_a_pause_set_while_a_request_waits_its_turn_is_honoured():
    from qtgen.llm.ratelimit import RateLimiter

    clock = [0.0]
    limiter = RateLimiter(rpm=60, clock=lambda: clock[0], sleep=lambda s: None)
    limiter.acquire()  # the first request goes at t=0; the next may go at t=1
    events = []

    def sleep(seconds):
        if not events:
            limiter.rate_limited(5.0)  # another worker's request got a 429 meanwhile, at t=0.5
            events.append(clock[0])
        clock[0] += seconds

    limiter._sleep = sleep
    clock[0] = 0.5
    limiter.acquire()
    assert events == [0.5] and clock[0] >= 5.5  # it waited for the pause, not just its old slot


def test_a_429_on_the_last_attempt_still_pauses_the_run(site):
    from qtgen.llm.client import ChatClient, ClientSettings
    from qtgen.llm.ratelimit import RateLimiter
    from qtgen.errors import LLMError

    limiter = RateLimiter()
    with FakeOpenAI() as server:
        server.script(status(429, retry_after="3"))
        client = ChatClient(ClientSettings(base_url=server.url, api_key="k", model="test-model", retries=0),
                            limiter=limiter)
        before = time.time()
        with pytest.raises(LLMError, match="429"):
            client.complete([{"role": "user", "content": "Question (Economics): What is a tariff?"}])
    assert limiter.throttled == 1 and limiter.paused_until >= before + 2.9


# -- 9. file modes ----------------------------------------------------------------------------------
def test_new_files_follow_the_umask_and_rewritten_files_keep_their_mode(site):
    from test_index import write_tree

    [page, *_] = write_tree(site / "content" / "learn")
    os.chmod(page, 0o640)
    with FakeOpenAI() as server:
        r = run_qtgen("draft", "What is a tariff wall?", "-s", "Economics", cwd=site, env=env(site, server))
        assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(Path(r.stdout.strip()).stat().st_mode) == 0o666 & ~0o022  # the test runs with umask 022
    r = run_qtgen("related", "--refresh", str(page), cwd=site)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(page.stat().st_mode) == 0o640


def test_write_falls_back_to_an_exclusive_create_without_hard_links(tmp_path, monkeypatch):
    from qtgen.errors import QtgenError
    from qtgen.format import files

    def no_links(src, dst):
        raise PermissionError(1, "Operation not permitted")  # what FAT and some network filesystems answer

    monkeypatch.setattr(os, "link", no_links)
    target = files.write_atomic(tmp_path / "a.md", "one")
    assert target.read_text() == "one" and stat.S_IMODE(target.stat().st_mode) == files.new_file_mode()
    with pytest.raises(QtgenError, match="already exists"):
        files.write_atomic(tmp_path / "a.md", "two")
    assert target.read_text() == "one" and [p.name for p in tmp_path.iterdir()] == ["a.md"]


# -- 10. nothing written outside the content tree --------------------------------------------------
def test_a_subject_without_a_slug_is_refused_everywhere(repo):
    with FakeOpenAI() as server:
        r = run_qtgen("draft", "What is entropy?", "-s", "Физика", cwd=repo, env=env(repo, server))
        assert r.returncode == 2 and "no letters or digits" in r.stderr and server.requests == []
        assert run_qtgen("draft", "What is entropy?", "-s", "Physics", cwd=repo, env=env(repo, server)).returncode == 0
    path = repo / "drafts/physics/what-is-entropy.md"
    page = read(path)
    path.write_text(render(page.model_copy(update={"subject": "Физика", "seo": page.seo.model_copy(
        update={"title": "QuickTakes | Физика"})})))
    v = run_qtgen("validate", str(path), cwd=repo)
    assert v.returncode == 1 and "has no letter or digit" in v.stdout
    a = run_qtgen("approve", "what-is-entropy", cwd=repo)
    assert a.returncode == 1 and not Path("/what-is-entropy.md").exists()
    assert list((repo / "content").rglob("*.md")) == [] and path.exists()


# -- 11. interrupted batches -------------------------------------------------------------------------
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_an_interrupted_batch_exits_with_the_signal_code(site, sig, code):
    (site / "q.csv").write_text("question,subject\n" + "".join(f"What is idea number {i}?,Economics\n" for i in range(10)))
    with FakeOpenAI(latency=0.3) as server:
        proc = subprocess.Popen([sys.executable, "-m", "qtgen", "batch", "q.csv", "-c", "2"], cwd=site,
                                env=env(site, server), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while len(drafts_of(site)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert 2 <= len(drafts_of(site)) < 10 and "resume with" in err


def test_a_second_ctrl_c_returns_at_once(site):
    (site / "q.csv").write_text("question,subject\n" + "".join(f"What is idea number {i}?,Economics\n" for i in range(6)))
    with FakeOpenAI(latency=20) as server:
        proc = subprocess.Popen([sys.executable, "-m", "qtgen", "batch", "q.csv", "-c", "2"], cwd=site,
                                env=env(site, server), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while len(server.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert proc.poll() is None  # the first one waits for the two requests in flight
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    assert proc.returncode == 130 and took < 5, (took, err)


# -- 12. prepare is one transaction ------------------------------------------------------------------
def test_prepare_records_a_whole_list_in_one_transaction(site):
    from qtgen.batch.run import Batch
    from qtgen.batch.options import Options

    n = 400
    (site / "q.csv").write_text("question,subject\n" + "".join(f"What is idea number {i}?,Economics\n" for i in range(n)))
    statements: list[str] = []
    with Batch(load(cwd=site, environ={})) as job:
        job.ledger.db.set_trace_callback(statements.append)
        prepared = job.prepare(site / "q.csv", Options())
        assert job.ledger.counts(prepared.run_id) == {"pending": n}
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    commits = [s for s in statements if s.strip().upper() == "COMMIT"]
    selects = [s for s in statements if "FROM items" in s]
    assert len(commits) <= 3 and len(selects) <= 3  # not one per row
    assert len(inserts) <= n + 2


# -- 13. near-duplicates inside the list ---------------------------------------------------------------
def test_a_batch_skips_questions_its_own_list_asks_twice_in_other_words(site):
    (site / "q.csv").write_text("question,subject\nWhat is opportunity cost?,Economics\n"
                                "Can you explain opportunity cost?,Economics\nWhat is opportunity cost?,Business\n")
    with FakeOpenAI() as server:
        r = run_qtgen("batch", "q.csv", "--report", "r.jsonl", cwd=site, env=env(site, server))
        assert r.returncode == 0, r.stderr
        assert len(server.requests) == 2
    rows = [json.loads(x) for x in (site / "r.jsonl").read_text().splitlines()]
    assert [r["status"] for r in rows] == ["done", "skipped", "done"]
    assert "near-duplicate (100/100) of line 2" in rows[1]["error"]


# -- 14. errors from the server ---------------------------------------------------------------------
def test_a_400_that_is_not_about_the_format_costs_one_request(site):
    with FakeOpenAI() as server:
        server.script(status(400, "This model's maximum context length is 8192 tokens."))
        r = run_qtgen("draft", "What is a tariff?", "-s", "Economics", cwd=site, env=env(site, server))
        assert len(server.requests) == 1
    assert r.returncode == 1 and "maximum context length" in r.stderr and "format" not in r.stderr


def test_a_200_that_is_not_json_is_a_clear_retryable_error(site):
    with FakeOpenAI() as server:
        server.script(HTML)
        ok = run_qtgen("draft", "What is a tariff?", "-s", "Economics", cwd=site, env=env(site, server))
        assert ok.returncode == 0 and "without a JSON completion" in ok.stderr
        server.script(*[HTML] * 10)
        r = run_qtgen("draft", "What is a quota?", "-s", "Economics", cwd=site, env=env(site, server))
    assert r.returncode == 1 and "without a JSON completion" in r.stderr and "internal error" not in r.stderr


# -- 15. smaller ones -----------------------------------------------------------------------------
def test_dry_run_reserves_no_id(site):
    with FakeOpenAI() as server:
        e = env(site, server)
        ids = []
        for _ in range(2):
            r = run_qtgen("draft", "What is a tariff?", "-s", "Economics", "--dry-run", cwd=site, env=e)
            assert r.returncode == 0, r.stderr
            ids.append(int(r.stdout.split("\nid: ", 1)[1].split("\n", 1)[0]))
        r = run_qtgen("draft", "What is a quota?", "-s", "Economics", cwd=site, env=e)
    assert ids == [1, 1] and read(Path(r.stdout.strip())).id == 1
    assert files_in(site / "drafts") == [Path(r.stdout.strip())]


def test_a_question_starting_with_a_dash_and_quiet_after_the_command(site):
    with FakeOpenAI() as server:
        r = run_qtgen("draft", "-1 times -1 equals what?", "-s", "Mathematics", "-q", cwd=site, env=env(site, server))
        assert r.returncode == 0 and r.stderr == "", r.stderr
        assert read(Path(r.stdout.strip())).question == "-1 times -1 equals what?"
        r = run_qtgen("draft", "-x", "-s", "Mathematics", cwd=site, env=env(site, server))
    assert r.returncode == 2 and "goes after --" in r.stderr


# -- design: schema versions -----------------------------------------------------------------------
OLD_LEDGER = """
CREATE TABLE runs (run_id TEXT PRIMARY KEY, input TEXT NOT NULL, input_sha TEXT NOT NULL, started REAL NOT NULL,
    finished REAL, status TEXT NOT NULL, options TEXT NOT NULL);
CREATE TABLE items (run_id TEXT NOT NULL, key TEXT NOT NULL, line INTEGER, question TEXT, subject TEXT, page_id INTEGER,
    date TEXT, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, tokens_in INTEGER NOT NULL DEFAULT 0,
    tokens_out INTEGER NOT NULL DEFAULT 0, latency REAL, model TEXT, error TEXT, path TEXT, updated REAL,
    PRIMARY KEY (run_id, key));
INSERT INTO runs VALUES ('r1', '/x/q.csv', 'abc', 1.0, NULL, 'stopped', '{"subject": "Economics"}');
INSERT INTO items VALUES ('r1', 'economics/what-is-a-tariff.md', 2, 'What is a tariff?', 'Economics', NULL, NULL,
    'running', 1, 0, 0, NULL, NULL, NULL, NULL, 1.0);
"""
OLD_INDEX = """
CREATE TABLE pages (path TEXT PRIMARY KEY, source TEXT NOT NULL, mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL,
    id INTEGER, subject TEXT, subject_slug TEXT, file_name TEXT, url TEXT, question TEXT, keywords TEXT);
CREATE INDEX pages_file ON pages(file_name);
CREATE TABLE reservations (key TEXT PRIMARY KEY, id INTEGER NOT NULL UNIQUE, created REAL NOT NULL);
INSERT INTO reservations VALUES ('economics/what-is-a-quota.md', 41, 1.0);
"""


def test_databases_made_by_the_first_schema_are_migrated(tmp_path):
    from qtgen.config import Config
    from qtgen.database import Database
    from qtgen.errors import QtgenError
    from qtgen.site.index import SiteIndex
    from qtgen.batch.ledger import Ledger, new_holder

    ledger_file, index_file = tmp_path / "batch.sqlite", tmp_path / "index.sqlite"
    for path, sql in ((ledger_file, OLD_LEDGER), (index_file, OLD_INDEX)):
        db = sqlite3.connect(path)
        db.executescript(sql)
        db.close()
    with Ledger(ledger_file) as ledger:
        assert ledger.schema_version == len(ledger.migrations.steps) == 6
        assert ledger.db.execute("SELECT count(*) FROM published").fetchone()[0] == 0  # m005: pages published
        [item] = ledger.items("r1")
        assert (item.key, item.state, item.attempts, item.holder) == ("economics/what-is-a-tariff.md", "running", 1, None)
        assert (item.lane, item.chunk, item.api_failures) == ("online", None, 0)  # m004: the Batch API lane
        assert ledger.chunks("r1") == [] and ledger.run_limits("r1") == {"token_cap": None, "max_bytes": None,
                                                                         "cancelled": None}
        assert ledger.run("r1").options == {"subject": "Economics"}
        assert ledger.claim("r1", item.key, new_holder())  # its old holder is long gone
    config = Config(root=tmp_path, drafts_dir=tmp_path / "drafts", content_dir=tmp_path / "content")
    with SiteIndex(config, index_file) as index:
        assert index.schema_version == len(index.migrations.steps) == 4  # m004: each question's similarity terms
        assert index.reserve_id("economics/what-is-a-quota.md") == 41 and index.reserve_id("x/new.md") == 42
        index.entries()  # rows of the old schema get their terms once, then keep them
        assert index.db.execute("SELECT COUNT(*) FROM pages WHERE terms IS NULL").fetchone()[0] == 0
    db = sqlite3.connect(ledger_file)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(QtgenError, match="newer qtgen"):
        Ledger(ledger_file)
    assert issubclass(Ledger, Database)


# -- found by the hostile review -----------------------------------------------------------------------
def test_a_symlinked_subject_folder_in_drafts_never_leads_to_the_content_tree(repo):
    with FakeOpenAI() as server:
        e = env(repo, server)
        assert run_qtgen("draft", "What is entropy?", "-s", "Physics", cwd=repo, env=e).returncode == 0
        assert run_qtgen("approve", "what-is-entropy", cwd=repo).returncode == 0
        published = repo / "content/learn/physics/what-is-entropy.md"
        before = published.read_bytes()
        (repo / "drafts/physics").rmdir()
        (repo / "drafts/physics").symlink_to(repo / "content/learn/physics")
        for args in (["reject", "what-is-entropy", "--reason", "x"], ["edit", "what-is-entropy"],
                     ["regenerate", "what-is-entropy", "--feedback", "x"], ["approve", "what-is-entropy"],
                     ["reject", "physics/what-is-entropy.md", "--reason", "x"]):
            r = run_qtgen(*args, cwd=repo, env={**e, "EDITOR": "true"})
            assert r.returncode == 2, (args, r.stderr)
        assert json.loads(run_qtgen("review", "--json", cwd=repo).stdout) == []
    assert published.read_bytes() == before and git(repo, "status", "--porcelain", "--", "content") == ""


def test_questions_that_only_share_a_file_name_never_share_an_id(repo):
    with FakeOpenAI() as server:
        e = env(repo, server)
        assert run_qtgen("draft", "What is C?", "-s", "Physics", cwd=repo, env=e).returncode == 0
        assert run_qtgen("approve", "what-is-c", cwd=repo).returncode == 0
        for q, s in (("What is C++?", "Programming"), ("What is C#?", "Music"), ("What is C?", "Chemistry")):
            r = run_qtgen("draft", q, "-s", s, "--allow-similar", "--new-subject", cwd=repo, env=e)
            assert r.returncode == 0, r.stderr
    ids = {read(p).question + "|" + read(p).subject: read(p).id for p in (repo / "drafts").glob("*/*.md")}
    c = read(repo / "content/learn/physics/what-is-c.md").id
    assert ids["What is C?|Chemistry"] == c  # the same question keeps the site's id
    assert len({ids["What is C++?|Programming"], ids["What is C#?|Music"], c}) == 3


def test_ids_given_by_hand_are_positive_and_automatic_ids_never_go_below_one(site):
    (site / "q.csv").write_text("question,subject,id\nWhat is x?,Physics,-5\nWhat is y?,Physics,0\n"
                                "What is z?,Physics,99999999999999999999999\nWhat is w?,Physics,\n")
    with FakeOpenAI() as server:
        r = run_qtgen("batch", "q.csv", "--report", "r.jsonl", cwd=site, env=env(site, server))
        d = run_qtgen("draft", "What is v?", "-s", "Physics", "--id", "0", cwd=site, env=env(site, server))
    rows = [json.loads(x) for x in (site / "r.jsonl").read_text().splitlines()]
    assert [row["status"] for row in rows] == ["invalid", "invalid", "invalid", "done"], rows
    assert r.returncode == 1 and d.returncode == 2 and "1<=x" in d.stderr
    assert read(site / "drafts/physics/what-is-w.md").id == 1


def test_a_question_whose_file_name_is_too_long_is_one_line_and_the_rest_goes_on(site):
    long_q = "What is " + " ".join(["word"] * 55) + "?"
    (site / "q.csv").write_text(f"question,subject\n{long_q},Physics\nWhat is a wave?,Physics\n")
    with FakeOpenAI() as server:
        d = run_qtgen("draft", long_q, "-s", "Physics", cwd=site, env=env(site, server))
        r = run_qtgen("batch", "q.csv", "--report", "r.jsonl", cwd=site, env=env(site, server))
    assert d.returncode == 2 and "over the 255" in d.stderr and "internal error" not in d.stderr
    assert r.returncode == 0 and (site / "drafts/physics/what-is-a-wave.md").is_file()
    rows = [json.loads(x) for x in (site / "r.jsonl").read_text().splitlines()]
    assert rows[0]["status"] == "skipped" and "over the 255" in rows[0]["error"]


@pytest.mark.parametrize("body", ['{"choices": [', "", '{"choices": [{"message": null}]}',
                                  '{"choices": [{"message": {"content": {"a": 1}}, "finish_reason": "stop"}]}'])
def test_a_200_that_is_not_a_completion_is_retried_not_an_internal_error(site, body):
    with FakeOpenAI() as server:
        server.raw_bodies = [body] * 10
        r = run_qtgen("draft", "What is a quota?", "-s", "Economics", cwd=site, env=env(site, server))
    assert r.returncode == 1 and "internal error" not in r.stderr and "attempts" in r.stderr, r.stderr


@pytest.mark.parametrize("setting, message", [
    ('content_pattern = "{subject}/{file_name}"', "content_pattern"),
    ('url_pattern = "{0}"', "url_pattern"),
    ('slug_style = "foo"', "slug_style"),
    ('drafts_dir = "qtgen.toml"', "is a file"),
    ('prices = { m = ["a", 1] }', "prices"),
])
def test_bad_settings_are_one_line(site, setting, message):
    with open(site / "qtgen.toml", "a") as fh:
        fh.write(setting + "\n")
    r = run_qtgen("draft", "What is a tariff?", "-s", "Economics", cwd=site,
                  env=clean_env(site, OPENAI_BASE_URL="http://127.0.0.1:9/v1"))
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


@pytest.mark.parametrize("var, value", [("OPENAI_BASE_URL", "http://u:p@127.0.0.1:notaport/v1"),
                                        ("OPENAI_BASE_URL", "http://127.0.0.1:99999/v1"),
                                        ("OPENAI_API_KEY", "sk-clé-secrète")])
def test_bad_server_settings_are_one_line_without_the_secret(site, var, value):
    r = run_qtgen("draft", "What is a tariff?", "-s", "Economics", cwd=site,
                  env=clean_env(site, **{"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", var: value}))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "internal error" not in r.stderr
    assert "secrète" not in r.stderr and ":p@" not in r.stderr


def test_resume_refuses_another_subject_for_the_same_list(site):
    (site / "q.txt").write_text("What is a wave?\nWhat is a quark?\n")
    with FakeOpenAI() as server:
        e = env(site, server)
        assert run_qtgen("batch", "q.txt", "-s", "Physics", "--limit", "1", cwd=site, env=e).returncode == 0
        count = len(server.requests)
        r = run_qtgen("batch", "--resume", "-s", "Chemistry", cwd=site, env=e)
        assert r.returncode == 2 and "keep that subject" in r.stderr and len(server.requests) == count
        assert run_qtgen("batch", "--resume", cwd=site, env=e).returncode == 0
    assert [p.parent.name for p in drafts_of(site)] == ["physics", "physics"]


def test_the_same_list_under_two_names_at_once_requests_each_question_once(site):
    n = 12
    text = "question,subject\n" + "".join(f"What is idea number {i}?,Economics\n" for i in range(n))
    (site / "q.csv").write_text(text)
    (site / "sub").mkdir()
    (site / "sub" / "q.csv").write_text(text)
    with FakeOpenAI(latency=0.25) as server:
        e = env(site, server)
        procs = [subprocess.Popen([sys.executable, "-m", "qtgen", "batch", name, "-c", "2"], cwd=site, env=e,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for name in ("q.csv", "sub/q.csv")]
        outs = [p.communicate(timeout=120) for p in procs]
        asked = [req["body"]["messages"][-1]["content"] for req in server.requests]
    assert len(asked) == len(set(asked)) == n, outs
    assert all("failed: line" not in err and " 0 failed" in err for _, err in outs)  # no false failure
    assert [p.returncode for p in procs] == [0, 0], outs
    assert len(drafts_of(site)) == n


def test_version_1_is_what_the_model_wrote_even_after_a_hand_edit(site):
    with FakeOpenAI() as server:
        e = env(site, server)
        r = run_qtgen("draft", "What is a tariff?", "-s", "Economics", cwd=site, env=e)
        path = Path(r.stdout.strip())
        original = path.read_text()
        path.write_text(original.replace("central question", "hand-edited question"))
        assert run_qtgen("regenerate", "what-is-a-tariff", "--feedback", "again", cwd=site, env=e).returncode == 0
    h = json.loads(run_qtgen("history", "what-is-a-tariff", "--json", cwd=site).stdout)
    assert [v["made_by"] for v in h] == ["draft", "changed outside qtgen", "regenerate"]
    assert Path(h[0]["path"]).read_text() == original


def test_several_processes_migrating_one_flat_folder_at_once(site):
    from test_index import make_page

    flat = site / "drafts"
    for i in range(40):
        page = make_page(i + 1, "Economics", f"What is topic number {i}?", "a, b, c, d, e")
        (flat / page.file_name).write_text(render(page))
    before = sorted(p.read_bytes() for p in flat.glob("*.md"))
    procs = [subprocess.Popen([sys.executable, "-m", "qtgen", "review", "--json"], cwd=site, env=clean_env(site),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [o[1] for o in outs]
    assert sorted(p.read_bytes() for p in (flat / "economics").glob("*.md")) == before
    assert list(flat.glob("*.md")) == []
