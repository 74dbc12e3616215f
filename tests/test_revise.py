"""Revising published pages through the same review: in real git repositories, with a real local
OpenAI-protocol server where a model writes."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import stat
from pathlib import Path

import pytest

from qtgen.config import load
from qtgen.format.page import PLAIN, Layout, Page, RelatedArticle, Seo
from qtgen.format.reader import read
from qtgen.format.slug import file_name_for, site_slug, url_for
from qtgen.format.writer import render
from qtgen.checks.lint import lint_page

from conftest import clean_env, files_in, git, init_repo, run_qtgen
from fake_openai import FakeOpenAI

REFUSAL = "I cannot provide an answer to this question as it is outside my knowledge."
CURRENCY = ("The machine cost $26,000 with a useful life of 5 years and an estimated salvage value of $2,000.\\n\\n"
            "1. **Depreciation**: spread the cost over the useful life of the asset in equal yearly amounts.\\n\\n"
            "In summary, straight-line depreciation divides the cost less salvage value by the years of use.")
LATEX = ("The symbol $\\neq$ means not equal, and $\\nu$ is a frequency.\\n\\n"
         "1. **Inequality**: $a \\neq b$ says a and b differ.\\n\\nIn summary, these symbols are common.")



def published(question: str, subject: str, page_id: int, answer: str, **extra) -> Page:
    return Page(id=page_id, date=dt.date(2024, 3, 9), title=question, article_title=question,
                seo=Seo(title=f"QuickTakes | {subject}", page_description=extra.pop("description",
                        f"A short study answer to the question {question.lower()} for students of {subject}."),
                        page_keywords=extra.pop("keywords", "one, two, three, four, five")),
                question=question, answer=answer, subject=subject, file_name=file_name_for(question),
                url=url_for(question, subject), score=-1.0, **extra)


@pytest.fixture
def site_repo(site) -> Path:
    content = site / "content" / "learn"
    pages = [
        published("What is straight-line depreciation?", "Accounting", 41, CURRENCY),
        published("Why is the sky blue?", "Physics", 42, REFUSAL, no_index=True, layout=Layout(title_style=PLAIN)),
        published("What do the symbols mean?", "Mathematics", 43, LATEX,
                  description="A " + "very long description " * 12 + "that goes on.",
                  keywords="symbols, math, Symbols, notation, math, equality, inequality"),
        published("What is a tariff?", "Economics", 44, CURRENCY.replace("machine", "tariff"),
                  related_article1=RelatedArticle(id=41, title="What is straight-line depreciation?",
                                                  subject="Accounting",
                                                  url=url_for("What is straight-line depreciation?", "Accounting"))),
    ]
    for page in pages:
        path = content / site_slug(page.subject) / page.file_name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(page))
    init_repo(site, ".")
    return site


SKY = "content/learn/physics/why-is-the-sky-blue.md"


def test_a_revision_starts_as_the_published_bytes_and_says_what_it_revises(site_repo):
    r = run_qtgen("revise", SKY, cwd=site_repo)
    assert r.returncode == 0, r.stderr
    draft = Path(r.stdout.strip())
    assert draft == site_repo / "drafts/physics/why-is-the-sky-blue.md"
    assert draft.read_bytes() == (site_repo / SKY).read_bytes()
    queue = json.loads(run_qtgen("review", "--json", cwd=site_repo).stdout)
    assert [Path(q["revises"]) for q in queue] == [(site_repo / SKY).resolve()]
    assert "revision of" in run_qtgen("show", "why-is-the-sky-blue", cwd=site_repo).stdout
    again = run_qtgen("revise", SKY, cwd=site_repo)
    assert again.returncode == 0 and "already waiting" in again.stderr and "no page to revise" in again.stderr
    outside = run_qtgen("revise", "qtgen.toml", cwd=site_repo)
    assert outside.returncode == 2 and "not a published page" in outside.stderr


def test_revise_with_the_model_keeps_every_identifying_byte(site_repo):
    with FakeOpenAI() as server:
        env = clean_env(site_repo, OPENAI_BASE_URL=server.url, OPENAI_API_KEY="sk-test")
        r = run_qtgen("revise", "content/learn", "--rule", "QT004", "--regenerate", "--feedback", "answer it",
                      cwd=site_repo, env=env)
        assert r.returncode == 0, r.stderr
        [request] = server.requests
    prompt = request["body"]["messages"][-1]["content"]
    assert REFUSAL in prompt and "QT004" in prompt and "answer it" in prompt
    before, after = read(site_repo / SKY), read(site_repo / "drafts/physics/why-is-the-sky-blue.md")
    keep = ("id", "subject", "question", "file_name", "url", "title", "article_title", "date", "no_index", "score",
            "related_article1", "layout")
    assert {k: getattr(before, k) for k in keep} == {k: getattr(after, k) for k in keep}
    assert after.seo.title == before.seo.title and after.answer != before.answer
    old, new = (site_repo / SKY).read_text().splitlines(), (site_repo / "drafts/physics/why-is-the-sky-blue.md").read_text().splitlines()
    changed = {i for i, (a, b) in enumerate(zip(old, new)) if a != b}
    assert all(old[i].startswith("    ") for i in changed)  # only folded values changed: description, keywords, answer
    assert [k for k in ("page_description", "page_keywords", "answer") if any(
        old[i - 1].strip().startswith(k) for i in changed)]


def test_approve_replaces_the_published_file_in_one_commit_keeping_its_mode(site_repo):
    os.chmod(site_repo / SKY, 0o640)
    git(site_repo, "add", SKY)
    with FakeOpenAI() as server:
        env = clean_env(site_repo, OPENAI_BASE_URL=server.url, OPENAI_API_KEY="sk-test")
        assert run_qtgen("revise", SKY, "--rule", "QT004", "--regenerate", cwd=site_repo, env=env).returncode == 0
    a = run_qtgen("approve", "why-is-the-sky-blue", "--allow-warnings", cwd=site_repo)
    assert a.returncode == 0, a.stderr
    assert git(site_repo, "show", "--name-status", "--format=", "HEAD").split() == ["M", SKY]
    assert git(site_repo, "log", "-1", "--format=%s").strip() == "Revise: Why is the sky blue? (QT004 chatter)"
    assert stat.S_IMODE((site_repo / SKY).stat().st_mode) == 0o640
    assert REFUSAL not in (site_repo / SKY).read_text()
    assert json.loads(run_qtgen("review", "--json", cwd=site_repo).stdout) == []
    assert not list((site_repo / "drafts/.qtgen/revisions").rglob("*.json"))


def test_a_published_page_edited_meanwhile_is_detected_and_nothing_is_written(site_repo):
    assert run_qtgen("revise", SKY, cwd=site_repo).returncode == 0
    (site_repo / SKY).write_text((site_repo / SKY).read_text().replace("I cannot", "We cannot"))
    edited = (site_repo / SKY).read_bytes()
    head = git(site_repo, "rev-parse", "HEAD")
    a = run_qtgen("approve", "why-is-the-sky-blue", "--allow-warnings", cwd=site_repo)
    assert a.returncode == 1 and "changed since the revision was taken" in a.stderr
    assert len(a.stderr.strip().splitlines()) == 1
    assert (site_repo / SKY).read_bytes() == edited and git(site_repo, "rev-parse", "HEAD") == head
    assert (site_repo / "drafts/physics/why-is-the-sky-blue.md").exists()


def test_revisions_approved_together_are_one_commit(site_repo):
    r = run_qtgen("fix", "content/learn", cwd=site_repo)
    assert r.returncode == 0, r.stderr
    names = [Path(x).stem for x in r.stdout.split()]
    assert len(names) == 3
    a = run_qtgen("approve", *names, "--allow-warnings", cwd=site_repo)
    assert a.returncode == 0, a.stderr
    status = git(site_repo, "show", "--name-status", "--format=", "HEAD").split()
    assert status[0::2] == ["M"] * 3 and len(git(site_repo, "log", "--oneline").splitlines()) == 2
    assert git(site_repo, "log", "-1", "--format=%s").strip() == "Revise 3 QuickTakes pages"


@pytest.mark.parametrize("rule, page", [("QT012", "content/learn/accounting/what-is-straightline-depreciation.md"),
                                        ("QT006", "content/learn/mathematics/what-do-the-symbols-mean.md"),
                                        ("QT009", "content/learn/mathematics/what-do-the-symbols-mean.md")])
def test_fix_gives_a_page_the_lint_no_longer_flags_and_that_round_trips(site_repo, rule, page):
    config = load(cwd=site_repo, environ={})
    assert rule in {f.rule for f in lint_page(read(site_repo / page), config)}
    dry = run_qtgen("fix", page, "--rule", rule, "--dry-run", cwd=site_repo)
    assert dry.returncode == 0 and "(published)" in dry.stdout and "(fixed)" in dry.stdout
    assert files_in(site_repo / "drafts") == []  # a dry run writes nothing
    r = run_qtgen("fix", page, "--rule", rule, cwd=site_repo)
    assert r.returncode == 0, r.stderr
    draft = Path(r.stdout.strip())
    fixed = read(draft)
    assert rule not in {f.rule for f in lint_page(fixed, config)}
    v = run_qtgen("validate", "--roundtrip", str(draft), cwd=site_repo)
    assert "roundtrip" not in v.stdout
    if rule == "QT012":
        assert "\\$26,000" in fixed.answer
    if rule == "QT009":
        assert len(fixed.seo.page_description) <= config.desc_max
        # --rule QT009 repairs only the description: the repeated keywords stay for --rule keywords
        assert fixed.seo.page_keywords == read(site_repo / page).seo.page_keywords


def test_revise_by_rule_picks_exactly_the_pages_lint_names(site_repo):
    lint = json.loads(run_qtgen("lint", "content/learn", "--json", "--no-index", cwd=site_repo).stdout)
    named = {Path(f["path"]).name for f in lint["findings"] if f["rule"] == "QT012"}
    r = run_qtgen("revise", "content/learn", "--rule", "QT012", cwd=site_repo)
    assert r.returncode == 0, r.stderr
    assert {Path(x).name for x in r.stdout.split()} == named and len(named) == 2
    bad = run_qtgen("revise", "content/learn", "--rule", "QT999", cwd=site_repo)
    assert bad.returncode == 2 and "no such lint rule" in bad.stderr


def test_many_revisions_run_through_the_batch_machinery_and_resume(site_repo):
    with FakeOpenAI() as server:
        env = clean_env(site_repo, OPENAI_BASE_URL=server.url, OPENAI_API_KEY="sk-test")
        r = run_qtgen("revise", "content/learn", "--regenerate", "--report", "r.jsonl", cwd=site_repo, env=env)
        assert r.returncode == 0, r.stderr
        assert len(server.requests) == 4
        again = run_qtgen("revise", "content/learn", "--regenerate", cwd=site_repo, env=env)
        assert again.returncode == 0 and len(server.requests) == 4  # the same command: nothing left, nothing asked
    rows = [json.loads(x) for x in (site_repo / "r.jsonl").read_text().splitlines()]
    assert [r["status"] for r in rows] == ["done"] * 4 and all(r["kind"] == "revise" for r in rows)
    runs = run_qtgen("runs", cwd=site_repo)
    assert "revise:pages" in runs.stdout and "finished" in runs.stdout


def test_the_studio_marks_revisions(site_repo):
    from conftest import studio_client

    assert run_qtgen("revise", SKY, cwd=site_repo).returncode == 0
    client, _ = studio_client(site_repo)
    queue = client.get("/").text
    assert "revision</span>" in queue
    import re

    assert re.search(r">\+\d+ kept</span>", queue)  # the published page's own problems: shown, not counted

    draft = client.get(re.search(r'href="(/draft/[0-9a-f]+)"', queue).group(1)).text
    assert "Revision of the published page" in draft and "no change yet from the published page" in draft
    nearest = draft.split("Nearest questions")[1]
    assert "Why is the sky blue?" not in nearest  # the page it revises is not a near-duplicate of itself


def test_a_revision_that_changes_what_identifies_the_page_is_refused(site_repo):
    assert run_qtgen("fix", "content/learn/accounting", cwd=site_repo).returncode == 0
    draft = site_repo / "drafts/accounting/what-is-straightline-depreciation.md"
    page = read(draft)
    draft.write_text(render(page.model_copy(update={"id": 999})))
    a = run_qtgen("approve", draft.stem, "--allow-warnings", cwd=site_repo)
    assert a.returncode == 1 and "changes what identifies the published page (id)" in a.stderr
    assert "$26,000" in (site_repo / "content/learn/accounting/what-is-straightline-depreciation.md").read_text()


def test_fix_never_touches_code_or_real_math(site_repo):
    answer = ("Run it:\\n\\n```bash\\n$ g++ main.cpp\\ni=3; echo $i\\n```\\n\\nThe cost is $2 log n + log m$ in the worst "
              "case, and $3 \\cos x + 4 \\sin x$ peaks at 5. A price of $5 and $10 here, and $a \\neq b$.\\n\\n"
              "In summary, fixed.")
    path = site_repo / "content/learn/computing/what-is-code.md"
    path.parent.mkdir(parents=True)
    path.write_text(render(published("What is code?", "Computing", 50, answer)))
    r = run_qtgen("fix", str(path), "--dry-run", cwd=site_repo)
    assert r.returncode == 0, r.stderr
    fixed = read(path)  # unchanged on disk (a dry run)
    from qtgen.config import load as load_config
    from qtgen.drafting.revision import repaired

    new = repaired(load_config(cwd=site_repo, environ={}), fixed).page.answer
    assert "$ g++ main.cpp\\ni=3; echo $i" in new  # the code block is as it was
    assert "$2 log n + log m$" in new and "$3 \\cos x + 4 \\sin x$" in new  # math is math
    assert "\\$5 and \\$10" in new and "$a ≠ b$" in new  # prices escaped, \\neq in math replaced


def test_fix_over_a_tree_skips_pages_already_waiting(site_repo):
    assert run_qtgen("revise", SKY, cwd=site_repo).returncode == 0
    r = run_qtgen("fix", "content/learn", cwd=site_repo)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.split()) == 3
    r = run_qtgen("fix", "content/learn", cwd=site_repo)  # everything fixable is waiting now
    assert r.returncode == 0 and r.stdout.strip() == "" and r.stderr.count("already waiting") >= 3


def test_revisions_follow_a_site_that_is_moved_or_copied(site_repo, tmp_path):
    import shutil

    r = run_qtgen("revise", SKY, cwd=site_repo)
    assert r.returncode == 0, r.stderr
    mark = next((site_repo / "drafts" / ".qtgen" / "revisions").rglob("*.json"))
    assert json.loads(mark.read_text())["published"] == "physics/why-is-the-sky-blue.md"  # below the content tree
    moved = tmp_path / "moved"
    shutil.move(str(site_repo), str(moved))
    shown = json.loads(run_qtgen("review", "--json", cwd=moved).stdout)
    assert shown[0]["revises"] == str(moved / SKY)
    draft = moved / "drafts" / "physics" / "why-is-the-sky-blue.md"
    fixed = ("Sunlight is scattered by the molecules of the air, and blue light, with its short wavelength, is scattered "
             "far more than red.\\n\\n1. **Rayleigh scattering**: shorter wavelengths scatter more.\\n\\nIn summary, "
             "the sky looks blue because air scatters blue light most.")
    draft.write_text(draft.read_text().replace(REFUSAL, fixed))
    r = run_qtgen("approve", str(draft), "--allow-warnings", cwd=moved)
    assert r.returncode == 0, r.stderr
    assert "Rayleigh" in (moved / SKY).read_text()
    # a mark an older qtgen wrote with the full path of where the site was is read from the site where it is now
    r = run_qtgen("revise", "content/learn/economics/what-is-a-tariff.md", cwd=moved)
    mark = next(m for m in (moved / "drafts" / ".qtgen" / "revisions").rglob("*.json") if "tariff" in m.name)
    data = json.loads(mark.read_text())
    mark.write_text(json.dumps({**data, "published": str(site_repo / "content/learn/economics/what-is-a-tariff.md")}))
    shown = json.loads(run_qtgen("review", "--json", cwd=moved).stdout)
    assert [i["revises"] for i in shown] == [str(moved / "content/learn/economics/what-is-a-tariff.md")]


def test_an_unchanged_revision_is_never_approved_as_if_published(site_repo):
    """A revision that is still its published page byte for byte publishes nothing: approve refuses it in one
    line (no commit, the draft still waiting), and `--all-clean` leaves it waiting and says why."""
    tariff = "content/learn/economics/what-is-a-tariff.md"
    assert run_qtgen("revise", tariff, cwd=site_repo).returncode == 0
    head = git(site_repo, "rev-parse", "HEAD")
    a = run_qtgen("approve", "what-is-a-tariff", "--allow-warnings", cwd=site_repo)
    assert a.returncode == 1 and "byte for byte: nothing to publish" in a.stderr, a.stderr
    assert len(a.stderr.strip().splitlines()) == 1 and "in commit" not in a.stderr
    assert git(site_repo, "rev-parse", "HEAD") == head
    assert (site_repo / "drafts/economics/what-is-a-tariff.md").exists()
    config_free = run_qtgen("approve", "--all-clean", cwd=site_repo)
    assert config_free.returncode == 0 and git(site_repo, "rev-parse", "HEAD") == head
    assert "unchanged from the published page" in config_free.stderr, config_free.stderr
    assert (site_repo / "drafts/economics/what-is-a-tariff.md").exists()


def test_fix_with_a_limit_stops_reading_once_it_has_enough(site_repo):
    """`fix --limit N` reads and lints pages only until it has N repairs: a broken page after them is never read
    (without the limit, it is read and said to be skipped)."""
    broken = site_repo / "content/learn/zoology/zz-last.md"
    broken.parent.mkdir(parents=True)
    broken.write_text("---\nnot: [a page\n")
    r = run_qtgen("fix", "content/learn", "--limit", "1", "--dry-run", cwd=site_repo)
    assert r.returncode == 0, r.stderr
    assert "would repair 1 page(s)" in r.stderr and "zz-last.md" not in r.stderr
    r = run_qtgen("fix", "content/learn", "--dry-run", cwd=site_repo)
    assert r.returncode == 0 and "zz-last.md" in r.stderr and "would repair 3 page(s)" in r.stderr, r.stderr


@pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None,
                    reason="as root, setpriv (util-linux) is needed to drop the rights that ignore a folder's mode")
def test_a_folder_qtgen_may_not_write_is_one_line_naming_it(site_repo):
    """A drafts folder the system will not let qtgen write (as root, with its capabilities dropped by setpriv,
    so the folder's mode applies): one line naming the folder, exit 1, no "internal error", nothing half-written."""
    drafts = site_repo / "drafts" / "physics"
    drafts.mkdir(parents=True, exist_ok=True)
    drafts.chmod(0o555)
    try:
        drop = ["setpriv", "--bounding-set=-all", "--inh-caps=-all"] if os.geteuid() == 0 else []
        r = subprocess.run([*drop, sys.executable, "-m", "qtgen", "revise", SKY], cwd=site_repo,
                           capture_output=True, text=True, env=clean_env(site_repo))
    finally:
        drafts.chmod(0o755)
    assert r.returncode == 1, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "permission denied" in r.stderr, r.stderr
    assert "internal error" not in r.stderr and str(drafts) in r.stderr
    assert list(drafts.iterdir()) == []
