"""Today's API: every workflow on a current reasoning model (gpt-6-luna) as well as an older one, against the local
server in tests/ answering as OpenAI documents for its current models (openai_rules): requests that fit the model
and the server the first time, reasoning budgets, prices from genai-prices, an exhausted quota, Azure OpenAI."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from qtgen.llm.pricing import BATCH_API, Meter, Pricing
from qtgen.llm.usage import Usage

from conftest import clean_env, git, init_repo, publish, run_qtgen, write_config
from fake_openai import AZURE, GATEWAY, JUDGE_MARK, SUGGEST_MARK, FakeOpenAI

KEY = "sk-today-0123456789abcdef"
CURRENT, OLDER = "gpt-6-luna", "gpt-4o-mini"
MODELS = (CURRENT, OLDER, "gpt-5.4-mini", "o4-mini", "luna-prod", "mystery-model")


def env(site: Path, server: FakeOpenAI, **extra) -> dict:
    return clean_env(site, OPENAI_BASE_URL=server.url, OPENAI_API_KEY=KEY, **extra)


def configure(site: Path, model: str, *lines: str, **values) -> None:
    path = write_config(site, model=model, **values)
    path.write_text(path.read_text() + "\n".join(lines) + "\n")


def chat(server: FakeOpenAI, mark: str | None = None) -> list[dict]:
    """The chat requests' bodies (only those holding `mark`, if given)."""
    return [r["body"] for r in server.requests if mark is None or mark in json.dumps(r["body"].get("messages"))]


def assert_fits(body: dict, model: str, answer_tokens: int) -> None:
    """What a request to `model` must carry: the reasoning form for a reasoning model, the classic one otherwise."""
    if model == CURRENT:
        assert "max_tokens" not in body and "temperature" not in body
        assert body["max_completion_tokens"] == answer_tokens + 4096 and body["reasoning_effort"] == "low"
    else:
        assert "max_completion_tokens" not in body and "reasoning_effort" not in body
        assert body["max_tokens"] == answer_tokens


@pytest.fixture
def server():
    with FakeOpenAI(models=MODELS) as s:
        yield s


# -- every workflow, on a current model and an older one --------------------------------------------------------
@pytest.mark.parametrize("model", [CURRENT, OLDER])
def test_draft_regenerate_and_limits_send_what_the_model_takes_first_time(site, server, model):
    configure(site, model)
    e = env(site, server)
    r = run_qtgen("draft", "What is a tariff?", "-s", "Economics", cwd=site, env=e)
    assert r.returncode == 0, r.stderr
    draft = Path(r.stdout.strip().splitlines()[-1])
    r = run_qtgen("regenerate", str(draft), "--feedback", "Shorter, please.", cwd=site, env=e)
    assert r.returncode == 0, r.stderr
    r = run_qtgen("limits", cwd=site, env=e)
    assert r.returncode == 0, r.stderr
    assert server.refused == []  # nothing was refused: the family is known up front
    bodies = chat(server)
    assert len(bodies) == 3
    for body in bodies[:2]:
        assert_fits(body, model, 1500)
    if model == CURRENT:
        assert r.stderr.count("temperature") <= 1
        record = json.loads(run_qtgen("history", str(draft), "--json", cwd=site, env=e).stdout)[-1]["provenance"]
        assert record["model"] == "gpt-6-luna-2026-09-22" and record["reasoning_effort"] == "low"
        assert record["tokens_reasoning"] == 256  # what the server spent at low effort, counted as tokens out
        assert record["tokens_out"] == 480 + 256
        # priced from genai-prices' data: $0.10 / $0.50 per million tokens, reasoning as output
        assert record["cost"] == pytest.approx((120 * 0.10 + (480 + 256) * 0.50) / 1e6)


@pytest.mark.parametrize("model", [CURRENT, OLDER])
def test_a_batch_online_and_through_the_batch_api(site, server, model):
    configure(site, model, batch_api_poll=0.0)
    (site / "q.csv").write_text("question,subject\n" + "".join(f"What is trade idea {i}?,Economics\n" for i in range(12)))
    (site / "b.csv").write_text("question,subject\n" + "".join(f"What is money idea {i}?,Economics\n" for i in range(6)))
    e = env(site, server)
    r = run_qtgen("batch", "q.csv", cwd=site, env=e)
    assert r.returncode == 0, r.stderr
    r = run_qtgen("batch", "b.csv", "--via", "batch-api", "--wait", cwd=site, env=e)
    assert r.returncode == 0, r.stderr
    assert server.refused == []  # no line of the Batch API file was refused: a refused line costs a day
    assert len(chat(server)) == 12 and len(server.batch_api.answered) == 6
    for body in chat(server):
        assert_fits(body, model, 1500)
    lines = [json.loads(x) for f in server.batch_api.files.values() if f["filename"].startswith("qtgen")
             for x in f["data"].decode().splitlines()]
    assert len(lines) == 6
    for line in lines:
        assert_fits(line["body"], model, 1500)
    db = sqlite3.connect(site / "drafts/.qtgen/batch.sqlite")
    db.row_factory = sqlite3.Row
    rows = list(db.execute("SELECT tokens_out, tokens_reasoning, lane FROM items"))
    assert len(rows) == 18 and all(r["tokens_reasoning"] == (256 if model == CURRENT else 0) for r in rows)


@pytest.mark.parametrize("model", [CURRENT, OLDER])
def test_judge_online_and_through_the_batch_api(site, server, model):
    configure(site, model, batch_api_poll=0.0)
    e = env(site, server)
    for q in ("What is a tariff?", "What is a quota?"):
        assert run_qtgen("draft", q, "-s", "Economics", cwd=site, env=e).returncode == 0
    r = run_qtgen("judge", "--all", "--json", cwd=site, env=e)
    assert r.returncode == 0, r.stderr
    graded = chat(server, JUDGE_MARK)
    assert len(graded) == 2
    for body in graded:
        assert_fits(body, model, 1500)
        if model == OLDER:
            assert body["temperature"] == 0
    for q in ("What is an embargo?", "What is a subsidy?"):
        assert run_qtgen("draft", q, "-s", "Economics", cwd=site, env=e).returncode == 0
    r = run_qtgen("judge", "--all", "--via", "batch-api", "--wait", cwd=site, env=e)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for f in server.batch_api.files.values() if "judge" in f["filename"]
             for x in f["data"].decode().splitlines()]
    assert lines and all(assert_fits(line["body"], model, 1500) is None for line in lines)
    assert server.refused == []


@pytest.mark.parametrize("model", [CURRENT, OLDER])
def test_suggest_eval_and_the_same_question_check(site, server, model):
    configure(site, model, "similar_check = true")
    init_repo(site)
    publish(site, "What is a tariff in trade?", "Economics")
    server.suggestions.append(["How do import quotas work?", "What is a trade embargo?"])
    e = env(site, server)
    r = run_qtgen("suggest", "-s", "Economics", "-n", "2", "--rounds", "1", cwd=site, env=e)
    assert r.returncode == 0, r.stderr
    r = run_qtgen("eval", "--variant", "a:temperature=0.3", "--questions", _questions(site), cwd=site, env=e)
    assert r.returncode == 0, r.stderr
    assert chat(server, SUGGEST_MARK) and len(chat(server)) >= 2
    for body in chat(server):
        assert ("max_completion_tokens" in body) == (model == CURRENT)
        assert ("temperature" in body) == (model == OLDER)
    assert server.refused == []


def _questions(site: Path) -> str:
    (site / "eval.csv").write_text("question,subject\nWhat is a subsidy?,Economics\n")
    return "eval.csv"


# -- learning what a server refuses -------------------------------------------------------------------------------
def test_a_name_no_rule_knows_is_learned_from_the_400_once_and_remembered(site, server):
    """An Azure-style deployment name ("luna-prod") serving a reasoning model: the first request is refused for
    max_tokens, sent again adapted, then refused for temperature, sent again; the next command sends it right."""
    server.deployments = {"luna-prod": CURRENT}
    configure(site, "luna-prod")
    e = env(site, server)
    r = run_qtgen("draft", "What is a tariff?", "-s", "Economics", cwd=site, env=e)
    assert r.returncode == 0, r.stderr
    assert [x["param"] for x in server.refused] == ["max_tokens"]  # a reasoning model: temperature left out too
    assert "refused max_tokens" in r.stderr
    before = len(server.requests)
    r = run_qtgen("draft", "What is a quota?", "-s", "Economics", cwd=site, env=e)
    assert r.returncode == 0, r.stderr
    assert len(server.requests) == before + 1 and len(server.refused) == 1  # remembered: right the first time
    assert "max_completion_tokens" in chat(server)[-1]


def test_a_gateway_that_refuses_the_new_names_gets_the_old_ones(site):
    """An older vLLM or a gateway in front of a reasoning model: max_completion_tokens and reasoning_effort are
    "extra inputs"; qtgen falls back to max_tokens (and no effort), once, and remembers."""
    with FakeOpenAI(kind=GATEWAY, models=(CURRENT,)) as server:
        configure(site, CURRENT)
        e = env(site, server)
        r = run_qtgen("draft", "What is a tariff?", "-s", "Economics", cwd=site, env=e)
        assert r.returncode == 0, r.stderr
        assert len(server.refused) == 1
        last = chat(server)[-1]
        assert "max_tokens" in last and "max_completion_tokens" not in last and "reasoning_effort" not in last
        r = run_qtgen("draft", "What is a quota?", "-s", "Economics", cwd=site, env=e)
        assert r.returncode == 0 and len(server.refused) == 1


def test_an_effort_the_model_does_not_take_moves_to_the_next_it_does(site, server):
    configure(site, "o4-mini", reasoning_effort="minimal")  # the o-series takes low, medium and high
    r = run_qtgen("draft", "What is a tariff?", "-s", "Economics", cwd=site, env=env(site, server))
    assert r.returncode == 0, r.stderr
    assert [x["param"] for x in server.refused] == ["reasoning_effort"]
    assert chat(server)[-1]["reasoning_effort"] == "low"


def test_reasoning_that_eats_the_budget_says_which_setting_to_raise(site, server):
    server.reasoning_spent = {"low": 9000}  # more than the room qtgen leaves at low effort
    configure(site, CURRENT)
    r = run_qtgen("draft", "What is a tariff?", "-s", "Economics", cwd=site, env=env(site, server))
    assert r.returncode == 1
    assert "budget went to reasoning" in r.stderr and "reasoning_effort" in r.stderr and "max_tokens" in r.stderr
    assert len(chat(server)) == 1  # asking again would spend the same: one request, not five
    assert "Traceback" not in r.stderr and not list((site / "drafts").rglob("*.md"))


def test_reasoning_effort_is_a_setting_and_a_flag(site, server):
    configure(site, CURRENT)
    e = env(site, server)
    assert run_qtgen("draft", "What is a tariff?", "-s", "Economics", "--reasoning-effort", "high", cwd=site,
                     env=e).returncode == 0
    assert chat(server)[-1]["reasoning_effort"] == "high" and chat(server)[-1]["max_completion_tokens"] == 1500 + 32_000
    bad = run_qtgen("draft", "What is a quota?", "-s", "Economics", cwd=site,
                    env={**e, "QTGEN_REASONING_EFFORT": "extreme"})
    assert bad.returncode == 2 and "reasoning_effort" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


# -- a model announced for shutdown -------------------------------------------------------------------------------
def test_a_model_announced_for_shutdown_warns_once_with_the_date_and_a_replacement(site, server):
    configure(site, OLDER)
    r = run_qtgen("draft", "What is a tariff?", "-s", "Economics", cwd=site, env=env(site, server))
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("shuts down on 2027-01-14") == 1 and "gpt-6-luna" in r.stderr
    configure(site, CURRENT)
    r = run_qtgen("draft", "What is a quota?", "-s", "Economics", cwd=site, env=env(site, server))
    assert "shut" not in r.stderr


def test_the_default_model_is_current(tmp_path):
    from qtgen.config import Config
    from qtgen.llm.models import shutdown_of

    assert Config().model == CURRENT and shutdown_of(Config().model) is None
    assert shutdown_of("gpt-4o-mini").isoformat() == "2027-01-14" and shutdown_of("o3").isoformat() == "2026-12-11"


# -- prices ---------------------------------------------------------------------------------------------------------
def test_prices_come_from_genai_prices_with_dated_names_cached_and_batch_rates():
    p = Pricing()
    million = Usage(1_000_000 // 4, 1_000_000 // 4)  # under the long-context tier
    assert p.cost("gpt-6-luna", million) == pytest.approx((0.10 + 0.50) / 4)
    assert p.cost("gpt-6-luna-2026-09-22", million) == p.cost("gpt-6-luna", million)
    # a dated name is its own model: gpt-4.1-nano's price, not gpt-4.1's (20x higher)
    assert p.cost("gpt-4.1-nano-2025-04-14", million) == pytest.approx((0.10 + 0.40) / 4)
    cached = Usage(100_000, 0, cached_tokens=60_000)
    assert p.cost("gpt-6-luna", cached) == pytest.approx((40_000 * 0.10 + 60_000 * 0.01) / 1e6)
    assert p.cost("gpt-6-luna", million, BATCH_API) == pytest.approx(p.cost("gpt-6-luna", million) / 2)
    assert p.cost("mystery-model", million) is None
    own = Pricing({"mystery-model": (1.0, 2.0)}, {})
    assert own.cost("mystery-model-2026-01-01", Usage(1_000_000, 0)) == pytest.approx(1.0)
    assert own.cost("mystery-model-large", Usage(1_000_000, 0)) is None  # a longer name is another model


def test_a_meter_counts_every_attempt_and_reserves_the_next():
    meter = Meter(Pricing({"m": (1000.0, 1000.0)}), cap=0.01)
    held = meter.reserve("m", 2, 3)
    meter.spend("m", Usage(2, 3), held)  # 5 tokens at $1000/M = $0.005
    with pytest.raises(Exception, match="max-cost"):
        meter.reserve("m", 3, 3)  # $0.006 more could pass $0.01
    assert meter.spent == pytest.approx(0.005) and meter.requests == 1


@pytest.mark.parametrize("command", [("batch", "q.csv", "--max-cost", "1"), ("judge", "--all", "--max-cost", "1"),
                                     ("suggest", "-s", "Economics", "--max-cost", "1")])
def test_a_cost_cap_on_a_model_with_no_known_price_is_refused_before_any_request(site, server, command):
    configure(site, "mystery-model")
    (site / "q.csv").write_text("question,subject\nWhat is a tariff?,Economics\n")
    (site / "drafts" / "economics").mkdir(parents=True)
    publish(site, "What is a duty?", "Economics")
    r = run_qtgen(*command, cwd=site, env=env(site, server))
    assert r.returncode == 2, r.stderr
    assert "mystery-model" in r.stderr and "[prices]" in r.stderr and "Traceback" not in r.stderr
    assert chat(server) == []


# -- errors as the service means them -------------------------------------------------------------------------------
def test_an_exhausted_quota_stops_at_once(site, server):
    server.quota_exhausted = True
    configure(site, CURRENT)
    e = env(site, server)
    r = run_qtgen("draft", "What is a tariff?", "-s", "Economics", cwd=site, env=e)
    assert r.returncode == 1 and "quota" in r.stderr and len(server.requests) == 1
    (site / "q.csv").write_text("question,subject\n" + "".join(f"What is trade idea {i}?,Economics\n" for i in range(6)))
    r = run_qtgen("batch", "q.csv", "-c", "1", cwd=site, env=e)
    assert r.returncode != 0 and "quota" in r.stderr and "--resume" in r.stderr
    assert len(server.requests) == 2  # one more request, then nothing
    r = run_qtgen("limits", cwd=site, env=e)
    assert r.returncode == 1 and "quota" in r.stderr
    server.quota_exhausted = False
    r = run_qtgen("batch", "--resume", cwd=site, env=e)
    assert r.returncode == 0, r.stderr
    assert len(list((site / "drafts" / "economics").glob("*.md"))) == 6


@pytest.mark.parametrize("code", [408, 409])
def test_408_and_409_are_retried(site, server, code):
    from fake_openai import status

    configure(site, CURRENT)
    server.script(status(code, "try again"))
    r = run_qtgen("draft", "What is a tariff?", "-s", "Economics", cwd=site, env=env(site, server))
    assert r.returncode == 0, r.stderr
    assert len(server.requests) == 2


def test_a_structured_request_reads_a_refusal_as_one_clear_error(site, server):
    from fake_openai import REFUSAL

    configure(site, CURRENT)
    e = env(site, server)
    assert run_qtgen("draft", "What is a tariff?", "-s", "Economics", cwd=site, env=e).returncode == 0
    server.script(REFUSAL)
    r = run_qtgen("judge", "--all", cwd=site, env=e)
    assert r.returncode == 1 and "refused" in r.stderr
    assert len(chat(server, JUDGE_MARK)) == 1  # one clear error, not five blind retries


# -- Azure OpenAI -----------------------------------------------------------------------------------------------------
def test_azure_openai_deployments_api_version_and_its_headers(site):
    with FakeOpenAI(kind=AZURE, api_key=KEY, models=(CURRENT,), rate_window=(50, 60.0)) as server:
        server.deployments = {"luna": CURRENT}
        configure(site, "luna", '[deployments]', 'luna = "gpt-6-luna"')
        e = clean_env(site, AZURE_OPENAI_ENDPOINT=server.endpoint, AZURE_OPENAI_API_KEY=KEY)
        r = run_qtgen("draft", "What is a tariff?", "-s", "Economics", cwd=site, env=e)
        assert r.returncode == 0, r.stderr
        first = server.requests[0]
        assert first["path"].startswith("/openai/deployments/luna/chat/completions?api-version=")
        assert first["headers"].get("api-key") == KEY and "Authorization" not in first["headers"]
        assert server.refused == []  # the deployment's model is known from [deployments]: right the first time
        assert_fits(first["body"], CURRENT, 1500)
        r = run_qtgen("limits", cwd=site, env=e)
        assert r.returncode == 0, r.stderr
        assert "requests" in r.stdout and "remaining" in r.stdout
