"""Approve as a transaction, against real git repositories and real qtgen processes: what is checked is what is
published, approvals of one site take turns, symlinks in drafts/ never lead into the content tree, and a
process killed at any step leaves nothing half done (the next qtgen command finishes or undoes it).

Kills happen at real git steps: a `git` on PATH runs the real one and kills the qtgen that called it,
before or after the step named in KILL_AT/KILL_WHEN (or blocks there until a file appears)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qtgen.format.reader import read
from qtgen.format.writer import render

from conftest import clean_env, git, init_repo, run_qtgen
from fake_openai import FakeOpenAI, house_answer

REAL_GIT = shutil.which("git")
WRAPPER = """#!/bin/sh
# a git that kills (or holds) the qtgen calling it at one step
if [ "$3" = "$KILL_AT" ] && [ -n "$HOLD_FILE" ]; then
  : > "$HOLD_FILE.reached"
  n=0
  while [ ! -e "$HOLD_FILE" ] && [ $n -lt 2400 ]; do sleep 0.05; n=$((n+1)); done  # at most 2 min
fi
if [ "$3" = "$KILL_AT" ] && [ "$KILL_WHEN" = before ]; then kill -9 $PPID; exit 1; fi
case " $FAIL_AT " in *" $3 "*) echo "fatal: refused by the test" >&2; exit 1;; esac
"{git}" "$@"
rc=$?
if [ "$3" = "$KILL_AT" ] && [ "$KILL_WHEN" = after ]; then kill -9 $PPID; fi
exit $rc
"""


@pytest.fixture
def repo(site) -> Path:
    init_repo(site)
    return site


@pytest.fixture
def server():
    with FakeOpenAI() as s:
        yield s


def env(site: Path, server, **extra) -> dict:
    return clean_env(site, OPENAI_BASE_URL=server.url, OPENAI_API_KEY="sk-test", **extra)


def wrapped(site: Path, server, **steps) -> dict:
    """An environment whose `git` kills, fails or holds at the given step."""
    folder = site.parent / "wrapped-bin"
    folder.mkdir(exist_ok=True)
    script = folder / "git"
    script.write_text(WRAPPER.replace("{git}", REAL_GIT))
    script.chmod(0o755)
    return env(site, server, PATH=f"{folder}{os.pathsep}{os.environ['PATH']}", **steps)


def draft(site: Path, server, question: str = "What is entropy?", subject: str = "Physics") -> Path:
    r = run_qtgen("draft", question, "-s", subject, "--new-subject", cwd=site, env=env(site, server))
    assert r.returncode == 0, r.stderr
    path = site / r.stdout.strip()
    assert path.is_file()
    return path


def _held(site: Path, server, *args, step: str) -> tuple[subprocess.Popen, Path]:
    hold = site.parent / f"hold-{step}"
    proc = subprocess.Popen([sys.executable, "-m", "qtgen", "approve", *args, "--allow-warnings"], cwd=site,
                            env=wrapped(site, server, KILL_AT=step, HOLD_FILE=str(hold)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not Path(f"{hold}.reached").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() is not None else ""
        time.sleep(0.05)
    return proc, hold


def commits_touching(site: Path, rel: str) -> list[str]:
    return git(site, "log", "--format=%H", "--", rel).split()


def journals(site: Path) -> list[Path]:
    return sorted((site / "drafts/.qtgen/approvals").glob("*")) if (site / "drafts/.qtgen/approvals").is_dir() else []


# -- 5. a kill at each step: the next command finishes the approval, committed exactly once -----------------
@pytest.mark.parametrize("step,when,left", [
    ("add", "before", "placed, not staged"),
    ("add", "after", "staged"),
    ("commit", "before", "staged"),
    ("commit", "after", "committed, the draft still queued"),
])
def test_a_kill_at_any_step_of_approve_is_finished_by_the_next_command(repo, server, step, when, left):
    path = draft(repo, server)
    data = path.read_bytes()
    target = repo / "content/learn/physics/what-is-entropy.md"
    r = run_qtgen("approve", "what-is-entropy", cwd=repo, env=wrapped(repo, server, KILL_AT=step, KILL_WHEN=when))
    assert r.returncode == -9, (r.returncode, r.stderr)
    assert journals(repo), "the journal outlives the kill"
    assert target.read_bytes() == data and path.is_file()  # the half-done state this step leaves
    staged = git(repo, "diff", "--cached", "--name-only")
    assert ("content/learn/physics/what-is-entropy.md" in staged) == (left == "staged")

    r = run_qtgen("review", cwd=repo, env=env(repo, server))  # any next command
    assert r.returncode == 0, r.stderr
    assert "finished" in r.stderr and "what-is-entropy.md" in r.stderr
    assert len(commits_touching(repo, "content/learn/physics/what-is-entropy.md")) == 1
    assert git(repo, "show", "HEAD:content/learn/physics/what-is-entropy.md").encode() == data
    assert git(repo, "status", "--porcelain", "--", "content") == "" and not path.exists() and journals(repo) == []
    assert "Qtgen-Approval:" in git(repo, "log", "-1", "--format=%B")
    again = run_qtgen("approve", "what-is-entropy", cwd=repo, env=env(repo, server))
    assert again.returncode == 2 and "no such draft" in again.stderr  # nothing left to approve twice


def test_a_kill_before_anything_was_placed_is_finished_too(repo, server):
    path = draft(repo, server)
    target = repo / "content/learn/physics/what-is-entropy.md"
    r = run_qtgen("approve", "what-is-entropy", cwd=repo, env=wrapped(repo, server, KILL_AT="add", KILL_WHEN="before"))
    assert r.returncode == -9
    target.unlink()  # the state of a kill between the journal and the first write
    r = run_qtgen("approve", "--all-clean", "--allow-warnings", cwd=repo, env=env(repo, server))
    assert "finished an interrupted approval" in r.stderr
    assert len(commits_touching(repo, "content/learn/physics/what-is-entropy.md")) == 1 and not path.exists()


def test_a_draft_changed_after_the_kill_is_undone_not_published(repo, server):
    path = draft(repo, server)
    target = repo / "content/learn/physics/what-is-entropy.md"
    r = run_qtgen("approve", "what-is-entropy", cwd=repo, env=wrapped(repo, server, KILL_AT="commit", KILL_WHEN="before"))
    assert r.returncode == -9 and target.is_file()
    path.write_text(path.read_text().replace("answer: >-\n    ", "answer: >-\n    Edited. "))
    r = run_qtgen("review", cwd=repo, env=env(repo, server))
    assert "undid an interrupted approval" in r.stderr and "changed" in r.stderr
    assert not target.exists() and git(repo, "status", "--porcelain", "--", "content") == ""
    assert path.is_file() and journals(repo) == [] and commits_touching(repo, "content") == []


def test_a_revision_killed_mid_approve_is_finished_and_revise_finds_the_page_again(repo, server):
    draft(repo, server)
    assert run_qtgen("approve", "what-is-entropy", "--allow-warnings", cwd=repo, env=env(repo, server)).returncode == 0
    published = repo / "content/learn/physics/what-is-entropy.md"
    r = run_qtgen("revise", str(published), cwd=repo, env=env(repo, server))
    assert r.returncode == 0, r.stderr
    revision = repo / "drafts/physics/what-is-entropy.md"
    revision.write_text(revision.read_text().replace("answer: >-\n    ", "answer: >-\n    Revised. "))
    r = run_qtgen("approve", "what-is-entropy", "--allow-warnings", cwd=repo,
                  env=wrapped(repo, server, KILL_AT="commit", KILL_WHEN="before"))
    assert r.returncode == -9
    r = run_qtgen("revise", str(published), cwd=repo, env=env(repo, server))  # the next command: finished first
    assert "finished an interrupted approval" in r.stderr, r.stderr
    assert r.returncode == 0 and "Revised. " in published.read_text()
    assert len(commits_touching(repo, "content/learn/physics/what-is-entropy.md")) == 2  # publish, revise
    assert git(repo, "status", "--porcelain", "--", "content") == ""


def test_undo_never_deletes_a_page_git_could_not_unstage(repo, server):
    path = draft(repo, server)
    target = repo / "content/learn/physics/what-is-entropy.md"
    r = run_qtgen("approve", "what-is-entropy", "--allow-warnings", cwd=repo,
                  env=wrapped(repo, server, FAIL_AT="commit"))
    assert r.returncode == 1 and "git commit failed" in r.stderr  # a plain failure is undone at once
    assert path.is_file() and not target.exists() and journals(repo) == []
    r = run_qtgen("approve", "what-is-entropy", "--allow-warnings", cwd=repo,
                  env=wrapped(repo, server, FAIL_AT="commit reset rm"))
    assert r.returncode == 1  # the commit fails and so does every unstage: the staged page stays where it is
    assert target.is_file() and "content/learn/physics/what-is-entropy.md" in git(repo, "diff", "--cached", "--name-only")
    assert journals(repo), "what could not be undone is left for the next command"
    r = run_qtgen("review", cwd=repo, env=env(repo, server))  # git works again: the undo is finished
    assert "undid an interrupted approval" in r.stderr, r.stderr
    assert not target.exists() and git(repo, "status", "--porcelain", "--", "content") == "" and path.is_file()


# -- 4. two approvals at once take turns ---------------------------------------------------------------------
def test_two_approvals_at_once_take_turns_and_both_commit(repo, server):
    first = draft(repo, server, "What is entropy?")
    second = draft(repo, server, "What is enthalpy?")
    a, hold = _held(repo, server, first.stem, step="commit")  # A holds the approval lock, stopped at git commit
    b = subprocess.Popen([sys.executable, "-m", "qtgen", "approve", second.stem, "--allow-warnings"], cwd=repo,
                         env=env(repo, server), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    said = b.stderr.readline()
    assert "waiting for another approval of this site" in said and "pid" in said
    hold.write_text("")
    assert a.wait(60) == 0, a.stderr.read()
    assert b.wait(60) == 0, b.stderr.read()
    log = git(repo, "log", "--format=%s", "-2").splitlines()
    assert sorted(log) == ["Publish: What is enthalpy? (Physics)", "Publish: What is entropy? (Physics)"]
    assert git(repo, "status", "--porcelain", "--", "content") == "" and git(repo, "diff", "--cached", "--name-only") == ""


def test_an_approval_waits_no_longer_than_lock_timeout(repo, server):
    first = draft(repo, server, "What is entropy?")
    second = draft(repo, server, "What is enthalpy?")
    a, hold = _held(repo, server, first.stem, step="commit")
    (repo / "qtgen.toml").write_text((repo / "qtgen.toml").read_text() + "lock_timeout = 0.5\n")
    r = run_qtgen("approve", second.stem, "--allow-warnings", cwd=repo, env=env(repo, server))
    hold.write_text("")
    assert a.wait(60) == 0
    assert r.returncode == 1 and "still holds" in r.stderr and "nothing was done" in r.stderr
    assert second.is_file() and not (repo / "content/learn/physics/what-is-enthalpy.md").exists()


# -- 2. what is checked is what is published; regenerate and approve never overlap ---------------------------
def test_a_regeneration_finishing_during_approve_is_kept_as_a_version_never_published(repo):
    arrived, release = __import__("threading").Event(), __import__("threading").Event()
    gate = {"on": False}

    def reply(question, subject, body):
        if gate["on"]:
            arrived.set()
            release.wait(60)
            answer = house_answer(question, subject)
            answer["answer"] = "REGENERATED " + answer["answer"]
            return answer
        return house_answer(question, subject)

    with FakeOpenAI(reply=reply) as server:
        path = draft(repo, server)
        checked = path.read_bytes()
        gate["on"] = True
        regen = subprocess.Popen([sys.executable, "-m", "qtgen", "regenerate", "what-is-entropy", "--feedback",
                                  "more detail"], cwd=repo, env=env(repo, server), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        assert arrived.wait(60)  # the model is writing
        approve, hold = _held(repo, server, "what-is-entropy", step="add")  # checked and placed the bytes it read
        release.set()  # the regeneration finishes now, in the middle of the approval
        time.sleep(0.5)  # give it every chance to write (it must wait for the drafts lock instead)
        assert path.read_bytes() == checked
        hold.write_text("")
        assert approve.wait(60) == 0, approve.stderr.read()
        out, err = regen.communicate(timeout=60)
    target = repo / "content/learn/physics/what-is-entropy.md"
    assert target.read_bytes() == checked and b"REGENERATED" not in target.read_bytes()
    assert regen.returncode == 1 and "meanwhile" in err and "kept as a version" in err
    versions = sorted((repo / "drafts/.qtgen/history/physics/what-is-entropy.md").glob("*.md"))
    assert any(b"REGENERATED" in v.read_bytes() for v in versions)  # the paid-for answer is not lost


def test_a_draft_edited_by_hand_while_approve_runs_is_not_published(repo, server):
    path = draft(repo, server)
    approve, hold = _held(repo, server, "what-is-entropy", step="add")  # checked and placed; about to commit
    path.write_text(path.read_text().replace("answer: >-\n    ", "answer: >-\n    Hand edit. "))
    hold.write_text("")
    assert approve.wait(60) == 1
    assert "changed while it was being approved" in approve.stderr.read()
    assert not (repo / "content/learn/physics/what-is-entropy.md").exists() and "Hand edit." in path.read_text()
    assert git(repo, "status", "--porcelain", "--", "content") == "" and journals(repo) == []


# -- 3. symlinks in drafts/ never lead a write outside it ---------------------------------------------------
def test_symlinks_in_drafts_never_lead_writes_into_the_content_tree(repo, server):
    draft(repo, server)
    assert run_qtgen("approve", "what-is-entropy", "--allow-warnings", cwd=repo, env=env(repo, server)).returncode == 0
    content = repo / "content/learn"
    before = {p: p.read_bytes() for p in content.rglob("*") if p.is_file()}
    e = env(repo, server)
    # a symlinked subject folder: draft would write a page into content/learn/physics
    (repo / "drafts/physics").rmdir() if (repo / "drafts/physics").is_dir() else None
    (repo / "drafts/physics").symlink_to(content / "physics")
    r = run_qtgen("draft", "What is enthalpy?", "-s", "Physics", cwd=repo, env=e)
    assert r.returncode == 2 and "symlink" in r.stderr and "Traceback" not in r.stderr
    r = run_qtgen("draft", "What is entropy?", "-s", "Physics", "--force", cwd=repo, env=e)
    assert r.returncode == 2 and "symlink" in r.stderr
    (repo / "drafts/physics").unlink()
    # a symlinked folder of rejected drafts: reject would put the page and its reason into content
    draft(repo, server, "What is a tariff?", "Economics")
    (repo / "drafts/rejected").mkdir()
    (repo / "drafts/rejected/economics").symlink_to(content / "physics", target_is_directory=True)
    r = run_qtgen("reject", "what-is-a-tariff", "--reason", "no", cwd=repo, env=e)
    assert r.returncode == 2 and "symlink" in r.stderr and (repo / "drafts/economics/what-is-a-tariff.md").is_file()
    (repo / "drafts/rejected/economics").unlink()
    # qtgen's own folder (index, ledger, history, journals, locks) linked into content
    shutil.rmtree(repo / "drafts/.qtgen")
    (repo / "drafts/.qtgen").symlink_to(content / "physics", target_is_directory=True)
    for args in (["draft", "What is heat?", "-s", "Physics"], ["review"], ["history", "what-is-a-tariff"],
                 ["edit", "what-is-a-tariff"], ["approve", "what-is-a-tariff"]):
        r = run_qtgen(*args, cwd=repo, env={**e, "EDITOR": "true"})
        assert r.returncode == 2 and "symlink" in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    after = {p: p.read_bytes() for p in content.rglob("*") if p.is_file()}
    assert after == before and git(repo, "status", "--porcelain", "--", "content") == ""


# -- 7. a revision keeps the published page's layout -----------------------------------------------------
def test_a_revision_that_changes_the_layout_is_refused(repo, server):
    draft(repo, server)
    assert run_qtgen("approve", "what-is-entropy", "--allow-warnings", cwd=repo, env=env(repo, server)).returncode == 0
    published = repo / "content/learn/physics/what-is-entropy.md"
    page = read(published)
    plain = render(page.model_copy(update={"layout": page.layout.model_copy(update={"title_style": "plain"})}))
    assert plain != published.read_text()
    published.write_text(plain)  # a published page with plain titles, as 8,136 of the site's are
    git(repo, "commit", "-qam", "plain titles")
    assert run_qtgen("revise", str(published), cwd=repo, env=env(repo, server)).returncode == 0
    revision = repo / "drafts/physics/what-is-entropy.md"
    folded = render(read(revision).model_copy(update={"layout": page.layout}))  # same values, `title: >-`
    revision.write_text(folded.replace("answer: >-\n    ", "answer: >-\n    Revised. "))
    r = run_qtgen("approve", "what-is-entropy", "--allow-warnings", cwd=repo, env=env(repo, server))
    assert r.returncode == 1 and "layout" in r.stderr
    assert published.read_text() == plain


# -- found by the hostile review of this change ---------------------------------------------------------------
def test_the_users_own_commit_during_an_approval_never_loses_the_page(repo, server):
    path = draft(repo, server)
    (repo / "notes.txt").write_text("mine\n")
    git(repo, "add", "notes.txt")
    proc, hold = _held(repo, server, "what-is-entropy", step="commit")  # placed and staged, about to commit
    git(repo, "commit", "-qm", "mine")  # the user commits what is staged: the page goes with it
    hold.write_text("")
    assert proc.wait(60) == 0, proc.stderr.read()
    target = "content/learn/physics/what-is-entropy.md"
    assert (repo / target).is_file() and git(repo, "status", "--porcelain", "--", "content") == ""
    assert len(commits_touching(repo, target)) == 1 and not path.exists() and journals(repo) == []


def test_a_revision_committed_by_the_user_meanwhile_is_not_reverted(repo, server):
    draft(repo, server)
    assert run_qtgen("approve", "what-is-entropy", "--allow-warnings", cwd=repo, env=env(repo, server)).returncode == 0
    published = repo / "content/learn/physics/what-is-entropy.md"
    assert run_qtgen("revise", str(published), cwd=repo, env=env(repo, server)).returncode == 0
    revision = repo / "drafts/physics/what-is-entropy.md"
    revision.write_text(revision.read_text().replace("answer: >-\n    ", "answer: >-\n    Revised. "))
    proc, hold = _held(repo, server, "what-is-entropy", step="add")  # placed, about to stage
    git(repo, "commit", "-qam", "everything modified")
    hold.write_text("")
    assert proc.wait(60) == 0, proc.stderr.read()
    assert "Revised. " in published.read_text() and git(repo, "status", "--porcelain", "--", "content") == ""
    assert not revision.exists()


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_a_lock_file_linked_to_a_page_is_refused_not_written_through(repo, server, link):
    draft(repo, server, "What is heat?")
    assert run_qtgen("approve", "what-is-heat", "--allow-warnings", cwd=repo, env=env(repo, server)).returncode == 0
    page = repo / "content/learn/physics/what-is-heat.md"
    before = page.read_bytes()
    draft(repo, server)
    lock = repo / "drafts/.qtgen/drafts.lock"
    lock.unlink(missing_ok=True)
    (lock.symlink_to(page) if link == "symlink" else os.link(page, lock))
    r = run_qtgen("approve", "what-is-entropy", "--allow-warnings", cwd=repo, env=env(repo, server))
    assert r.returncode == 2 and "lock" in r.stderr and "Traceback" not in r.stderr
    assert page.read_bytes() == before and git(repo, "status", "--porcelain", "--", "content") == ""


def published_heat(repo: Path, server) -> tuple[Path, bytes, Path, str]:
    """"What is heat?" approved and committed: (its page, the page's bytes, the journals' folder, their sha256)."""
    draft(repo, server, "What is heat?")
    assert run_qtgen("approve", "what-is-heat", "--allow-warnings", cwd=repo, env=env(repo, server)).returncode == 0
    page = repo / "content/learn/physics/what-is-heat.md"
    folder = repo / "drafts/.qtgen/approvals"
    folder.mkdir(parents=True, exist_ok=True)
    return page, page.read_bytes(), folder, __import__("hashlib").sha256(page.read_bytes()).hexdigest()


def test_a_planted_journal_is_never_acted_on(repo, server):
    page, before, folder, digest = published_heat(repo, server)
    for draft_name, target in (("../content/learn/physics/what-is-heat.md", "physics/what-is-heat.md"),
                               ("physics/x.md", "../../../etc/passwd"), ("/etc/passwd", "physics/what-is-heat.md")):
        planted = folder / f"{PLANTED_ID}.json"
        planted.write_text(json.dumps(dict(planted_journal(), entries=[
            {"draft": draft_name, "draft_sha": digest, "target": target, "original_sha": None}])))
        r = run_qtgen("review", cwd=repo)
        assert r.returncode == 0 and "not acted on" in r.stderr and "outside" in r.stderr, r.stderr
        assert page.read_bytes() == before


PLANTED_ID = "20261207T120000-0123abcd"


def planted_journal(**fields) -> dict:
    """A journal in the shape qtgen writes (approve's Journal.begin), made by hand."""
    return dict({"id": PLANTED_ID, "started": "2026-12-07T12:00:00", "started_at": 0.0, "pid": 1, "commit": True,
                 "message": "forged message", "entries": [], "decisions": [], "lot": None, "override": None}, **fields)


@pytest.mark.parametrize("flags", [{}, {"override": "the judge is wrong"}])
def test_a_planted_journal_publishes_nothing_approve_would_refuse(repo, server, flags):
    """A draft with a lint warning (a three-word answer), placed and journalled by hand as a killed approve would
    leave it: recovery applies approve's own checks, warnings included, whatever the journal says."""
    path = draft(repo, server, "What is heat?")
    data = render(read(path).model_copy(update={"answer": "Heat is energy."})).encode()
    path.write_bytes(data)
    target = repo / "content/learn/physics/what-is-heat.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    folder = repo / "drafts/.qtgen/approvals"
    folder.mkdir(parents=True, exist_ok=True)
    entry = {"draft": "physics/what-is-heat.md", "draft_sha": __import__("hashlib").sha256(data).hexdigest(),
             "target": "physics/what-is-heat.md", "original_sha": None, "original": None}
    (folder / f"{PLANTED_ID}.json").write_text(json.dumps(planted_journal(entries=[entry], **flags)))
    head = git(repo, "rev-parse", "HEAD")
    r = run_qtgen("review", cwd=repo, env=env(repo, server))
    assert r.returncode == 0, r.stderr
    assert "undid an interrupted approval" in r.stderr and "--allow-warnings" in r.stderr, r.stderr
    assert git(repo, "rev-parse", "HEAD") == head and "forged" not in git(repo, "log", "--format=%B")
    assert path.read_bytes() == data and not target.exists() and journals(repo) == []


def test_a_journal_not_in_qtgens_shape_is_not_acted_on(repo, server):
    path = draft(repo, server)
    data = path.read_bytes()
    folder = repo / "drafts/.qtgen/approvals"
    folder.mkdir(parents=True, exist_ok=True)
    entry = {"draft": "physics/what-is-entropy.md", "draft_sha": __import__("hashlib").sha256(data).hexdigest(),
             "target": "physics/what-is-entropy.md", "original_sha": None}
    for journal, name in ((planted_journal(id="x", entries=[entry]), "x"),
                          (planted_journal(entries=[entry]), "20261207T120000-ffffffff"),  # not its own file name
                          ({k: v for k, v in planted_journal(entries=[entry]).items() if k != "pid"}, PLANTED_ID)):
        for old in folder.glob("*.json"):
            old.unlink()
        (folder / f"{name}.json").write_text(json.dumps(journal))
        r = run_qtgen("review", cwd=repo, env=env(repo, server))
        assert r.returncode == 0 and "not a journal qtgen wrote" in r.stderr, r.stderr
        assert not (repo / "content/learn/physics/what-is-entropy.md").exists() and path.read_bytes() == data


def test_an_approval_with_allow_warnings_killed_before_its_commit_is_undone_and_says_how_to_redo_it(repo, server):
    path = draft(repo, server, "What is heat?")
    data = render(read(path).model_copy(update={"answer": "Heat is energy."})).encode()
    path.write_bytes(data)
    r = run_qtgen("approve", "what-is-heat", "--allow-warnings", cwd=repo,
                  env=wrapped(repo, server, KILL_AT="commit", KILL_WHEN="before"))
    assert r.returncode == -9
    r = run_qtgen("review", cwd=repo, env=env(repo, server))
    assert "undid an interrupted approval" in r.stderr and "approve it again, with --allow-warnings" in r.stderr
    assert path.read_bytes() == data and not (repo / "content/learn/physics/what-is-heat.md").exists()
    r = run_qtgen("approve", "what-is-heat", "--allow-warnings", cwd=repo, env=env(repo, server))
    assert r.returncode == 0, r.stderr
    assert len(commits_touching(repo, "content/learn/physics/what-is-heat.md")) == 1


def test_an_undo_of_a_page_changed_since_unstages_it_and_says_so(repo, server):
    path = draft(repo, server)
    r = run_qtgen("approve", "what-is-entropy", cwd=repo, env=wrapped(repo, server, KILL_AT="commit", KILL_WHEN="before"))
    assert r.returncode == -9
    target = repo / "content/learn/physics/what-is-entropy.md"
    target.write_text(target.read_text() + "\nmine")
    r = run_qtgen("review", cwd=repo, env=env(repo, server))
    assert "undid" in r.stderr and "changed since and was left as it is (unstaged)" in r.stderr
    assert git(repo, "diff", "--cached", "--name-only") == "" and target.read_text().endswith("\nmine")
    assert path.is_file() and journals(repo) == []


def test_a_site_moved_after_a_kill_still_recovers(repo, server):
    draft(repo, server)
    r = run_qtgen("approve", "what-is-entropy", cwd=repo, env=wrapped(repo, server, KILL_AT="commit", KILL_WHEN="before"))
    assert r.returncode == -9
    moved = repo.parent / "moved"
    repo.rename(moved)
    r = run_qtgen("review", cwd=moved, env=env(moved, server))
    assert "finished an interrupted approval" in r.stderr, r.stderr
    assert len(commits_touching(moved, "content/learn/physics/what-is-entropy.md")) == 1
    assert not (moved / "drafts/physics/what-is-entropy.md").exists() and journals(moved) == []


def test_a_loose_draft_leaves_the_queue_once_approved(repo, server):
    path = draft(repo, server)
    loose = repo / "drafts/what-is-entropy.md"  # a migration leaves it where it is: its place is taken
    loose.write_text(path.read_text().replace("answer: >-\n    ", "answer: >-\n    Older. "))
    r = run_qtgen("approve", "drafts/what-is-entropy.md", "--allow-warnings", cwd=repo, env=env(repo, server))
    assert r.returncode == 0, r.stderr
    assert "Older. " in (repo / "content/learn/physics/what-is-entropy.md").read_text()
    assert not loose.exists() and path.is_file()  # the approved one left the queue, the other stays


def test_a_failure_after_the_commit_is_said_not_an_error(repo, server, tmp_path):
    path = draft(repo, server)
    outside = tmp_path / "outside.txt"
    outside.write_text("not qtgen's")
    path.with_name(path.name + ".edit.txt").symlink_to(outside)
    r = run_qtgen("approve", "what-is-entropy", "--allow-warnings", cwd=repo, env=env(repo, server))
    assert r.returncode == 0, r.stderr
    assert outside.read_text() == "not qtgen's" and not path.exists() and journals(repo) == []


def test_git_says_why_it_refused(repo, server):
    draft(repo, server)
    (repo / ".gitignore").write_text("drafts/\n.cache/\ncontent/\n")
    r = run_qtgen("approve", "what-is-entropy", "--allow-warnings", cwd=repo, env=env(repo, server))
    assert r.returncode == 1 and "git add failed" in r.stderr and "hint:" not in r.stderr
    assert "ignored" in r.stderr


@pytest.mark.parametrize("commit", [False, True])
def test_a_planted_journal_never_takes_back_or_rewrites_a_committed_page(repo, server, commit):
    page, before, folder, digest = published_heat(repo, server)
    for original, kept in ((f"{PLANTED_ID}.1.orig", b"EVIL INJECTED\n"), (None, None), ("..", None)):
        if kept is not None:
            (folder / original).write_bytes(kept)
        entry = {"draft": "physics/nonexistent.md", "draft_sha": digest, "target": "physics/what-is-heat.md",
                 "original_sha": "00" if original else None, "original": original}
        (folder / f"{PLANTED_ID}.json").write_text(json.dumps(planted_journal(commit=commit, entries=[entry])))
        head = git(repo, "rev-parse", "HEAD")
        r = run_qtgen("review", cwd=repo, env=env(repo, server))
        assert r.returncode == 0 and "internal error" not in r.stderr, r.stderr
        assert page.read_bytes() == before and git(repo, "status", "--porcelain", "--", "content") == ""
        assert git(repo, "rev-parse", "HEAD") == head
        (folder / f"{PLANTED_ID}.json").unlink(missing_ok=True)


def test_a_planted_journal_naming_a_real_approvals_id_finishes_nothing_it_did_not_publish(repo, server):
    draft(repo, server, "What is heat?")
    entropy = draft(repo, server)
    assert run_qtgen("approve", "what-is-heat", "--allow-warnings", cwd=repo, env=env(repo, server)).returncode == 0
    real = git(repo, "log", "-1", "--format=%(trailers:key=Qtgen-Approval,valueonly)").strip()
    folder = repo / "drafts/.qtgen/approvals"
    folder.mkdir(parents=True, exist_ok=True)
    entry = {"draft": "physics/what-is-entropy.md", "draft_sha": __import__("hashlib").sha256(entropy.read_bytes()).hexdigest(),
             "target": "physics/whatever.md", "original_sha": None, "original": None}
    (folder / f"{real}.json").write_text(json.dumps(planted_journal(id=real, entries=[entry], lot="forged-lot")))
    r = run_qtgen("review", cwd=repo, env=env(repo, server))
    assert r.returncode == 0 and "not acted on" in r.stderr, r.stderr
    assert entropy.is_file()  # still in the queue
