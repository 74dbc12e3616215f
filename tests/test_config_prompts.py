
import pytest

from qtgen.config import load
from qtgen.errors import InputError
from qtgen.llm.prompts import Prompts

from conftest import REPO, clean_env, run_qtgen


def test_defaults_relative_to_the_current_folder(tmp_path):
    cfg = load(cwd=tmp_path, environ={})
    assert cfg.source is None
    assert cfg.drafts == tmp_path.resolve() / "drafts"
    assert cfg.content == tmp_path.resolve() / "content" / "learn"


def test_file_then_environment_then_flags(tmp_path):
    (tmp_path / "qtgen.toml").write_text('model = "from-file"\ntemperature = 0.2\ndrafts_dir = "out"\n')
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    cfg = load(cwd=sub, environ={})
    assert cfg.model == "from-file" and cfg.temperature == 0.2
    assert cfg.drafts == tmp_path.resolve() / "out"  # relative to the config file's folder
    cfg = load(cwd=sub, environ={"QTGEN_MODEL": "from-env", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert cfg.model == "from-env" and cfg.base_url == "http://127.0.0.1:9/v1"
    assert cfg.with_overrides(model="from-flag", temperature=None).model == "from-flag"


def test_pyproject_tool_section(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "site"\n[tool.qtgen]\nsite_name = "MySite"\n')
    assert load(cwd=tmp_path, environ={}).site_name == "MySite"


def test_bad_config_is_one_clear_error(tmp_path):
    (tmp_path / "qtgen.toml").write_text("model = \n")
    with pytest.raises(InputError, match="not valid TOML"):
        load(cwd=tmp_path, environ={})
    (tmp_path / "qtgen.toml").write_text("modle = 'x'\n")
    with pytest.raises(InputError, match="unknown setting 'modle'"):
        load(cwd=tmp_path, environ={})
    (tmp_path / "qtgen.toml").write_text("temperature = 'hot'\n")
    with pytest.raises(InputError, match="temperature must be a number"):
        load(cwd=tmp_path, environ={})


def test_api_key_never_in_repr(tmp_path):
    cfg = load(cwd=tmp_path, environ={"OPENAI_API_KEY": "sk-secret-value"})
    assert "sk-secret-value" not in repr(cfg)


VARS = dict(question="What is X?", subject="Physics", subject_slug="physics",
            settings={"site_name": "QuickTakes", "desc_min": 70, "desc_max": 160, "kw_min": 5, "kw_max": 15})


def test_default_prompt_asks_for_the_house_style():
    p = Prompts(None).build(**VARS)
    for phrase in ("numbered list", "bold", "In summary,", "250 to 450 words", "$...$", "\\n", "page_keywords"):
        assert phrase in p.system, phrase
    assert "What is X?" in p.user and "Physics" in p.user


def test_site_and_subject_overrides(tmp_path):
    (tmp_path / "user.j2").write_text("SITE USER {{ question }}")
    (tmp_path / "physics").mkdir()
    (tmp_path / "physics" / "system.j2").write_text("PHYSICS SYSTEM for {{ subject }}")
    prompts = Prompts(tmp_path)
    p = prompts.build(**VARS)
    assert p.system == "PHYSICS SYSTEM for Physics" and p.user == "SITE USER What is X?"
    other = prompts.build(**{**VARS, "subject": "Biology", "subject_slug": "biology"})
    assert other.system.startswith("You write answers for QuickTakes")  # packaged default
    assert other.user == "SITE USER What is X?"


def test_broken_template_is_a_clear_error(tmp_path):
    (tmp_path / "user.j2").write_text("{{ nope }}")
    with pytest.raises(InputError, match="nope"):
        Prompts(tmp_path).build(**VARS)


def test_prompt_command_prints_without_calling_a_model(tmp_path):
    r = run_qtgen("prompt", "What is X?", "-s", "Physics", cwd=tmp_path, env=clean_env(tmp_path))
    assert r.returncode == 0
    assert "--- system" in r.stdout and "Question (Physics): What is X?" in r.stdout


def test_prompts_ship_inside_the_built_wheel(tmp_path):
    pytest.importorskip("hatchling", reason="hatchling (the build backend) is not installed here")
    import subprocess
    import sys
    import zipfile

    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path),
                        str(REPO)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-500:]
    [wheel] = tmp_path.glob("qtgen-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "qtgen/prompts/system.j2" in names and "qtgen/prompts/user.j2" in names


def test_help_and_version(tmp_path):
    for args in (["--help"], ["draft", "--help"], ["validate", "--help"], ["schema", "--help"], ["prompt", "--help"]):
        r = run_qtgen(*args, cwd=tmp_path)
        assert r.returncode == 0 and "Usage:" in r.stdout
    r = run_qtgen("--version", cwd=tmp_path)
    assert r.returncode == 0 and "qtgen, version" in r.stdout
    r = run_qtgen("nosuchcommand", cwd=tmp_path)
    assert r.returncode == 2


def test_schema_command_prints_every_key():
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "qtgen", "schema"], capture_output=True, text=True, check=True).stdout
    schema = json.loads(out)
    props = list(schema["properties"])
    assert props[:4] == ["_schema", "id", "date", "title"]
    assert {"no_index", "score", "related_article1", "related_article5"} <= set(props)
    assert "layout" not in props


def test_the_documented_config_block_is_a_config_qtgen_loads(tmp_path):
    import re

    readme = (REPO / "docs" / "reference" / "configuration.md").read_text(encoding="utf-8")
    block = re.search(r"```toml\n(.*?)```", readme, re.S).group(1)
    (tmp_path / "qtgen.toml").write_text(block, encoding="utf-8")
    config = load(cwd=tmp_path, environ={})
    assert config.batch_lane == "online" and config.batch_api_max_requests == 50_000
    assert config.batch_api_token_cap == 2_000_000 and config.batch_prices["my-finetune"] == (0.15, 0.60)
    assert config.prices["my-finetune"] == (0.30, 1.20) and config.deployments == {"luna-prod": "gpt-6-luna"}
    assert config.model == "gpt-6-luna" and config.reasoning_effort == "low"


@pytest.mark.parametrize("line, named", [
    ("similar_threshold = -5", "similar_threshold = -5 is out of range"),
    ("temperature = 99", "temperature = 99 is out of range"),
    ("max_tokens = -5", "max_tokens = -5 is out of range"),
    ("desc_min = 200", "desc_min = 200 is out of range"),
    ("kw_min = 0", "kw_min = 0 is out of range"),
    ("timeout = 0", "timeout = 0 is out of range"),
    ("lint_words = [500, 100]", "lint_words = [500, 100] is out of range"),
    ("lock_timeout = -1", "lock_timeout = -1 is out of range"),
    ("max_tokens = inf", "max_tokens must be a whole number"),
    ("max_tokens = 1e400", "max_tokens must be a whole number"),
    ("max_tokens = 1.5", "max_tokens must be a whole number"),
    ("lint_words = ['a', 2]", "lint_words must be a whole number"),
    ("batch_api_max_requests = 60000", "batch_api_max_requests = 60000 is out of range"),
    ("structured = 'abc'", "structured must be true or false"),
    ("temperature = nan", "temperature must be a finite number"),
    ('drafts_dir = "."', "holds the content tree"),
    ("[lint]\ndisable = [\"QT999\"]", "unknown rule 'QT999'"),
    ("[lint]\nlevels = { QT001 = \"fatal\" }", "levels.QT001 = 'fatal'"),
])
def test_every_setting_is_checked_against_its_range(tmp_path, line, named):
    (tmp_path / "qtgen.toml").write_text(line + "\n")
    r = run_qtgen("review", cwd=tmp_path)
    assert r.returncode == 2 and named in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr


def test_a_bad_flag_value_is_checked_like_the_setting(tmp_path):
    r = run_qtgen("draft", "What is a cat?", "-s", "Biology", "--max-tokens", "-5", "--dry-run", cwd=tmp_path)
    assert r.returncode == 2 and "max_tokens = -5 is out of range" in r.stderr
