"""Pacing from the provider's rate-limit headers: the rules on a clock of our own, then real runs
against a local server that enforces its limits and sends OpenAI's x-ratelimit-* headers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from qtgen.llm.ratelimit import FileStore, RateLimiter, parse_duration, read_limits

from conftest import clean_env, run_qtgen
from fake_openai import FakeOpenAI


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def headers(limit=50, remaining=49, reset="2s", tlimit=None, tremaining=None, treset=None) -> dict:
    out = {"x-ratelimit-limit-requests": str(limit), "x-ratelimit-remaining-requests": str(remaining),
           "x-ratelimit-reset-requests": reset}
    if tlimit is not None:
        out.update({"x-ratelimit-limit-tokens": str(tlimit), "x-ratelimit-remaining-tokens": str(tremaining),
                    "x-ratelimit-reset-tokens": treset})
    return out


def sends(limiter, clock, n, tokens=100):
    out = []
    for _ in range(n):
        limiter.acquire(tokens)
        out.append(round(clock.now - 1000.0, 4))
        limiter.release(0.2, True)
    return out


@pytest.mark.parametrize("text, seconds", [("1s", 1.0), ("6m0s", 360.0), ("59.5s", 59.5), ("20ms", 0.02),
                                           ("1h2m3s", 3723.0), ("0.5", 0.5), ("soon", None), ("", None)])
def test_reset_durations_in_openai_format(text, seconds):
    assert parse_duration(text) == seconds


def test_it_starts_gently_then_keeps_as_many_in_flight_as_the_pace_needs():
    clock = Clock()
    limiter = RateLimiter(concurrency=8, clock=clock, sleep=clock.sleep)
    limiter.acquire(100)
    assert limiter.in_flight == 1 and limiter._cap(limiter.store.budget) == 1  # one probe until limits are known
    limiter.observe(headers(limit=50, remaining=49, reset="2s"))
    limiter.release(0.2, True)
    # 25 requests/s at 0.2 s latency need 5 in flight; with room: ceil(25 x 0.2 x 1.5) + 1 = 9, capped at -c 8
    assert limiter.cap == 8
    limiter.release(0.2, False)  # an error halves it
    assert limiter.cap == 4


def test_the_remaining_budget_is_spread_evenly_up_to_the_reset():
    clock = Clock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    limiter.observe(headers(limit=10, remaining=10, reset="2s"))
    times = sends(limiter, clock, 10)
    gaps = [round(b - a, 3) for a, b in zip(times, times[1:])]
    assert times[0] == 0.0 and all(0.19 <= g <= 0.23 for g in gaps), gaps  # 10 over 2 s
    assert times[-1] < 2.0
    limiter.acquire(100)  # the window's budget is spent: the next one waits for the reset
    assert clock.now - 1000.0 >= 2.0


def test_a_lower_remaining_from_the_server_slows_the_pace():
    clock = Clock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    limiter.observe(headers(limit=100, remaining=100, reset="10s"))
    sends(limiter, clock, 1)
    limiter.observe(headers(limit=100, remaining=4, reset="9.9s"))  # another client spent most of it
    times = sends(limiter, clock, 4)
    assert times[-1] - times[0] >= 5.0  # 4 left for ~10 s: spread, not sent at once
    limiter.acquire(100)
    assert clock.now - 1000.0 >= 9.9  # then nothing until the reset


def test_tokens_are_counted_as_the_provider_does():
    clock = Clock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    limiter.observe(headers(limit=1000, remaining=1000, reset="60s", tlimit=4000, tremaining=4000, treset="4s"))
    times = sends(limiter, clock, 3, tokens=1600)  # prompt + max_tokens: two fit in the window, not three
    assert times[2] >= 4.0


def test_a_429_pauses_until_the_reset_it_names_and_lowers_the_pace():
    clock = Clock()
    limiter = RateLimiter(concurrency=8, clock=clock, sleep=clock.sleep)
    limiter.acquire(100)
    limiter.observe(headers(limit=50, remaining=0, reset="1.5s"))
    limiter.release(0.2, True)
    assert limiter.cap == 8
    limiter.rate_limited(None, headers(limit=50, remaining=0, reset="1.5s"))
    assert limiter.throttled == 1 and limiter.store.budget.factor == 0.8 and limiter.cap == 4
    limiter.acquire(100)
    assert clock.now - 1000.0 >= 1.5


def test_rpm_stays_an_upper_bound_when_the_headers_allow_more():
    clock = Clock()
    limiter = RateLimiter(rpm=60, clock=clock, sleep=clock.sleep)
    limiter.observe(headers(limit=10000, remaining=10000, reset="60s"))
    assert sends(limiter, clock, 3) == [0.0, 1.0, 2.0]


def test_the_budget_file_is_shared_and_names_no_key(tmp_path):
    clock = Clock()
    path = tmp_path / "b.json"
    one = RateLimiter(clock=clock, sleep=clock.sleep, store=FileStore(path))
    two = RateLimiter(clock=clock, sleep=clock.sleep, store=FileStore(path))
    one.observe(headers(limit=4, remaining=4, reset="2s"))
    a = sends(one, clock, 2)
    b = sends(two, clock, 2)  # the second process knows what the first spent
    assert a + b == sorted(a + b) and b[-1] >= 1.0
    two.acquire(100)
    assert clock.now - 1000.0 >= 2.0
    assert json.loads(path.read_text())["requests"]["limit"] == 4


def test_read_limits_from_headers():
    limits = read_limits(headers(50, 7, "1s", 9000, 100, "6m0s"))
    assert (limits.limit_requests, limits.remaining_requests, limits.reset_requests) == (50, 7, 1.0)
    assert (limits.limit_tokens, limits.remaining_tokens, limits.reset_tokens) == (9000, 100, 360.0)
    assert not read_limits({}).any


# -- against a real server ---------------------------------------------------------------------------
def site_with(root: Path, first: int, n: int) -> Path:
    (root / "drafts").mkdir(parents=True)
    (root / "qtgen.toml").write_text('model = "test-model"\nretry_wait = 0.05\n')
    (root / "q.csv").write_text("question,subject\n" + "".join(f"What is topic number {i}?,Economics\n"
                                                              for i in range(first, first + n)))
    return root


def window_counts(times: list[float], seconds: float) -> int:
    """The most requests that arrived within any span of `seconds`."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] < t - seconds:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_a_run_with_no_flags_learns_the_limit_and_gets_no_429(tmp_path):
    root = site_with(tmp_path / "s", 0, 40)
    with FakeOpenAI(latency=0.1, rate_window=(10, 1.0)) as server:
        r = run_qtgen("batch", "q.csv", "--no-related", cwd=root, env=clean_env(tmp_path, OPENAI_BASE_URL=server.url,
                                                                               OPENAI_API_KEY="k"))
        assert r.returncode == 0, r.stderr
        assert server.throttled <= 1 and len(server.requests) == 40 + server.throttled
        first, second = sorted(server.times)[:2]
        assert second - first >= 0.09  # one probe first, not -c requests at once
    assert "0 rate-limit answer" in r.stderr or "1 rate-limit answer" in r.stderr


def test_two_runs_at_once_share_the_budget(tmp_path):
    roots = [site_with(tmp_path / f"s{k}", 100 * k, 25) for k in range(2)]
    with FakeOpenAI(latency=0.1, rate_window=(10, 1.0)) as server:
        env = clean_env(tmp_path, OPENAI_BASE_URL=server.url, OPENAI_API_KEY="sk-budget-key-123456")
        procs = [subprocess.Popen([sys.executable, "-m", "qtgen", "batch", "q.csv", "--no-related"], cwd=root, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for root in roots]
        outs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outs
        assert server.throttled <= 2  # without sharing, each would spend the whole window
    budgets = list((tmp_path / ".cache" / "qtgen" / "limits").glob("*.json"))
    assert len(budgets) == 1  # one budget for one server, model and key...
    assert b"budget-key" not in budgets[0].read_bytes() and "budget-key" not in budgets[0].name  # ...named by a hash


def test_limits_command_prints_what_the_server_says(tmp_path):
    with FakeOpenAI(rate_window=(60, 60.0), token_window=(150000, 60.0)) as server:
        env = clean_env(tmp_path, OPENAI_BASE_URL=server.url, OPENAI_API_KEY="k", QTGEN_MODEL="test-model")
        r = run_qtgen("limits", "--json", cwd=tmp_path, env=env)
        t = run_qtgen("limits", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert (data["limit_requests"], data["remaining_requests"], data["limit_tokens"]) == (60, 59, 150000)
    assert 0 < data["reset_requests"] <= 60 and data["remaining_tokens"] < 150000
    assert re.search(r"requests +58 of 60 remaining, full again in [0-9.]+s", t.stdout) and "tokens" in t.stdout
    with FakeOpenAI() as plain:
        r = run_qtgen("limits", cwd=tmp_path, env=clean_env(tmp_path, OPENAI_BASE_URL=plain.url, QTGEN_MODEL="test-model"))
    assert r.returncode == 0 and "sends no rate-limit headers" in r.stdout


def test_bad_header_values_never_stall_or_break_a_run():
    clock = Clock()
    limiter = RateLimiter(concurrency=4, clock=clock, sleep=clock.sleep)
    for bad in (headers(limit=50, remaining=0, reset="1700000000"), headers(limit="nan", remaining="nan"),
                headers(limit="inf", remaining="-50", reset="2s")):
        limiter.observe(bad)
        limiter.acquire(100)
        limiter.release(0.2, True)
    assert clock.now - 1000.0 < 5  # no wait of years, no exception


def test_a_corrupt_or_unusable_budget_file_is_survived(tmp_path):
    clock = Clock()
    for content in ("[]", "null", '{"requests": {"limit": "abc"}}', '{"next_at": 1e300}'):
        path = tmp_path / "b.json"
        path.write_text(content)
        limiter = RateLimiter(clock=clock, sleep=clock.sleep, store=FileStore(path))
        start = clock.now
        limiter.acquire(100)
        assert clock.now - start < 1
    blocked = tmp_path / "limits"
    blocked.write_text("a file where the folder should be")
    RateLimiter(clock=clock, sleep=clock.sleep, store=FileStore(blocked / "b.json")).acquire(100)


def test_cancel_wakes_workers_waiting_for_their_turn():
    from qtgen.llm.ratelimit import Cancelled

    clock = Clock()
    limiter = RateLimiter(rpm=1, clock=clock, sleep=lambda s: limiter.cancel())
    limiter.acquire(100)
    with pytest.raises(Cancelled):
        limiter.acquire(100)


# -- a limit of 0 or a budget that allows nothing never stalls a run -------------------------------------
def test_a_limit_of_zero_is_no_limit():
    limits = read_limits(headers(limit=0, remaining=0, reset="1s", tlimit=0, tremaining=0, treset="1s"))
    assert limits.limit_requests is None and limits.limit_tokens is None and not limits.any


def test_a_stored_budget_that_allows_nothing_is_forgotten(tmp_path):
    clock = Clock()
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"requests": {"limit": 0, "remaining": 0, "reset_at": clock.now + 60, "length": 60}}))
    limiter = RateLimiter(concurrency=2, clock=clock, sleep=clock.sleep, store=FileStore(path))
    limiter.acquire(100)
    assert clock.now == 1000.0  # sent at once: a limit of 0 is no budget
    # a budget that still allows nothing after a long wait (a stale file, a wrong header): re-probed
    path.write_text(json.dumps({"requests": {"limit": 100, "remaining": 0, "reset_at": clock.now + 3000,
                                             "length": 3000}}))
    limiter = RateLimiter(concurrency=2, clock=clock, sleep=clock.sleep, store=FileStore(path))
    start = clock.now
    limiter.acquire(100)
    from qtgen.llm.ratelimit import PROBE_AFTER

    assert PROBE_AFTER <= clock.now - start <= PROBE_AFTER + 2
    assert json.loads(path.read_text())["requests"]["limit"] is None  # forgotten: the next answer teaches it


def test_a_zero_limit_header_never_stalls_later_runs(tmp_path):
    with FakeOpenAI() as server:
        server.answer_headers.append(headers(limit=0, remaining=0, reset="1s"))
        env = clean_env(tmp_path, OPENAI_BASE_URL=server.url, OPENAI_API_KEY="k")
        for k in range(2):  # the second run reads the budget the first one stored
            root = site_with(tmp_path / f"s{k}", 10 * k, 4)
            r = run_qtgen("batch", "q.csv", "--no-related", cwd=root, env=env, timeout=120)
            assert r.returncode == 0, r.stderr
        assert len(server.requests) == 8


def test_a_wait_on_the_servers_budget_is_said(tmp_path):
    with FakeOpenAI() as server:
        server.answer_headers.append(headers(limit=5, remaining=0, reset="3s"))
        root = site_with(tmp_path / "s", 0, 3)
        r = run_qtgen("batch", "q.csv", "--no-related", cwd=root, timeout=120,
                      env=clean_env(tmp_path, OPENAI_BASE_URL=server.url, OPENAI_API_KEY="k"))
    assert r.returncode == 0, r.stderr
    assert "the server's request budget is spent" in r.stderr and len(server.requests) == 3
