"""`qtgen draft` as a subprocess against a real local OpenAI-protocol server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qtgen.config import load
from qtgen.format.reader import read
from qtgen.format.validate import validate_paths

from conftest import clean_env, files_in, run_qtgen, write_config
from fake_openai import DROP, INVALID_JSON, LENGTH, LLAMACPP, OPENAI, PLAIN, REFUSAL, STRICT400, FakeOpenAI, status

Q = "How does the WTO engage with NGOs?"


def env_for(site, server, key="sk-test-not-a-real-key"):
    return clean_env(site, OPENAI_BASE_URL=server.url, OPENAI_API_KEY=key)


def draft_with(site, *faults, kind=OPENAI):
    """Draft Q against a fresh server that first answers with `faults`; (result, requests it saw)."""
    with FakeOpenAI(kind) as server:
        server.script(*faults)
        r = run_qtgen("draft", Q, "-s", "Economics", cwd=site, env=env_for(site, server))
        return r, len(server.requests)


@pytest.mark.parametrize("kind, mode", [(OPENAI, "json_schema"), (LLAMACPP, "json_object"), (STRICT400, "json_object"), (PLAIN, "json_schema")])
def test_draft_end_to_end_gives_a_valid_file_that_parses_back(site, kind, mode):
    with FakeOpenAI(kind) as server:
        r = run_qtgen("draft", Q, "--subject", "Economics", "--date", "2026-11-28", cwd=site, env=env_for(site, server))
    assert r.returncode == 0, r.stderr
    path = site / "drafts" / "economics" / "how-does-the-wto-engage-with-ngos.md"
    assert r.stdout.strip().endswith(str(path.relative_to(site))) or r.stdout.strip() == str(path)
    assert "tokens" in r.stderr and "test-model" in r.stderr
    page = read(path)
    assert page.question == page.title == page.article_title == Q
    assert page.subject == "Economics"
    assert page.file_name == path.name
    assert page.url == "/learn/economics/questions/how-does-the-wto-engage-with-ngos"
    assert page.seo.title == "QuickTakes | Economics"
    assert str(page.date) == "2026-11-28"
    assert page.score == -1.0 and page.layout.title_style == "folded"
    assert "\\n\\n1. **Foundations**" in page.answer and "\n" not in page.answer
    assert 70 <= len(page.seo.page_description) <= 160
    assert 5 <= len(page.seo.page_keywords.split(", ")) <= 15
    report = validate_paths([path], load(cwd=site))
    assert report.errors == [] and report.warnings == []
    v = run_qtgen("validate", "--roundtrip", path, cwd=site, env=env_for(site, server))
    assert v.returncode == 0, v.stdout + v.stderr
    # what the server saw: the last accepted request used the expected structured-output mode
    last = server.requests[-1]["body"]
    fmt = last.get("response_format", {}).get("type")
    assert fmt == mode
    if kind in (LLAMACPP, STRICT400):
        assert server.requests[0]["body"]["response_format"]["type"] == "json_schema"  # tried, rejected
        assert "schema" in last["response_format"]


def test_server_format_is_remembered_between_commands(site):
    with FakeOpenAI(LLAMACPP) as server:
        env = env_for(site, server)
        assert run_qtgen("draft", Q, "-s", "Economics", cwd=site, env=env).returncode == 0
        first = len(server.requests)
        assert run_qtgen("draft", "What is a tariff?", "-s", "Economics", cwd=site, env=env).returncode == 0
        assert len(server.requests) - first == 1  # straight to json_object, no rejected attempt
        assert server.requests[-1]["body"]["response_format"]["type"] == "json_object"


def test_ids_increase_above_content_and_drafts(site):
    with FakeOpenAI() as server:
        env = env_for(site, server)
        assert run_qtgen("draft", "What is a tariff?", "-s", "Economics", "--id", "500", cwd=site, env=env).returncode == 0
        assert run_qtgen("draft", "What is a quota?", "-s", "Economics", cwd=site, env=env).returncode == 0
    assert read(site / "drafts" / "economics" / "what-is-a-quota.md").id == 501


def test_429_twice_then_success_honours_retry_after(site):
    with FakeOpenAI() as server:
        server.script(status(429, retry_after="0.4"), status(429, retry_after_ms="300"))
        r = run_qtgen("draft", Q, "-s", "Economics", cwd=site, env=env_for(site, server))
        times = server.times
    assert r.returncode == 0, r.stderr
    assert len(files_in(site / "drafts")) == 1
    assert len(times) == 3
    assert times[1] - times[0] >= 0.38 and times[2] - times[1] >= 0.28
    assert "retrying" in r.stderr and "429" in r.stderr


def test_500_until_retries_run_out(site):
    write_config(site, retries=2)
    r, count = draft_with(site, *[status(500)] * 5)
    assert r.returncode == 1
    assert count == 3
    assert r.stderr.strip().splitlines()[-1].startswith("qtgen: error: the request failed after 3 attempts")
    assert "Traceback" not in r.stderr
    assert files_in(site / "drafts") == []


def test_dropped_connection_is_retried(site):
    r, _ = draft_with(site, DROP)
    assert r.returncode == 0, r.stderr
    assert len(files_in(site / "drafts")) == 1


@pytest.mark.parametrize("fault, expect, requests", [
    (REFUSAL, "the model refused", 1),
    (LENGTH, "cut off at max_tokens", 1),
])
def test_refusal_and_truncation_fail_cleanly_without_retry(site, fault, expect, requests):
    r, count = draft_with(site, fault)
    assert r.returncode == 1
    assert expect in r.stderr and "Traceback" not in r.stderr
    assert count == requests
    assert files_in(site / "drafts") == []


def test_invalid_json_every_time_fails_after_retries(site):
    write_config(site, retries=1)
    r, _ = draft_with(site, INVALID_JSON, INVALID_JSON)
    assert r.returncode == 1
    assert "output was unusable after 2 attempts" in r.stderr
    assert files_in(site / "drafts") == []


def test_invalid_json_once_then_valid_succeeds(site):
    r, _ = draft_with(site, INVALID_JSON)
    assert r.returncode == 0, r.stderr


def test_wrong_key_is_one_clear_line_and_never_echoes_the_key(site):
    secret = "sk-wrong-" + "x" * 40
    with FakeOpenAI(api_key="sk-right") as server:
        r = run_qtgen("draft", Q, "-s", "Economics", cwd=site, env=env_for(site, server, key=secret))
        count = len(server.requests)
    assert r.returncode == 1
    assert "rejected the API key (401)" in r.stderr
    assert secret not in r.stderr + r.stdout
    assert count == 1  # no retry on 401
    assert files_in(site / "drafts") == []


def test_unknown_model_is_reported(site):
    with FakeOpenAI() as server:
        r = run_qtgen("--model", "nope", "draft", Q, "-s", "Economics", cwd=site, env=env_for(site, server))
    assert r.returncode == 1
    assert "model 'nope' not found" in r.stderr


def test_existing_draft_is_never_overwritten_without_force(site):
    with FakeOpenAI() as server:
        env = env_for(site, server)
        assert run_qtgen("draft", Q, "-s", "Economics", cwd=site, env=env).returncode == 0
        path = site / "drafts" / "economics" / "how-does-the-wto-engage-with-ngos.md"
        before = path.read_bytes()
        count = len(server.requests)
        r = run_qtgen("draft", Q, "-s", "Economics", cwd=site, env=env)
        assert r.returncode == 1 and "already exists" in r.stderr
        assert len(server.requests) == count  # refused before any request
        assert path.read_bytes() == before
        r = run_qtgen("draft", Q, "-s", "Politics", cwd=site, env=env)  # the same question under another subject
        assert r.returncode == 0, r.stderr
        other = site / "drafts" / "politics" / path.name
        assert r.stdout.strip() == str(other) and read(other).id == read_id_of(before)  # the site shares its id
        assert path.read_bytes() == before
        r = run_qtgen("draft", Q, "-s", "Economics", "--force", "--date", "2030-01-01", cwd=site, env=env)
        assert r.returncode == 0, r.stderr
    page = read(path)
    assert str(page.date) == "2030-01-01" and page.id == read_id_of(before)


def read_id_of(data: bytes) -> int:
    from qtgen.format.reader import parse

    return parse(data.decode()).id


def test_dry_run_prints_the_file_and_writes_nothing(site):
    with FakeOpenAI() as server:
        r = run_qtgen("draft", Q, "-s", "Economics", "--dry-run", cwd=site, env=env_for(site, server))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("---\n_schema: default\n") and r.stdout.endswith("&nbsp;\n")
    assert files_in(site / "drafts") == []


@pytest.mark.parametrize("question, message", [
    ("", "question: empty"),
    ("   \t  ", "question: empty"),
    ("x" * 2000, "2000 characters, over the limit of 300"),
    ("What is \x1b[31mred\x1b[0m?", "control character U+001B"),
    ("What\x07 is this?", "control character U+0007"),
    ("???", "no letters or digits"),
])
def test_bad_questions_are_refused_before_any_request(site, question, message):
    with FakeOpenAI() as server:
        r = run_qtgen("draft", question, "-s", "Economics", cwd=site, env=env_for(site, server))
        count = len(server.requests)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert count == 0
    assert files_in(site / "drafts") == []


@pytest.mark.parametrize("subject", ["../../etc", "a/b", "..", "C:\\Windows", ""])
def test_path_like_subjects_are_refused(site, subject):
    with FakeOpenAI() as server:
        r = run_qtgen("draft", Q, "-s", subject, cwd=site, env=env_for(site, server))
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "subject" in r.stderr
    assert files_in(site / "drafts") == []
    assert not (site.parent / "etc").exists()


@pytest.mark.parametrize("question", [
    "What does 'key: value' mean in YAML?",
    "Why is # a comment in Python?",
    'What did Hamlet mean by "to be"?',
    "- Is a leading dash a list?",
    "--- What is a document marker?",
    "Qu'est-ce que la Tène et l'Ère glaciaire?",
])
def test_yaml_special_and_unicode_questions_give_safe_valid_files(site, question):
    with FakeOpenAI() as server:
        r = run_qtgen("draft", "-s", "Physics", "--", question, cwd=site, env=env_for(site, server))
    assert r.returncode == 0, r.stderr
    [path] = files_in(site / "drafts")
    page = read(path)
    assert page.question == question
    assert validate_paths([path], load(cwd=site)).errors == []


def test_a_question_the_site_slug_cannot_name_is_refused_or_transliterated(site):
    question = "Что такое энтропия?"
    with FakeOpenAI() as server:
        r = run_qtgen("draft", "-s", "Physics", "--", question, cwd=site, env=env_for(site, server))
        assert r.returncode == 2 and "no letters or digits" in r.stderr and len(r.stderr.strip().splitlines()) == 1
        assert files_in(site / "drafts") == [] and server.requests == []
        with open(site / "qtgen.toml", "a") as fh:
            fh.write('slug_style = "slugify"\n')
        r = run_qtgen("draft", "-s", "Physics", "--", question, cwd=site, env=env_for(site, server))
    assert r.returncode == 0, r.stderr
    [path] = files_in(site / "drafts")
    assert path == site / "drafts" / "physics" / "chto-takoe-entropiia.md"
    assert read(path).question == question
    assert validate_paths([path], load(cwd=site)).errors == []


def test_validate_json_output_and_exit_code(site, tmp_path):
    bad = site / "drafts" / "broken.md"
    bad.write_text("---\n_schema: default\nid: nope\n---\n\n&nbsp;", encoding="utf-8")
    r = run_qtgen("validate", "--json", bad, cwd=site)
    assert r.returncode == 1
    report = json.loads(r.stdout)
    fields = {f["field"] for f in report["findings"]}
    assert {"id", "date", "answer"} <= fields


def test_latex_starting_with_backslash_n_is_replaced_in_the_draft(site):
    from fake_openai import house_answer
    from qtgen.checks.lint import lint_page

    def reply(question, subject, body):
        data = house_answer(question, subject)
        data["answer"] += "\n\nFor waves, $v = f \\lambda$ and $\\nu \\neq 0$ with $\\nabla \\cdot E$."
        return data

    with FakeOpenAI(reply=reply) as server:
        r = run_qtgen("draft", "What is a wave?", "-s", "Physics", cwd=site, env=env_for(site, server))
    assert r.returncode == 0, r.stderr
    assert "replaced \\nabla, \\neq, \\nu" in r.stderr
    page = read(site / "drafts" / "physics" / "what-is-a-wave.md")
    assert "$ν ≠ 0$ with $∇ \\cdot E$" in page.decoded_answer()
    assert not [f for f in lint_page(page, load(cwd=site)) if f.rule == "QT006"]


def test_a_server_configured_unstructured_writes_markdown_and_seo_is_derived(site):
    with open(site / "qtgen.toml", "a") as fh:
        fh.write("structured = false\n")
    with FakeOpenAI() as server:
        r = run_qtgen("draft", "What is a tariff?", "-s", "Economics", cwd=site, env=env_for(site, server))
        [request] = server.requests
    assert r.returncode == 0, r.stderr
    assert "response_format" not in request["body"]
    assert "Reply with the answer only, in Markdown" in request["body"]["messages"][0]["content"]
    page = read(Path(r.stdout.strip()))
    assert page.answer.startswith("What is a tariff is a central question")
    assert 70 <= len(page.seo.page_description) <= 117 and len(page.seo.page_keywords.split(", ")) >= 5
    assert "derived" in r.stderr


def test_tidy_plain_removes_labels_debris_repetition_and_a_cut_sentence():
    from qtgen.llm.reply.tidy import tidy_plain

    text = ("**Answer:** Trade helps. Trade helps nations grow.\n\n[ ] {\n\n3.\n\nTrade helps nations grow. New idea here.\n\n"
            "Trade helps. Trade helps nations grow.\n\nIn summary, trade matters. And then the model stopped in the mid")
    out, removed = tidy_plain(text, cut_last=True)
    assert out == ("Trade helps. Trade helps nations grow.\n\nNew idea here.\n\nIn summary, trade matters.")
    assert "2 line(s) of stray brackets" in removed and "repeated paragraph" in removed and "repeated sentence" in removed


def test_a_list_item_cut_at_its_number_is_dropped():
    from qtgen.llm.reply.tidy import tidy_plain

    assert tidy_plain("1. **A**: a.\n\n2. **B**: b.\n\n3. **C", cut_last=True)[0] == "1. **A**: a.\n\n2. **B**: b."
