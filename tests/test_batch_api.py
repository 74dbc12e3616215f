"""`qtgen batch --via batch-api`: the provider's Batch API as a lane, against a local server that
implements its routes, through the real openai SDK; and JSONL export and import for other engines."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from qtgen.config import load
from qtgen.format.reader import read
from qtgen.format.validate import validate_paths

from conftest import clean_env, files_in, run_qtgen, write_config
from fake_openai import FakeOpenAI

KEY = "sk-batch-test-0123456789"


def env(site, server, **extra):
    return clean_env(site, OPENAI_BASE_URL=server.url, OPENAI_API_KEY=KEY, **extra)


def questions(n: int, subject="Economics") -> str:
    return "question,subject\n" + "".join(f"What is economic idea number {i}?,{subject}\n" for i in range(n))


def configure(site, **values) -> None:
    write_config(site, **{"batch_api_poll": 0.0, **values})


def drafts(site) -> list[Path]:
    return sorted(p for p in (site / "drafts").glob("*/*.md") if p.parent.name != "rejected")


def items(site) -> list[dict]:
    db = sqlite3.connect(site / "drafts/.qtgen/batch.sqlite")
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM items ORDER BY line")]
    finally:
        db.close()


def batches(site) -> list[dict]:
    db = sqlite3.connect(site / "drafts/.qtgen/batch.sqlite")
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM api_batches ORDER BY created")]
    finally:
        db.close()


def assert_clean(site, expected: int) -> None:
    """Exactly `expected` valid drafts with unique ids, and no temp or partial file."""
    found = drafts(site)
    assert len(found) == expected
    assert [p for p in files_in(site / "drafts") if p.suffix != ".md"] == []
    ids = [read(p).id for p in found]
    assert len(set(ids)) == len(ids)
    assert validate_paths(found, load(cwd=site)).errors == []


def sent_ids(server) -> Counter:
    """How often each question was put in a batch (what the provider runs and bills)."""
    return Counter(line["custom_id"] for b in server.batch_api.batches.values() for line in b["lines"])


def via_batch_api(site, server, *extra):
    """`qtgen batch q.csv --via batch-api --wait` (and `extra` flags) against the server."""
    return run_qtgen("batch", "q.csv", "--via", "batch-api", "--wait", *extra, cwd=site, env=env(site, server))


# -- the whole lane -------------------------------------------------------------------------------
def test_a_run_goes_through_the_batch_api_and_writes_the_same_pages_as_online(site):
    configure(site)
    (site / "q.csv").write_text(questions(6))
    with FakeOpenAI() as server:
        r = via_batch_api(site, server, "--report", "r.jsonl")
        assert r.returncode == 0, r.stderr
        assert server.requests == []  # not one online chat request
        assert len(server.batch_api.uploads) == 1 and len(server.batch_api.creates) == 1
        [f] = [f for f in server.batch_api.files.values() if f["filename"].startswith("qtgen-")]
        lines = [json.loads(x) for x in f["data"].splitlines()]
    assert_clean(site, 6)
    # one request per question, keyed by its ledger key, with the online lane's exact body
    assert sorted(line["custom_id"] for line in lines) == sorted(i["key"] for i in items(site))
    body = lines[0]["body"]
    assert lines[0]["method"] == "POST" and lines[0]["url"] == "/v1/chat/completions"
    assert body["model"] == "test-model" and body["response_format"]["type"] == "json_schema"
    assert body["max_tokens"] == 1500 and body["messages"][0]["role"] == "system"
    assert {i["state"] for i in items(site)} == {"done"} and {i["lane"] for i in items(site)} == {"batch-api"}
    report = [json.loads(x) for x in (site / "r.jsonl").read_text().splitlines()]
    assert {x["lane"] for x in report} == {"batch-api"} and all(x["path"] for x in report)
    assert KEY not in r.stderr
    runs = run_qtgen("runs", cwd=site)
    assert "finished" in runs.stdout and "batch-api" in runs.stdout and "completed" in runs.stdout


def test_online_and_batch_lanes_send_the_same_request_body(site, tmp_path):
    """The body in a batch line is byte for byte the JSON the online lane sends."""
    configure(site)
    (site / "q.csv").write_text(questions(2))
    online = tmp_path / "online"
    (online / "drafts").mkdir(parents=True)
    (online / "content" / "learn").mkdir(parents=True)
    configure(online)
    (online / "q.csv").write_text(questions(2))
    with FakeOpenAI() as server:
        assert run_qtgen("batch", "q.csv", cwd=online, env=env(online, server)).returncode == 0
        assert via_batch_api(site, server).returncode == 0
        online_bodies = sorted(json.dumps(r["body"], sort_keys=True) for r in server.requests)
        batch_bodies = sorted(json.dumps(json.loads(line)["body"], sort_keys=True)
                              for f in server.batch_api.files.values() if f["filename"].startswith("qtgen-")
                              for line in f["data"].splitlines())
    assert online_bodies == batch_bodies


def test_without_wait_the_run_is_submitted_and_resume_collects_it(site):
    configure(site)
    (site / "q.csv").write_text(questions(4))
    with FakeOpenAI() as server:
        e = env(site, server)
        r = run_qtgen("batch", "q.csv", "--via", "batch-api", cwd=site, env=e)
        assert r.returncode == 0, r.stderr
        assert "qtgen batch resume" in r.stderr and drafts(site) == []
        assert {i["state"] for i in items(site)} == {"submitted"}
        assert "submitted" in run_qtgen("runs", cwd=site).stdout
        r = run_qtgen("batch", "--resume", cwd=site, env=e)  # validating -> in_progress
        r = run_qtgen("runs", "--poll", cwd=site, env=e)  # in_progress -> completed, collected
        assert r.returncode == 0, r.stderr
        assert len(server.batch_api.uploads) == 1 and len(server.batch_api.creates) == 1
    assert_clean(site, 4)
    assert "finished" in run_qtgen("runs", cwd=site).stdout


def test_files_are_split_at_the_request_and_byte_limits(site):
    configure(site, batch_api_max_requests=4)
    (site / "q.csv").write_text(questions(10))
    with FakeOpenAI() as server:
        r = via_batch_api(site, server)
        assert r.returncode == 0, r.stderr
        sizes = [len(f["data"].splitlines()) for f in server.batch_api.files.values() if f["filename"].startswith("qtgen-")]
        assert sorted(sizes) == [2, 4, 4]
        assert sent_ids(server).most_common(1)[0][1] == 1
    assert_clean(site, 10)


def test_a_file_refused_as_too_large_is_split_and_sent_again(site):
    configure(site)
    (site / "q.csv").write_text(questions(8))
    with FakeOpenAI() as server:
        server.batch_api.max_file_bytes = 3 * 4000  # about three requests
        r = via_batch_api(site, server)
        assert r.returncode == 0, r.stderr
        assert "too large" in r.stderr
        files = [f for f in server.batch_api.files.values() if f["filename"].startswith("qtgen-")]
        assert files and all(len(f["data"]) <= server.batch_api.max_file_bytes for f in files)
        assert sum(sent_ids(server).values()) == 8
    assert_clean(site, 8)
    assert any("too large" in (b["error"] or "") for b in batches(site))  # the refused one is on record


# -- failures, expiry, limits ---------------------------------------------------------------------
def test_failed_lines_are_retried_once_in_a_new_batch_then_reported(site):
    configure(site)
    (site / "q.csv").write_text(questions(8))
    with FakeOpenAI() as server:
        # first batch: 2 error lines, 1 answered 500, 1 unusable JSON; the retry batch: its first line fails again
        server.batch_api.scripts.extend([{"fail": 2, "status500": 1, "invalid": 1}, {"fail": 1}])
        r = via_batch_api(site, server, "--report", "r.jsonl")
        assert r.returncode == 1  # one question failed twice: reported, exit 1
        assert len(server.batch_api.creates) == 2
        sent = sent_ids(server)
        assert sorted(sent.values()) == [1] * 4 + [2] * 4  # the four failed lines were sent once more, no more
    states = Counter(i["state"] for i in items(site))
    assert states == {"done": 7, "failed": 1}
    [failed] = [i for i in items(site) if i["state"] == "failed"]
    assert failed["api_failures"] == 2 and "crashed" in failed["error"]
    assert "failed: line" in r.stderr
    assert_clean(site, 7)
    # a later session tries the failed question again (once more, in a new batch)
    with FakeOpenAI() as server:
        r = run_qtgen("batch", "--resume", "--wait", cwd=site, env=env(site, server))
        assert r.returncode == 0, r.stderr
        assert list(sent_ids(server).values()) == [1]
    assert_clean(site, 8)


def test_retry_online_sends_a_failed_line_through_the_online_lane(site):
    configure(site)
    (site / "q.csv").write_text(questions(5))
    with FakeOpenAI() as server:
        server.batch_api.scripts.append({"fail": 2})
        r = via_batch_api(site, server, "--retry-online")
        assert r.returncode == 0, r.stderr
        assert len(server.batch_api.creates) == 1 and len(server.requests) == 2  # the two failed lines, online
    lanes = Counter(i["lane"] for i in items(site))
    assert lanes == {"batch-api": 3, "online": 2}
    assert_clean(site, 5)


def test_an_expired_batch_keeps_its_results_and_only_the_rest_is_sent_again(site):
    configure(site)
    (site / "q.csv").write_text(questions(6))
    with FakeOpenAI() as server:
        server.batch_api.scripts.append({"expire_after": 4})
        r = via_batch_api(site, server)
        assert r.returncode == 0, r.stderr
        statuses = [b["status"] for b in server.batch_api.batches.values()]
        assert statuses == ["expired", "completed"]
        second = list(server.batch_api.batches.values())[1]
        assert len(second["lines"]) == 2  # only the lines without a result
        assert sorted(sent_ids(server).values()) == [1] * 4 + [2] * 2
        assert len(server.batch_api.answered) == 6  # no question answered (and paid) twice
    assert_clean(site, 6)
    assert [b["status"] for b in batches(site)] == ["expired", "completed"]
    assert {i["api_failures"] for i in items(site)} == {0}  # never run (batch_expired lines) is no failure


def test_a_batch_completed_without_an_output_file_is_not_success(site):
    configure(site)
    (site / "q.csv").write_text(questions(3))
    with FakeOpenAI() as server:
        server.batch_api.scripts.append({"no_output": True})
        r = via_batch_api(site, server)
        assert r.returncode == 0, r.stderr
        assert len(server.batch_api.creates) == 2  # its questions were sent again
    assert_clean(site, 3)
    assert "no output file" in batches(site)[0]["error"]
    assert {i["api_failures"] for i in items(site)} == {1}  # a failure each, then done in the second batch


def test_token_limit_exceeded_is_learned_and_the_rest_waits_for_open_batches(site):
    configure(site, batch_api_max_requests=3)
    (site / "q.csv").write_text(questions(9))
    with FakeOpenAI() as server:
        # a line's prompt is about 550 tokens here: room for two files of three at once, not three
        server.batch_api.token_limit = 3500
        r = via_batch_api(site, server)
        assert r.returncode == 0, r.stderr
        failed = [b for b in server.batch_api.batches.values() if b["failed_code"] == "token_limit_exceeded"]
        assert len(failed) == 1
        assert "enqueued-token limit" in r.stderr
        # after it was learned, never more than the limit was open at once
        assert sorted(sent_ids(server).values()).count(2) == 3  # the refused file's lines, sent again once
    assert_clean(site, 9)
    db = sqlite3.connect(site / "drafts/.qtgen/batch.sqlite")
    assert db.execute("SELECT api_token_cap FROM runs").fetchone()[0] > 0
    db.close()


def test_results_in_any_order_are_matched_by_custom_id(site):
    configure(site)
    (site / "q.csv").write_text(questions(12))
    with FakeOpenAI() as server:
        assert via_batch_api(site, server).returncode == 0
        [b] = server.batch_api.batches.values()
        out = server.batch_api.files[b["output_file_id"]]["data"].splitlines()
        order = [json.loads(x)["custom_id"] for x in out]
        assert order != sorted(order)  # shuffled
    assert_clean(site, 12)
    for p in drafts(site):  # each page holds the answer to its own question
        page = read(p)
        assert page.question.rstrip("?").lower() in page.answer.lower()


# -- kill -9 and resume ---------------------------------------------------------------------------
def _kill_at(site, server, route: str, n: int = 5) -> None:
    """Start a Batch API run, kill -9 it while the server holds its `route` request, then let the
    server finish that request (as a provider would, the client being gone)."""
    gate = server.batch_api.gate(route)
    (site / "q.csv").write_text(questions(n))
    proc = subprocess.Popen([sys.executable, "-m", "qtgen", "batch", "q.csv", "--via", "batch-api", "--wait"],
                            cwd=site, env=env(site, server), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert gate.arrived.wait(60), f"qtgen never reached {route}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        gate.release.set()
        if proc.poll() is None:
            proc.kill()
    time.sleep(0.2)  # the server finishes the held request


def _resume_and_check(site, server, n: int = 5) -> None:
    r = run_qtgen("batch", "--resume", "--wait", cwd=site, env=env(site, server))
    assert r.returncode == 0, r.stderr
    assert len(server.batch_api.uploads) == 1 and len(server.batch_api.creates) == 1  # nothing sent twice
    assert sorted(sent_ids(server).values()) == [1] * n
    assert sorted(Counter(server.batch_api.answered).values()) == [1] * n
    assert_clean(site, n)
    assert {i["state"] for i in items(site)} == {"done"}


def test_kill_9_during_the_upload_then_resume_finds_the_file_instead_of_sending_it_again(site):
    configure(site)
    with FakeOpenAI() as server:
        _kill_at(site, server, "upload")
        assert [b["state"] for b in batches(site)] == ["new"]  # the answer was lost with the process
        _resume_and_check(site, server)


def test_kill_9_between_upload_and_create_then_resume_finds_the_batch(site):
    configure(site)
    with FakeOpenAI() as server:
        _kill_at(site, server, "create")
        assert [b["state"] for b in batches(site)] == ["uploaded"]
        assert len(server.batch_api.batches) == 1  # the provider made the batch all the same
        _resume_and_check(site, server)


def test_kill_9_between_create_and_download_then_resume_collects_once(site):
    configure(site)
    with FakeOpenAI() as server:
        _kill_at(site, server, "download")
        assert [b["state"] for b in batches(site)] == ["submitted"] and drafts(site) == []
        _resume_and_check(site, server)


def test_two_processes_on_one_run_one_is_told_to_wait(site):
    configure(site, batch_api_poll=0.2)
    (site / "q.csv").write_text(questions(3))
    with FakeOpenAI() as server:
        gate = server.batch_api.gate("download")
        e = env(site, server)
        first = subprocess.Popen([sys.executable, "-m", "qtgen", "batch", "q.csv", "--via", "batch-api", "--wait"],
                                 cwd=site, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            assert gate.arrived.wait(60)
            r = run_qtgen("batch", "--resume", "--wait", cwd=site, env=e)
            assert r.returncode != 0 and "another qtgen is working on its batches" in r.stderr
            assert "Traceback" not in r.stderr
        finally:
            gate.release.set()
        _, err = first.communicate(timeout=60)
        assert first.returncode == 0, err
        assert len(server.batch_api.creates) == 1
    assert_clean(site, 3)


# -- cancel, cost ---------------------------------------------------------------------------------
def test_cancel_keeps_what_finished_and_resume_sends_only_the_rest(site):
    configure(site)
    (site / "q.csv").write_text(questions(6))
    with FakeOpenAI() as server:
        server.batch_api.lines_per_poll = 2
        e = env(site, server)
        assert run_qtgen("batch", "q.csv", "--via", "batch-api", cwd=site, env=e).returncode == 0
        run_id = items(site)[0]["run_id"]
        assert run_qtgen("runs", "--poll", cwd=site, env=e).returncode == 0  # in progress
        assert run_qtgen("runs", "--poll", cwd=site, env=e).returncode == 0  # two lines answered
        r = run_qtgen("batch", "--cancel", run_id, cwd=site, env=e)
        assert r.returncode == 0, r.stderr
        assert list(server.batch_api.batches.values())[0]["status"] == "cancelled"
        assert len(drafts(site)) == 2
        assert Counter(i["state"] for i in items(site)) == {"done": 2, "pending": 4}
        r = run_qtgen("runs", "--poll", cwd=site, env=e)  # a cancelled run is not sent again by polling
        assert r.returncode == 0 and len(server.batch_api.creates) == 1
        server.batch_api.lines_per_poll = None
        r = run_qtgen("batch", "--resume", "--wait", cwd=site, env=e)
        assert r.returncode == 0, r.stderr
        assert len(server.batch_api.creates) == 2
        assert len(list(server.batch_api.batches.values())[1]["lines"]) == 4
        assert sorted(Counter(server.batch_api.answered).values()) == [1] * 6
    assert_clean(site, 6)
    r = run_qtgen("batch", "--cancel", "no-such-run", cwd=site, env=e)
    assert r.returncode == 2 and "no-such-run" in r.stderr and "Traceback" not in r.stderr


def test_cost_is_half_the_online_price_unless_batch_prices_say_otherwise(site, tmp_path):
    (site / "q.csv").write_text(questions(4))
    configure(site)
    with open(site / "qtgen.toml", "a") as fh:
        fh.write("[prices]\ntest-model = [1000.0, 1000.0]\n")
    with FakeOpenAI() as server:
        r = via_batch_api(site, server)
        assert r.returncode == 0, r.stderr
        assert "$1.2000" in r.stderr  # 4 answers of 600 tokens at $500 per million (online: $2.40)
        assert "$1.2000" in run_qtgen("runs", cwd=site).stdout
    other = tmp_path / "other"
    (other / "drafts").mkdir(parents=True)
    (other / "content" / "learn").mkdir(parents=True)
    configure(other)
    with open(other / "qtgen.toml", "a") as fh:
        fh.write("[prices]\ntest-model = [1000.0, 1000.0]\n[batch_prices]\ntest-model = [100.0, 100.0]\n")
    (other / "q.csv").write_text(questions(4))
    with FakeOpenAI() as server:
        r = run_qtgen("batch", "q.csv", "--via", "batch-api", "--wait", cwd=other, env=env(other, server))
        assert r.returncode == 0 and "$0.2400" in r.stderr


# -- another engine: export, import ---------------------------------------------------------------
def engine_results(server, requests: Path, skip: int = 0) -> list[dict]:
    """What vLLM's run-batch writes for a file of requests: one line per request, in any order."""
    out = []
    for n, raw in enumerate(requests.read_text().splitlines()):
        line = json.loads(raw)
        if n < skip:
            continue
        out.append({"id": f"vllm-{n}", "custom_id": line["custom_id"], "error": None,
                    "response": {"status_code": 200, "request_id": f"vllm-{n}", "body": server.completion(line["body"])}})
    return list(reversed(out))


def test_export_then_import_results_made_elsewhere(site):
    configure(site)
    (site / "q.csv").write_text(questions(5))
    r = run_qtgen("batch", "q.csv", "--export-jsonl", "requests.jsonl", cwd=site, env=clean_env(site))
    assert r.returncode == 0, r.stderr  # no key, no server: nothing is sent
    run_id = r.stdout.strip()
    lines = (site / "requests.jsonl").read_text().splitlines()
    assert len(lines) == 5 and all(json.loads(x)["url"] == "/v1/chat/completions" for x in lines)
    assert drafts(site) == [] and {i["state"] for i in items(site)} == {"submitted"}
    # exported questions are not drafted online meanwhile
    with FakeOpenAI() as server:
        r = run_qtgen("batch", "q.csv", cwd=site, env=env(site, server))
        assert server.requests == []
        results = engine_results(server, site / "requests.jsonl")
    results[0] = {**results[0], "response": {"status_code": 500, "body": {"error": {"message": "engine fault"}}}}
    text = "\n".join(json.dumps(x) for x in results) + "\n" + '{"custom_id": "nobody/else.md", "response": {}}\nnot json\n'
    (site / "results.jsonl").write_text(text)
    r = run_qtgen("batch", "--import-results", run_id, "results.jsonl", cwd=site, env=clean_env(site))
    assert r.returncode == 1  # one result failed: reported
    assert "4 done, 1 failed, 0 already done, 0 in a live batch, 1 unknown, 1 bad lines" in r.stderr
    assert len(drafts(site)) == 4
    # the failed one is exported again, alone, and its result imported
    r = run_qtgen("batch", "q.csv", "--export-jsonl", "again.jsonl", cwd=site, env=clean_env(site))
    assert r.returncode == 0 and len((site / "again.jsonl").read_text().splitlines()) == 1
    with FakeOpenAI() as server:
        (site / "again.results.jsonl").write_text(
            "".join(json.dumps(x) + "\n" for x in engine_results(server, site / "again.jsonl")))
    r = run_qtgen("batch", "--import-results", run_id, "again.results.jsonl", cwd=site, env=clean_env(site))
    assert r.returncode == 0, r.stderr
    # importing the same file again writes nothing twice
    r = run_qtgen("batch", "--import-results", run_id, "results.jsonl", cwd=site, env=clean_env(site))
    assert "0 done, 0 failed, 5 already done" in r.stderr
    assert_clean(site, 5)
    assert {i["lane"] for i in items(site)} == {"export"}
    assert "finished" in run_qtgen("runs", cwd=site).stdout


def test_bad_uses_get_one_clear_line(site):
    configure(site)
    (site / "q.csv").write_text(questions(2))
    r = run_qtgen("batch", "q.csv", "--via", "batch-api", cwd=site, env=clean_env(site))
    assert r.returncode == 2 and "the Batch API needs a server" in r.stderr and "Traceback" not in r.stderr
    r = run_qtgen("batch", "--import-results", "nope", "missing.jsonl", cwd=site, env=clean_env(site))
    assert r.returncode == 2 and "nope" in r.stderr
    (site / "out.jsonl").write_text("keep me\n")
    r = run_qtgen("batch", "q.csv", "--export-jsonl", "out.jsonl", cwd=site, env=clean_env(site))
    assert r.returncode == 2 and "out.jsonl: already exists" in r.stderr and "give another name" in r.stderr
    assert (site / "out.jsonl").read_text() == "keep me\n"
    r = run_qtgen("batch", "q.csv", "--export-jsonl", "q.csv/inside.jsonl", cwd=site, env=clean_env(site))
    assert r.returncode == 2 and "q.csv/inside.jsonl: cannot write it" in r.stderr and ".tmp" not in r.stderr
    (site / "empty.jsonl").write_text("")
    r = run_qtgen("batch", "--import-results", items(site)[0]["run_id"], "empty.jsonl", cwd=site, env=clean_env(site))
    assert r.returncode == 2 and "empty.jsonl: no result line could be read (it is empty)" in r.stderr
    assert {i["state"] for i in items(site)} == {"pending"}  # nothing is marked exported
    r = run_qtgen("batch", "q.csv", "--cancel", "x", cwd=site, env=clean_env(site))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    with FakeOpenAI(api_key="sk-right") as server:
        r = run_qtgen("batch", "q.csv", "--via", "batch-api", cwd=site, env=env(site, server))
        assert r.returncode != 0 and "rejected the API key" in r.stderr and KEY not in r.stderr
    assert {i["state"] for i in items(site)} == {"pending"}  # a refused upload leaves the questions to send


def test_a_key_echoed_in_batch_errors_reaches_no_file_table_or_message(site):
    configure(site)
    (site / "q.csv").write_text(questions(3))
    with FakeOpenAI() as server:
        echo = f"gateway says: Authorization: Bearer {KEY} is over quota"
        server.batch_api.scripts.extend([{"fail": 3, "message": echo}, {"fail": 3, "message": echo}])
        r = via_batch_api(site, server, "--report", "r.jsonl")
        assert r.returncode == 1 and "over quota" in r.stderr
        runs = run_qtgen("runs", "--json", cwd=site)
    assert KEY not in r.stderr + r.stdout + runs.stdout
    for path in [*(site / "drafts").rglob("*"), site / "r.jsonl"]:
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    assert all(i["state"] == "failed" and "over quota" in i["error"] for i in items(site))


def test_ctrl_c_while_waiting_leaves_the_batches_running_and_resume_collects_them(site):
    configure(site, batch_api_poll=0.1)
    (site / "q.csv").write_text(questions(6))
    with FakeOpenAI() as server:
        server.batch_api.lines_per_poll = 1
        e = env(site, server)
        proc = subprocess.Popen([sys.executable, "-m", "qtgen", "batch", "q.csv", "--via", "batch-api", "--wait"],
                                cwd=site, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not server.batch_api.answered and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "qtgen batch resume --wait" in err and "Traceback" not in err
        assert {i["state"] for i in items(site)} & {"submitted"}
        server.batch_api.lines_per_poll = None
        r = run_qtgen("batch", "--resume", "--wait", cwd=site, env=e)
        assert r.returncode == 0, r.stderr
        assert len(server.batch_api.creates) == 1
    assert_clean(site, 6)


def test_lines_are_split_under_every_limit_in_order():
    from qtgen.batch.batch_api import BatchLane
    from qtgen.batch.chunk import Line

    lines = [Line(None, b"x" * size, tokens) for size, tokens in [(40, 10), (40, 10), (90, 10), (10, 50), (10, 5)]]
    groups = BatchLane.split(lines, max_requests=3, max_bytes=100, max_tokens=60)
    sizes = [[len(line.data) for line in g] for g in groups]
    # 40+40+90 > 100 bytes; 90+10 = 100 bytes and 60 tokens fit exactly; one more is 65 tokens
    assert sizes == [[40, 40], [90, 10], [10]]
    assert [line for g in groups for line in g] == lines  # nothing lost, order kept
    assert all(sum(len(x.data) for x in g) <= 100 and len(g) <= 3 for g in groups)
    assert [len(g) for g in BatchLane.split(lines, 2, 10**6, None)] == [2, 2, 1]
    big = [Line(None, b"y" * 500, 1)]
    assert BatchLane.split(big, 10, 100, None) == [big]  # a line alone over a limit goes alone


def test_the_same_question_in_two_lists_is_sent_once(site):
    configure(site)
    (site / "q.csv").write_text(questions(3))
    (site / "other.csv").write_text(questions(4))  # the same three and one more
    with FakeOpenAI() as server:
        e = env(site, server)
        assert run_qtgen("batch", "q.csv", "--via", "batch-api", cwd=site, env=e).returncode == 0
        r = run_qtgen("batch", "other.csv", "--via", "batch-api", cwd=site, env=e)
        assert r.returncode == 0, r.stderr
        r = run_qtgen("batch", "other.csv", cwd=site, env=e)  # nor online while the batch is out
        assert server.requests == []
        assert sorted(sent_ids(server).values()) == [1] * 4
        for _ in range(3):
            run_qtgen("runs", "--poll", cwd=site, env=e)
    assert_clean(site, 4)
    skipped = [i for i in items(site) if i["state"] == "skipped"]
    assert len(skipped) == 3 and all("not sent twice" in i["error"] for i in skipped)


# -- what a hostile review found ------------------------------------------------------------------
def test_cancel_after_a_kill_during_create_cancels_the_batch_the_provider_made(site):
    configure(site)
    with FakeOpenAI() as server:
        _kill_at(site, server, "create")
        run_id = items(site)[0]["run_id"]
        r = run_qtgen("batch", "--cancel", run_id, cwd=site, env=env(site, server))
        assert r.returncode == 0, r.stderr
        [made] = server.batch_api.batches.values()
        assert made["status"] == "cancelled"  # found by its metadata and cancelled, not left to run and bill
        r = run_qtgen("batch", "--resume", "--wait", cwd=site, env=env(site, server))
        assert r.returncode == 0, r.stderr
        assert sorted(Counter(server.batch_api.answered).values()) == [1] * 5
    assert_clean(site, 5)


def test_a_token_limit_below_one_request_fails_the_question_instead_of_looping(site):
    configure(site)
    (site / "q.csv").write_text(questions(2))
    with FakeOpenAI() as server:
        server.batch_api.token_limit = 10
        r = via_batch_api(site, server)
        assert r.returncode == 1 and "token_limit_exceeded" in r.stderr
        assert len(server.batch_api.creates) <= 6  # halved, then each question tried twice: bounded
    assert Counter(i["state"] for i in items(site)) == {"failed": 2}


def test_another_runs_open_batch_counts_against_the_token_limit(site):
    configure(site, batch_api_poll=0.05)
    (site / "a.csv").write_text(questions(3))
    (site / "b.csv").write_text("question,subject\n" + "".join(f"What is cell part number {i}?,Biology\n" for i in range(3)))
    with FakeOpenAI() as server:
        e = env(site, server)
        assert run_qtgen("batch", "a.csv", "--via", "batch-api", cwd=site, env=e).returncode == 0  # left open
        [first] = server.batch_api.batches.values()
        server.batch_api.token_limit = first["tokens"] + 100  # room for one such batch at a time
        proc = subprocess.Popen([sys.executable, "-m", "qtgen", "batch", "b.csv", "--via", "batch-api", "--wait"],
                                cwd=site, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        refused = len(server.batch_api.creates)
        assert refused <= 3, "it must wait for the open batch, not send again and again"
        assert run_qtgen("runs", "--poll", cwd=site, env=e).returncode in (0, 1)  # a's batch moves on
        run_qtgen("runs", "--poll", cwd=site, env=e)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        codes = [b["failed_code"] for b in server.batch_api.batches.values()]
        assert codes.count("token_limit_exceeded") == 1  # refused once, then it waited for the other run
    assert_clean(site, 6)


def test_unreadable_output_lines_and_a_lost_output_file_never_block_a_run(site):
    configure(site)
    (site / "q.csv").write_text(questions(4))
    with FakeOpenAI() as server:
        # the first batch's output file is gone (404); the second holds unreadable lines for one question
        server.batch_api.scripts.extend([{"lose_output": True}, {"garbage": 1}])
        r = via_batch_api(site, server)
        assert r.returncode == 1 and "Traceback" not in r.stderr and "internal error" not in r.stderr
        assert len(server.batch_api.creates) == 2 and len(drafts(site)) == 3
        notes = " ".join(b["error"] or "" for b in batches(site))
        assert "could not be downloaded" in notes and "not JSON" in notes
        [failed] = [i for i in items(site) if i["state"] == "failed"]
        assert "500: x" in failed["error"]  # a numeric error code is read as text
        r = run_qtgen("batch", "--resume", "--wait", cwd=site, env=env(site, server))
        assert r.returncode == 0, r.stderr
    assert_clean(site, 4)


def test_a_request_larger_than_any_file_the_server_takes_fails_alone(site):
    configure(site)
    (site / "q.csv").write_text(questions(3))
    with FakeOpenAI() as server:
        server.batch_api.max_file_bytes = 500  # smaller than one request line
        r = via_batch_api(site, server)
        assert r.returncode == 1 and "larger than the server takes" in r.stderr
        assert server.batch_api.uploads == []
    assert Counter(i["state"] for i in items(site)) == {"failed": 3}
    assert list((site / "drafts/.qtgen/batches").glob("*.jsonl")) == []  # no copy of what was never sent


def test_polling_never_sends_a_failed_question_again(site):
    configure(site)
    (site / "q.csv").write_text(questions(2))
    with FakeOpenAI() as server:
        server.batch_api.scripts.extend([{"fail": 1}, {"fail": 1}])
        assert via_batch_api(site, server).returncode == 1
        sent = sum(sent_ids(server).values())
        for _ in range(3):
            run_qtgen("runs", "--poll", cwd=site, env=env(site, server))
        assert sum(sent_ids(server).values()) == sent


def test_questions_drafted_online_after_a_cancel_cost_the_online_price(site):
    configure(site)
    with open(site / "qtgen.toml", "a") as fh:
        fh.write("[prices]\ntest-model = [1000.0, 1000.0]\n")
    (site / "q.csv").write_text(questions(2))
    with FakeOpenAI() as server:
        e = env(site, server)
        assert run_qtgen("batch", "q.csv", "--via", "batch-api", cwd=site, env=e).returncode == 0
        assert run_qtgen("batch", "--cancel", items(site)[0]["run_id"], cwd=site, env=e).returncode == 0
        r = run_qtgen("batch", "--resume", "--via", "online", cwd=site, env=e)
        assert r.returncode == 0, r.stderr
        assert "$1.2000" in r.stderr  # 2 x 600 tokens at the online $1,000 per million
    assert {i["lane"] for i in items(site)} == {"online"}


# -- a second review --------------------------------------------------------------------------------
def test_two_batch_api_runs_racing_on_the_same_questions_send_each_once(site):
    configure(site, batch_api_max_requests=1)
    (site / "q.csv").write_text(questions(3))
    (site / "b.csv").write_text(questions(3) + "# the same questions, another list\n")
    with FakeOpenAI() as server:
        e = env(site, server)
        gate = server.batch_api.gate("upload")
        first = subprocess.Popen([sys.executable, "-m", "qtgen", "batch", "q.csv", "--via", "batch-api"], cwd=site,
                                 env=e, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            assert gate.arrived.wait(60)
            r = run_qtgen("batch", "b.csv", "--via", "batch-api", cwd=site, env=e)  # while the first is uploading
            assert r.returncode == 0, r.stderr
        finally:
            gate.release.set()
        _, err = first.communicate(timeout=60)
        assert first.returncode == 0, err
        assert sorted(sent_ids(server).values()) == [1, 1, 1]
        for _ in range(4):
            run_qtgen("runs", "--poll", cwd=site, env=e)
    assert_clean(site, 3)


def test_a_batch_api_run_does_not_send_what_an_online_run_is_drafting(site):
    configure(site)
    (site / "q.csv").write_text(questions(2))
    (site / "b.csv").write_text(questions(2) + "# again\n")
    with FakeOpenAI(latency=3) as server:
        e = env(site, server)
        online = subprocess.Popen([sys.executable, "-m", "qtgen", "batch", "q.csv"], cwd=site, env=e,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while len(server.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        r = run_qtgen("batch", "b.csv", "--via", "batch-api", cwd=site, env=e)
        assert r.returncode == 0, r.stderr
        assert server.batch_api.uploads == []
        _, err = online.communicate(timeout=60)
        assert online.returncode == 0, err
    assert_clean(site, 2)


def test_importing_into_a_live_batch_never_sends_its_questions_twice(site):
    configure(site)
    (site / "q.csv").write_text(questions(2))
    with FakeOpenAI() as server:
        e = env(site, server)
        assert run_qtgen("batch", "q.csv", "--via", "batch-api", cwd=site, env=e).returncode == 0
        key = items(site)[0]["key"]
        (site / "res.jsonl").write_text(json.dumps({"custom_id": key, "error": {"code": "x", "message": "no"}}) + "\n")
        r = run_qtgen("batch", "--import-results", items(site)[0]["run_id"], "res.jsonl", cwd=site, env=e)
        assert "1 in a live batch" in r.stderr
        assert run_qtgen("batch", "--resume", "--wait", cwd=site, env=e).returncode == 0
        assert sorted(sent_ids(server).values()) == [1, 1]
    assert_clean(site, 2)


def test_a_batch_the_server_no_longer_knows_is_sent_again_not_awaited_for_ever(site):
    configure(site, batch_api_token_cap=100_000)
    (site / "q.csv").write_text(questions(2))
    (site / "b.csv").write_text("question,subject\nWhat is a cell wall?,Biology\n")
    with FakeOpenAI() as server:
        e = env(site, server)
        assert run_qtgen("batch", "q.csv", "--via", "batch-api", cwd=site, env=e).returncode == 0
        server.batch_api.batches.clear()  # deleted at the provider, or made under another project's key
        server.batch_api.token_limit = None
        # another run must not wait for it either
        r = run_qtgen("batch", "b.csv", "--via", "batch-api", "--wait", cwd=site, env=e, timeout=60)
        assert r.returncode == 0, r.stderr
        r = run_qtgen("batch", "q.csv", "--resume", "--wait", cwd=site, env=e, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "unknown to the server" in r.stderr
        assert len(server.batch_api.creates) == 3
    assert_clean(site, 3)
    assert "does not know batch" in batches(site)[0]["error"]


def test_an_upload_or_create_whose_answer_times_out_is_found_not_made_twice(site):
    configure(site, timeout=1)
    (site / "q.csv").write_text(questions(2))
    with FakeOpenAI() as server:
        for route in ("upload", "create"):
            gate = server.batch_api.gate(route)
            threading.Timer(2.5, gate.release.set).start()  # answered after the client gave up waiting
        r = via_batch_api(site, server)
        assert r.returncode == 0, r.stderr
        assert len(server.batch_api.uploads) == 1 and len(server.batch_api.creates) == 1
        assert sorted(sent_ids(server).values()) == [1, 1]
    assert_clean(site, 2)


# -- a third review ---------------------------------------------------------------------------------
def test_questions_a_killed_online_run_was_drafting_go_in_a_batch_on_resume(site):
    configure(site)
    (site / "q.csv").write_text(questions(4))
    with FakeOpenAI(latency=3) as server:
        e = env(site, server)
        online = subprocess.Popen([sys.executable, "-m", "qtgen", "batch", "q.csv", "-c", "2"], cwd=site, env=e,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while len(server.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        online.send_signal(signal.SIGKILL)
        online.wait()
        running = {i["key"] for i in items(site) if i["state"] == "running"}
        done = {i["key"] for i in items(site) if i["state"] == "done"}
        assert len(running) == 2
        r = run_qtgen("batch", "--resume", "--via", "batch-api", cwd=site, env=e)
        assert r.returncode == 0, r.stderr
        sent = sent_ids(server)
        assert running <= set(sent) and set(sent) == {i["key"] for i in items(site)} - done  # those it was drafting too
        assert set(sent.values()) == {1}
        for _ in range(2):  # the run was switched to the Batch API: polling follows it
            assert run_qtgen("runs", "--poll", cwd=site, env=e).returncode == 0
    assert_clean(site, 4)


def test_max_cost_bounds_what_is_sent_and_polling_sends_no_more(site):
    configure(site)
    with open(site / "qtgen.toml", "a") as fh:
        fh.write("[prices]\ntest-model = [1000.0, 1000.0]\n")  # at most about $1 a request at batch prices
    (site / "q.csv").write_text(questions(5))
    with FakeOpenAI() as server:
        e = env(site, server)
        r = run_qtgen("batch", "q.csv", "--via", "batch-api", "--max-cost", "2.5", "--wait", cwd=site, env=e)
        assert r.returncode == 0, r.stderr
        assert "--max-cost 2.5" in r.stderr and sum(sent_ids(server).values()) == 2
        assert run_qtgen("runs", "--poll", cwd=site, env=e).returncode == 0
        assert sum(sent_ids(server).values()) == 2  # held back until --resume
        r = run_qtgen("batch", "--resume", "--wait", cwd=site, env=e)
        assert r.returncode == 0, r.stderr
        assert sorted(sent_ids(server).values()) == [1] * 5
    assert_clean(site, 5)


def test_a_storage_quota_refusal_is_not_taken_for_a_file_too_large(site):
    configure(site)
    (site / "q.csv").write_text(questions(4))
    with FakeOpenAI() as server:
        server.batch_api.refuse_uploads = "Your file storage exceeds its quota of 100 GB."
        r = via_batch_api(site, server)
        assert r.returncode != 0 and "exceeds its quota" in r.stderr and "Traceback" not in r.stderr
        server.batch_api.refuse_uploads = None
        r = run_qtgen("batch", "--resume", "--wait", cwd=site, env=env(site, server))
        assert r.returncode == 0, r.stderr
        assert len(server.batch_api.creates) == 1  # one file of four, not four files of one
    assert_clean(site, 4)
    db = sqlite3.connect(site / "drafts/.qtgen/batch.sqlite")
    assert db.execute("SELECT api_max_bytes FROM runs").fetchone()[0] is None
    db.close()


def test_a_resumed_batch_whose_file_expired_is_sent_afresh_not_blocking_the_run(site):
    configure(site)
    with FakeOpenAI() as server:
        _kill_at(site, server, "create")  # the file uploaded and recorded; the answer to create lost
        server.batch_api.batches.clear()  # ...and at the provider neither the batch nor the file is left
        server.batch_api.files.clear()
        r = run_qtgen("batch", "--resume", "--wait", cwd=site, env=env(site, server))
        assert r.returncode == 0, r.stderr
        assert "sent again in a new batch" in r.stderr
    assert_clean(site, 5)


def test_a_key_echoed_far_into_a_long_error_is_masked_before_it_is_cut(site):
    configure(site)
    (site / "q.csv").write_text(questions(1))
    key = "azk0123456789abcdefABCDEFghijklmnop"  # not shaped like sk-...: only knowing it masks it
    with FakeOpenAI() as server:
        message = "x" * 267 + f" the key {key} is over its quota"  # the key straddles character 300
        server.batch_api.scripts.extend([{"fail": 1, "message": message}, {"fail": 1, "message": message}])
        r = run_qtgen("batch", "q.csv", "--via", "batch-api", "--wait", "--report", "r.jsonl", cwd=site,
                      env=clean_env(site, OPENAI_BASE_URL=server.url, OPENAI_API_KEY=key))
        assert r.returncode == 1
    leaked = key[:8]
    assert leaked not in r.stderr and leaked not in (site / "r.jsonl").read_text()
    assert all(leaked not in (i["error"] or "") for i in items(site))


def test_absurd_token_counts_are_clamped_not_a_crash(site):
    configure(site)
    (site / "q.csv").write_text(questions(2))
    with FakeOpenAI() as server:
        server.usage = {"prompt_tokens": 10**19, "completion_tokens": -5, "total_tokens": 1}
        r = via_batch_api(site, server)
        assert r.returncode == 0, r.stderr
    assert_clean(site, 2)
    assert {(i["tokens_in"], i["tokens_out"]) for i in items(site)} == {(10**12, 0)}


def test_max_cost_counts_only_what_was_sent_while_the_token_cap_holds_the_rest(site):
    configure(site, batch_api_token_cap=700)  # one request (about 550 prompt tokens) enqueued at a time
    with open(site / "qtgen.toml", "a") as fh:
        fh.write("[prices]\ntest-model = [1000.0, 1000.0]\n")  # at most about $1.03 a request at batch prices
    (site / "q.csv").write_text(questions(5))
    with FakeOpenAI() as server:
        r = run_qtgen("batch", "q.csv", "--via", "batch-api", "--max-cost", "3.2", "--wait", cwd=site,
                      env=env(site, server))
        assert r.returncode == 0, r.stderr
        assert len(server.batch_api.creates) == 3 and sum(sent_ids(server).values()) == 3
    assert len(drafts(site)) == 3


def test_a_conflict_on_a_batch_call_is_said_once_never_retried(site):
    configure(site)
    (site / "q.csv").write_text(questions(3))
    with FakeOpenAI() as server:
        server.batch_api.lines_per_poll = 1
        e = env(site, server)
        assert run_qtgen("batch", "run", "q.csv", "--via", "batch-api", cwd=site, env=e).returncode == 0
        run_id = items(site)[0]["run_id"]
        assert run_qtgen("runs", "poll", cwd=site, env=e).returncode == 0  # in progress
        server.batch_api.cancel_conflict = True
        r = run_qtgen("batch", "cancel", run_id, cwd=site, env=e)
        assert r.returncode == 1 and "refused (409)" in r.stderr and "it is being finalized" in r.stderr, r.stderr
        assert server.batch_api.cancels == 1 and "retrying" not in r.stderr  # 409 says the batch's state: asked once
