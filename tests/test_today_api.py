"""Today's API: every workflow on a current reasoning model (gpt-6-luna) as well as an older one, against the local
server in tests/ answering as OpenAI documents for its current models (openai_rules): requests that fit the model
and the server the first time, reasoning budgets, prices from genai-prices, an exhausted quota, Azure OpenAI."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from qtgen.llm.pricing import BATCH_API, Meter, Pricing
from qtgen.llm.reply.usage import Usage

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
    assert r.returncode != 0 and "quota" in r.stderr and "batch resume" in r.stderr
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


# -- what the hostile review of this change found -------------------------------------------------------------------
def reply_body(model: str = CURRENT, usage: dict | None = None, refusal: str | None = None, content: str | None = None,
               with_usage: bool = True) -> str:
    """A chat completion as a server sends it, with the fields a hostile or careless server gets wrong."""
    from fake_openai import house_answer

    message = {"role": "assistant", "content": None if refusal else (content or json.dumps(
        house_answer("What is a tariff?", "Economics"))), "refusal": refusal}
    data = {"id": "x", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "finish_reason": "stop", "message": message}]}
    if with_usage:
        data["usage"] = usage or {"prompt_tokens": 120, "completion_tokens": 480, "total_tokens": 600}
    return json.dumps(data)


def every_byte(site: Path) -> bytes:
    return b"".join(p.read_bytes() for p in site.rglob("*") if p.is_file())


@pytest.mark.parametrize("served", [KEY, "gpt-6-luna-" + KEY[3:], "gpt-6-luna-s3cr3tPa55w0rd"])
def test_a_secret_in_the_served_model_name_is_never_kept_or_shown(site, server, served):
    configure(site, CURRENT)
    e = {**env(site, server), "OPENAI_BASE_URL": server.url.replace("http://", "http://alice:s3cr3tPa55w0rd@")}
    server.raw_bodies.append(reply_body(model=served))
    r = run_qtgen("draft", "What is a tariff?", "-s", "Economics", cwd=site, env=e)
    assert r.returncode == 0, r.stderr
    for secret in (KEY[3:15], "s3cr3tPa55w0rd"):
        assert secret not in r.stdout + r.stderr and secret.encode() not in every_byte(site)
    history = next((site / "drafts/.qtgen/history").rglob("0001.json"))
    assert json.loads(history.read_text())["provenance"]["model"] == CURRENT  # the model asked for


def test_each_providers_key_goes_to_its_own_endpoint_only(site, server):
    from qtgen.config import load

    configure(site, CURRENT)
    e = env(site, server, AZURE_OPENAI_API_KEY="azure0123456789abcdef0123456789ab")
    assert load(cwd=site, environ=e).api_key == KEY  # no Azure endpoint: the Azure key is never sent
    r = run_qtgen("draft", "What is a tariff?", "-s", "Economics", cwd=site, env=e)
    assert r.returncode == 0, r.stderr
    headers = {k.lower(): v for k, v in server.requests[-1]["headers"].items()}
    assert headers["authorization"] == f"Bearer {KEY}"
    azure = {"AZURE_OPENAI_ENDPOINT": server.endpoint, "OPENAI_API_KEY": KEY}
    assert load(cwd=site, environ=azure).api_key is None  # nor the OpenAI key to Azure
    assert load(cwd=site, environ={**azure, "AZURE_OPENAI_API_KEY": "az-key"}).api_key == "az-key"
    pasted = load(cwd=site, environ={**azure, "AZURE_OPENAI_ENDPOINT": server.endpoint + "/openai/v1/"})
    assert pasted.azure_endpoint == server.endpoint  # the path the SDK adds itself is not doubled


def test_limits_against_a_server_refusing_every_form_stops_with_one_line(site, server):
    from fake_openai import status

    configure(site, CURRENT)
    server.script(*[status(400, f"Unsupported parameter: '{name}' is not supported with this model.")
                    for _ in range(10) for name in ("max_completion_tokens", "max_tokens")])
    r = run_qtgen("limits", cwd=site, env=env(site, server))
    assert r.returncode == 1 and "internal error" not in r.stderr and "Traceback" not in r.stderr
    assert len(server.requests) <= 6 and len(r.stderr.strip().splitlines()[-1]) < 400


def test_a_refusal_naming_a_parameter_not_sent_teaches_nothing():
    from qtgen.llm.parameters import Fit, learn

    sent = {"max_completion_tokens": 5596, "reasoning_effort": "low"}
    message = "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead."
    fit = Fit()
    assert learn({"param": "max_tokens", "code": "unsupported_parameter"}, message, sent, fit) is None
    assert learn({"message": message}, message, sent, fit) is None  # no param: "use X instead" is not a refusal of X
    assert fit == Fit()
    assert learn({"param": "max_tokens"}, message, {"max_tokens": 1500}, fit) == "max_tokens"
    assert fit.tokens == "max_completion_tokens" and fit.reasoning is True


def test_refusals_are_billed_and_count_against_max_cost(site, server):
    configure(site, CURRENT)
    for _ in range(8):
        server.raw_bodies.append(reply_body(refusal="I can't help with that.",
                                            usage={"prompt_tokens": 100_000, "completion_tokens": 30_000}))
    (site / "q.csv").write_text("question,subject\n" + "".join(f"What is trade idea {i}?,Economics\n" for i in range(8)))
    r = run_qtgen("batch", "q.csv", "-c", "1", "--max-cost", "0.04", cwd=site, env=env(site, server))
    assert "--max-cost" in r.stderr and "reached" in r.stderr, r.stderr
    assert len(server.requests) < 8
    db = sqlite3.connect(site / "drafts/.qtgen/batch.sqlite")
    assert db.execute("SELECT SUM(tokens_in) FROM items").fetchone()[0] >= 200_000


def test_a_served_name_no_price_list_holds_is_priced_as_the_model_asked_for(site, server):
    configure(site, CURRENT)
    server.raw_bodies.append(reply_body(model="gpt-6-luna-latest"))
    r = run_qtgen("draft", "What is a tariff?", "-s", "Economics", cwd=site, env=env(site, server))
    assert r.returncode == 0, r.stderr
    record = json.loads(next((site / "drafts/.qtgen/history").rglob("0001.json")).read_text())["provenance"]
    assert record["model"] == "gpt-6-luna-latest"
    assert record["cost"] == pytest.approx((120 * 0.10 + 480 * 0.50) / 1e6)  # gpt-6-luna's published price


def test_a_reply_without_usage_is_counted_at_its_bound(site, server):
    configure(site, CURRENT)
    server.raw_bodies.append(reply_body(with_usage=False))
    r = run_qtgen("draft", "What is a tariff?", "-s", "Economics", cwd=site, env=env(site, server))
    assert r.returncode == 0, r.stderr
    assert "reported no token usage" in r.stderr
    record = json.loads(next((site / "drafts/.qtgen/history").rglob("0001.json")).read_text())["provenance"]
    assert record["tokens_out"] == server.requests[-1]["body"]["max_completion_tokens"] and record["cost"] > 0


def test_an_exhausted_quota_stops_judge_suggest_and_the_batch_api_at_once(site, server):
    configure(site, CURRENT)
    e = env(site, server)
    for q in ("What is a tariff?", "What is a quota?", "What is an embargo?"):
        assert run_qtgen("draft", q, "-s", "Economics", cwd=site, env=e).returncode == 0
    server.quota_exhausted = True
    for args in (("judge", "--all", "--concurrency", "1"), ("suggest", "-s", "Economics", "-n", "5")):
        before = len(server.requests)
        r = run_qtgen(*args, cwd=site, env=e)
        assert r.returncode == 1 and "quota is exhausted" in r.stderr.splitlines()[-1], r.stderr
        assert len(server.requests) - before == 1, args
    (site / "b.csv").write_text("question,subject\n" + "".join(f"What is money idea {i}?,Economics\n" for i in range(3)))
    r = run_qtgen("batch", "b.csv", "--via", "batch-api", cwd=site, env=e)
    assert r.returncode == 1 and "quota is exhausted" in r.stderr and "Traceback" not in r.stderr
    assert "retrying" not in r.stderr  # no retry brings credit back
    server.quota_exhausted = False
    r = run_qtgen("batch", "--resume", "--wait", cwd=site, env=e)
    assert r.returncode == 0, r.stderr
    assert len(list((site / "drafts/economics").glob("what-is-money-idea-*.md"))) == 3


def test_a_huge_retry_after_waits_no_longer_than_retry_wait_max(site, server):
    from fake_openai import status

    configure(site, CURRENT, retry_wait_max=0.2)
    server.script(status(429, "slow down", retry_after="inf"), status(429, "slow down", retry_after="1000000"))
    (site / "q.csv").write_text("question,subject\nWhat is trade idea 1?,Economics\nWhat is trade idea 2?,Economics\n")
    r = run_qtgen("batch", "q.csv", "-c", "1", cwd=site, env=env(site, server), timeout=60)
    assert r.returncode == 0, r.stderr
    assert len(list((site / "drafts/economics").glob("*.md"))) == 2


def test_a_body_nested_past_any_parser_is_a_clear_error(site, server):
    configure(site, CURRENT, retry_wait_max=0.05)
    for _ in range(6):
        server.raw_bodies.append("[" * 100_000 + "]" * 100_000)
    r = run_qtgen("draft", "What is a tariff?", "-s", "Economics", cwd=site, env=env(site, server))
    assert r.returncode == 1 and "nested too deeply" in r.stderr and "internal error" not in r.stderr


def test_a_batch_result_file_is_kept_with_escaped_secrets_masked(site, server):
    from fake_openai import house_answer

    configure(site, CURRENT)

    def echoing(question, subject, body):  # the key in the answer, JSON-escaped inside the reply's JSON
        data = house_answer(question, subject)
        data["answer"] = data["answer"].replace("In summary,", "The key is KEYHERE.\\n\\nIn summary,")
        return json.dumps(data).replace("KEYHERE", "\\u0073" + KEY[1:])

    server.reply = echoing
    (site / "b.csv").write_text("question,subject\nWhat is money idea 1?,Economics\n")
    r = run_qtgen("batch", "b.csv", "--via", "batch-api", "--wait", cwd=site, env=env(site, server))
    assert r.returncode == 0, r.stderr
    kept = b"".join(p.read_bytes() for p in (site / "drafts/.qtgen").rglob("*.jsonl"))
    assert b"u0073" + KEY[1:].encode() not in kept and KEY[3:].encode() not in every_byte(site)
    assert b"The key is ***" in kept or b"The key is ***" in every_byte(site)
