"""Review, approve, reject, regenerate, diff and edit, in real temporary git repositories."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from qtgen.format.reader import read
from qtgen.format.writer import render

from conftest import REPO, clean_env, git, run_qtgen
from fake_openai import FakeOpenAI, house_answer


@pytest.fixture
def repo(site) -> Path:
    """The site folder as a git repository with one commit, an unrelated staged file and a modified one."""
    git(site, "init", "-q", "-b", "main")
    git(site, "config", "user.email", "t@example.com")
    git(site, "config", "user.name", "Tester")
    (site / "README.md").write_text("site\n")
    (site / "notes.txt").write_text("v1\n")
    git(site, "add", "README.md", "notes.txt", "qtgen.toml")
    git(site, "commit", "-q", "-m", "init")
    (site / "notes.txt").write_text("v2, not for this commit\n")
    (site / "staged.txt").write_text("staged but not ours\n")
    git(site, "add", "staged.txt")
    return site


@pytest.fixture
def server():
    with FakeOpenAI() as s:
        yield s


def env(site, server):
    return clean_env(site, OPENAI_BASE_URL=server.url, OPENAI_API_KEY="sk-test")


def make_draft(site, server, question="What is a tariff?", subject="Economics") -> Path:
    r = run_qtgen("draft", question, "-s", subject, cwd=site, env=env(site, server))
    assert r.returncode == 0, r.stderr
    return Path(r.stdout.strip())


def test_review_lists_the_queue_with_status(repo, server):
    make_draft(repo, server)
    make_draft(repo, server, "What is a quota?")
    bad = repo / "drafts" / "broken.md"
    bad.write_text("---\nnot a page\n")
    r = run_qtgen("review", "--json", cwd=repo)
    assert r.returncode == 0, r.stderr
    rows = {Path(x["path"]).name: x for x in json.loads(r.stdout)}
    assert rows["what-is-a-tariff.md"]["status"] == "ok" and rows["what-is-a-tariff.md"]["words"] > 150
    assert rows["broken.md"]["status"] == "errors"
    r = run_qtgen("review", "--json", "--status", "errors", cwd=repo)
    assert [Path(x["path"]).name for x in json.loads(r.stdout)] == ["broken.md"]
    r = run_qtgen("review", "--json", "-s", "Politics", cwd=repo)
    assert json.loads(r.stdout) == []
    r = run_qtgen("review", cwd=repo)
    assert r.returncode == 0 and "What is a tariff?" in r.stdout and "3 draft(s) waiting" in r.stdout
    r = run_qtgen("review", "--wide", cwd=repo, env={**clean_env(repo), "COLUMNS": "200"})
    assert "economics/what-is-a-tariff.md" in r.stdout


def test_show_renders_the_decoded_answer(repo, server):
    make_draft(repo, server)
    r = run_qtgen("show", "what-is-a-tariff", cwd=repo)
    assert r.returncode == 0, r.stderr
    assert "\\n" not in r.stdout and "Foundations" in r.stdout and "/learn/economics/questions/what-is-a-tariff" in r.stdout
    r = run_qtgen("show", "nope", cwd=repo)
    assert r.returncode == 2 and "no such draft" in r.stderr


def test_approve_commits_exactly_the_approved_files(repo, server):
    a = make_draft(repo, server)
    b = make_draft(repo, server, "What is a quota?")
    a_text, b_text = a.read_text(), b.read_text()
    r = run_qtgen("approve", a.name, b.name, cwd=repo)
    assert r.returncode == 0, r.stderr
    targets = [repo / "content/learn/economics/what-is-a-tariff.md", repo / "content/learn/economics/what-is-a-quota.md"]
    assert targets[0].read_text() == a_text and targets[1].read_text() == b_text
    assert not a.exists() and not b.exists()
    assert git(repo, "rev-list", "--count", "HEAD").strip() == "2"  # one commit for both
    files = git(repo, "show", "--name-only", "--format=", "HEAD").split()
    assert sorted(files) == ["content/learn/economics/what-is-a-quota.md", "content/learn/economics/what-is-a-tariff.md"]
    message = git(repo, "log", "-1", "--format=%B")
    assert message.startswith("Publish 2 QuickTakes pages") and "What is a tariff? (Economics" in message
    status = git(repo, "status", "--porcelain")
    assert "A  staged.txt" in status and " M notes.txt" in status  # untouched
    assert run_qtgen("validate", *targets, cwd=repo).returncode == 0


def test_approve_refuses_invalid_colliding_and_used_id(repo, server):
    d = make_draft(repo, server)
    before = d.read_bytes()
    # invalid: break the url
    d.write_text(before.decode().replace("url: /learn/economics/", "url: /learn/x/"))
    r = run_qtgen("approve", d.name, cwd=repo)
    assert r.returncode == 1 and "not approved" in r.stderr and "url" in r.stderr
    d.write_bytes(before)
    # colliding path
    target = repo / "content/learn/economics/what-is-a-tariff.md"
    target.parent.mkdir(parents=True)
    target.write_text("someone else's page")
    r = run_qtgen("approve", d.name, cwd=repo)
    assert r.returncode == 1 and "already exists" in r.stderr
    assert target.read_text() == "someone else's page" and d.read_bytes() == before
    target.unlink()
    # id already used by another published page
    other = read(d).model_copy(update={"question": "What is a duty?", "title": "What is a duty?",
                                       "article_title": "What is a duty?", "file_name": "what-is-a-duty.md",
                                       "url": "/learn/economics/questions/what-is-a-duty"})
    (repo / "content/learn/economics/what-is-a-duty.md").write_text(render(other))
    r = run_qtgen("approve", d.name, cwd=repo)
    assert r.returncode == 1 and f"id {other.id} is already used" in r.stderr
    assert d.read_bytes() == before and not target.exists()
    assert git(repo, "rev-list", "--count", "HEAD").strip() == "1"


def test_warnings_need_allow_warnings_and_no_commit_only_places(repo, server):
    d = make_draft(repo, server)
    page = read(d)
    text = d.read_text().replace(page.answer, re.sub(r"\d\. \*\*", "**", page.answer))  # no list: a lint warning
    d.write_text(text)
    r = run_qtgen("approve", d.name, cwd=repo)
    assert r.returncode == 1 and "--allow-warnings" in r.stderr and "no-list" in r.stderr
    r = run_qtgen("approve", "--allow-warnings", "--no-commit", d.name, cwd=repo)
    assert r.returncode == 0, r.stderr
    assert (repo / "content/learn/economics/what-is-a-tariff.md").read_text() == text
    assert git(repo, "rev-list", "--count", "HEAD").strip() == "1"


def test_approve_all_clean_skips_drafts_with_findings(repo, server):
    make_draft(repo, server)
    (repo / "drafts" / "broken.md").write_text("---\nnot a page\n")
    r = run_qtgen("approve", "--all-clean", cwd=repo)
    assert r.returncode == 0, r.stderr
    assert (repo / "content/learn/economics/what-is-a-tariff.md").exists()
    assert (repo / "drafts" / "broken.md").exists()


def test_approve_outside_a_git_repository_is_refused_and_keeps_the_draft(site, server):
    d = make_draft(site, server)
    r = run_qtgen("approve", d.name, cwd=site)
    assert r.returncode == 1 and "not inside a git repository" in r.stderr
    assert d.exists() and not (site / "content/learn/economics/what-is-a-tariff.md").exists()


def test_reject_keeps_the_reason_beside_and_blocks_silent_regeneration(repo, server):
    d = make_draft(repo, server)
    text = d.read_text()
    r = run_qtgen("reject", d.name, "--reason", "Off topic for the course", cwd=repo)
    assert r.returncode == 0, r.stderr
    moved = repo / "drafts/rejected/economics/what-is-a-tariff.md"
    assert moved.read_text() == text and not d.exists()  # the page itself is unchanged
    note = json.loads((repo / "drafts/rejected/economics/what-is-a-tariff.md.reason.json").read_text())
    assert note["reason"] == "Off topic for the course" and note["subject"] == "Economics"
    count = len(server.requests)
    r = run_qtgen("draft", "What is a tariff?", "-s", "Economics", cwd=repo, env=env(repo, server))
    assert r.returncode == 1 and "was rejected" in r.stderr and "Off topic" in r.stderr
    assert len(server.requests) == count
    r = run_qtgen("draft", "What is a tariff?", "-s", "Economics", "--force", cwd=repo, env=env(repo, server))
    assert r.returncode == 0, r.stderr
    r = run_qtgen("review", "--json", cwd=repo)
    assert [Path(x["path"]).name for x in json.loads(r.stdout)] == ["what-is-a-tariff.md"]


def test_regenerate_keeps_id_slug_date_and_diff_shows_the_change(repo, server):
    d = make_draft(repo, server)
    before = read(d)
    server.reply = lambda q, s, body: {**house_answer(q, s), "answer": house_answer(q, s)["answer"].replace(
        "Foundations", "Origins")}
    r = run_qtgen("regenerate", d.name, "--feedback", "Call the first point Origins", cwd=repo, env=env(repo, server))
    assert r.returncode == 0, r.stderr
    sent = server.requests[-1]["body"]["messages"][-1]["content"]
    assert "Call the first point Origins" in sent and "**Foundations**" in sent  # feedback and previous answer
    after = read(d)
    assert (after.id, after.file_name, after.url, after.date) == (before.id, before.file_name, before.url, before.date)
    assert "**Origins**" in after.answer
    r = run_qtgen("diff", d.name, cwd=repo)
    assert r.returncode == 0
    assert "-1. **Foundations**" in r.stdout and "+1. **Origins**" in r.stdout


def test_diff_without_a_previous_version(repo, server):
    d = make_draft(repo, server)
    r = run_qtgen("diff", d.name, cwd=repo)
    assert r.returncode == 1 and "no previous version" in r.stderr


EDITOR = """import sys, pathlib
p = pathlib.Path(sys.argv[1])
t = p.read_text()
t = t.replace("In summary,", "All in all,").replace("description: ", "description: Edited. ", 1)
p.write_text(t)
"""


def test_edit_writes_back_in_the_exact_format(repo, server, tmp_path):
    d = make_draft(repo, server)
    script = tmp_path / "editor.py"
    script.write_text(EDITOR)
    e = env(repo, server)
    e["EDITOR"] = f"{sys.executable} {script}"
    r = run_qtgen("edit", d.name, cwd=repo, env=e)
    assert r.returncode == 0, r.stderr
    page = read(d)
    assert "\\n\\nAll in all," in page.answer and page.seo.page_description.startswith("Edited. ")
    assert render(page) == d.read_text()
    assert run_qtgen("validate", d, cwd=repo).returncode == 0
    assert "+All in all," in run_qtgen("diff", d.name, cwd=repo).stdout


def test_edit_that_breaks_the_page_saves_nothing(repo, server, tmp_path):
    d = make_draft(repo, server)
    before = d.read_bytes()
    script = tmp_path / "editor.py"
    script.write_text("import sys, pathlib\np = pathlib.Path(sys.argv[1])\np.write_text('description: x\\n')\n")
    e = env(repo, server)
    e["EDITOR"] = f"{sys.executable} {script}"
    r = run_qtgen("edit", d.name, cwd=repo, env=e)
    assert r.returncode == 2 and "nothing saved" in r.stderr
    assert d.read_bytes() == before
    kept = d.with_name(d.name + ".edit.txt")  # what the user typed is not lost
    assert "what you typed is kept in" in r.stderr and kept.read_text().endswith("description: x\n")
    assert kept.read_text().startswith("# not saved:")
    # the next edit reopens it; the editor finishes the work this time
    fixer = tmp_path / "fixer.py"
    fixer.write_text("import sys, pathlib\np = pathlib.Path(sys.argv[1])\nt = p.read_text()\n"
                     "assert t.startswith('# not saved:') and 'description: x' in t\n"
                     "t = t.replace('description: x', 'description: A tariff is a tax on imported goods that raises "
                     "prices and protects local producers.')\n"
                     "p.write_text(t + '---\\nA tariff is a tax on imports. In summary, it taxes imports.\\n')\n")
    e["EDITOR"] = f"{sys.executable} {fixer}"
    r = run_qtgen("edit", d.name, cwd=repo, env=e)
    assert r.returncode == 0, r.stderr
    assert not kept.exists() and read(d).seo.page_description.startswith("A tariff is a tax on imported goods")


def test_pre_commit_hooks_file_declares_validate_and_lint():
    import yaml

    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    by_id = {h["id"]: h for h in hooks}
    assert by_id["qtgen-validate"]["entry"].startswith("qtgen validate")
    assert by_id["qtgen-lint"]["entry"].startswith("qtgen lint")
    assert all(h["files"] == r"^content/learn/.*\.md$" for h in hooks)


def test_a_failed_commit_leaves_the_draft_and_the_content_tree_as_they_were(repo, server):
    d = make_draft(repo, server)
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'hook says no' >&2\nexit 1\n")
    hook.chmod(0o755)
    r = run_qtgen("approve", d.name, cwd=repo)
    assert r.returncode == 1 and "git commit failed" in r.stderr and "hook says no" in r.stderr
    assert d.exists()
    assert not (repo / "content/learn/economics/what-is-a-tariff.md").exists()
    assert "what-is-a-tariff" not in git(repo, "status", "--porcelain")
    assert git(repo, "rev-list", "--count", "HEAD").strip() == "1"


def _on_a_terminal(args: list[str], cwd: Path, env: dict) -> str:
    """Run qtgen with a pseudo-terminal for stdin and stdout (as a reviewer's shell gives it); what it printed."""
    import os
    import pty
    import subprocess

    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "qtgen", *args], cwd=cwd, env=env, stdin=follower,
                            stdout=follower, stderr=subprocess.PIPE)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process is done
            break
        if not chunk:
            break
        out += chunk
    proc.wait(60)
    os.close(leader)
    return out.decode("utf-8", "replace")


def test_a_queue_longer_than_the_terminal_goes_through_the_pager_and_fits_80_columns(repo, server):
    (repo / "q.csv").write_text("question,subject\n" + "".join(
        f"How does the sun move across the sky in season {i} of the long astronomical year?,Physics\n" for i in range(30)))
    r = run_qtgen("batch", "q.csv", "--new-subject", cwd=repo, env=env(repo, server))
    assert r.returncode == 0, r.stderr
    paged = repo.parent / "paged.txt"
    terminal = {**env(repo, server), "COLUMNS": "80", "LINES": "24", "PAGER": f"cat > {paged}", "TERM": "xterm"}
    shown = _on_a_terminal(["review"], repo, terminal)
    assert paged.is_file(), shown  # the table went to the pager, not past the top of the screen
    table = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", paged.read_text())
    assert "30 draft(s) waiting" in table and table.count("Physics") == 30
    assert max(len(line) for line in table.splitlines()) <= 80 and "judge" in table
    paged.unlink()
    short = {**terminal, "LINES": "200"}  # a queue that fits the screen is printed as it is
    shown = _on_a_terminal(["review"], repo, short)
    assert not paged.exists() and "30 draft(s) waiting" in shown


def test_runs_and_history_fit_80_columns(repo, server):
    listing = repo / "a-question-list-with-a-rather-long-name-for-this-week.csv"
    listing.write_text("question,subject\nWhat is a tariff?,Economics\nWhat is a quota?,Economics\n")
    r = run_qtgen("batch", listing.name, cwd=repo, env=env(repo, server))
    assert r.returncode == 0, r.stderr
    narrow = {**env(repo, server), "COLUMNS": "80"}
    r = run_qtgen("runs", cwd=repo, env=narrow)
    assert r.returncode == 0 and listing.name in r.stdout
    assert max(len(line) for line in r.stdout.splitlines()) <= 80, r.stdout
    r = run_qtgen("history", "what-is-a-tariff", cwd=repo, env=narrow)
    assert r.returncode == 0 and "made with:" in r.stdout and "test-model" in r.stdout
    assert max(len(line) for line in r.stdout.splitlines()) <= 80, r.stdout
