"""`qtgen duplicates` and `qtgen revise --duplicates`: the site's duplicate clusters, on a real git site of pages we
write, through the real CLI, review and approve."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from qtgen.format.page import Page, RelatedArticle, Seo
from qtgen.format.reader import read
from qtgen.format.slug import file_name_for, site_slug, url_for
from qtgen.format.writer import render

from conftest import git, init_repo, run_qtgen

ANSWER = ("Exception handling lets a program meet an error without stopping. A block of code runs under watch, "
          "and when something fails, control passes to a handler that can report it, recover or clean up.\\n\\n"
          "1. **Try**: the code that may fail.\\n2. **Except**: what to do when it does.\\n\\n"
          "In summary, the statement keeps a program running when an error occurs.")


def page(question: str, subject: str, page_id: int, date: dt.date, **extra) -> Page:
    return Page(id=page_id, date=date, title=question, article_title=question,
                seo=Seo(title=f"QuickTakes | {subject}",
                        page_description="A short study answer for students, with the key ideas and an example.",
                        page_keywords="one, two, three, four, five"),
                question=question, answer=ANSWER, subject=subject, file_name=file_name_for(question),
                url=url_for(question, subject), score=-1.0, **extra)


def link(question: str, subject: str, page_id: int) -> RelatedArticle:
    return RelatedArticle(id=page_id, title=question, subject=subject, url=url_for(question, subject))


OLDEST = "What is the purpose of using the try...except statement in Python?"
LINKED = "Why would you use a try/except statement in Python?"
THIRD = "What is the try/except statement used for in Python?"


@pytest.fixture
def site_repo(site) -> Path:
    cs = "Computer Science"
    pages = [
        page(OLDEST, cs, 10, dt.date(2024, 1, 1)),
        page(LINKED, cs, 11, dt.date(2024, 2, 1)),
        page(THIRD, cs, 12, dt.date(2024, 3, 1)),
        # the same question under two subjects: the site's own design
        page("What is a tariff?", "Economics", 20, dt.date(2024, 1, 5)),
        page("What is a tariff?", "Business", 20, dt.date(2024, 1, 5)),
        # one template over two topics: not duplicates
        page("How has the understanding of the Cold War changed over time?", "History", 30, dt.date(2024, 1, 7)),
        page("How has the understanding of the water cycle changed over time?", "Geography", 31, dt.date(2024, 1, 7)),
        # names must agree: Python is not Haskell
        page("What is a list comprehension in Haskell?", cs, 40, dt.date(2024, 1, 9)),
        # links that make LINKED the most linked of its cluster; a no_index page the site indexes anyway
        page("What is a stack trace?", cs, 50, dt.date(2024, 1, 2), related_article1=link(LINKED, cs, 11),
             related_article2=link(THIRD, cs, 12)),
        page("How do errors propagate up the call stack?", cs, 51, dt.date(2024, 1, 2),
             related_article1=link(LINKED, cs, 11)),
        page("Why is the sky blue?", "Physics", 60, dt.date(2024, 1, 3), no_index=True),
    ]
    for p in pages:
        path = site / "content" / "learn" / site_slug(p.subject) / p.file_name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(p))
    init_repo(site, ".")
    return site


def clusters(site: Path, *args: str) -> dict:
    r = run_qtgen("duplicates", "--json", *args, cwd=site)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_rewordings_form_a_cluster_that_keeps_the_most_linked_page(site_repo):
    report = clusters(site_repo)
    rewordings = [c for c in report["clusters"] if c["kind"] == "rewording"]
    assert len(rewordings) == 1
    cluster = rewordings[0]
    actions = {m["question"]: m["action"] for m in cluster["members"]}
    # THIRD asks it in the same terms (100); OLDEST scores inside similar_band, with no model to judge: uncertain
    assert actions == {LINKED: "keep", OLDEST: "uncertain", THIRD: "no_index"}
    assert cluster["keep"].endswith("why-would-you-use-a-tryexcept-statement-in-python.md")
    assert "most linked" in cluster["why"]
    assert all(m["score"] >= 80 for m in cluster["members"])
    # the same question under two subjects is one intended group: nothing to do
    intended = [c for c in report["clusters"] if c["kind"] == "same-question"]
    assert [sorted(m["subject"] for m in c["members"]) for c in intended] == [["Business", "Economics"]]
    assert {m["action"] for m in intended[0]["members"]} == {"keep", "keep (same question)"}
    # a template over two topics, and the same question about another language, are no duplicates
    joined = {m["question"] for c in report["clusters"] for m in c["members"]}
    assert not joined & {"How has the understanding of the Cold War changed over time?",
                         "What is a list comprehension in Haskell?"}
    assert report["to_mark_no_index"] == 1 and report["uncertain"] == 1 and report["no_index_pages_in_tree"] == 1
    assert "reads `noIndex`" in report["note"] and "1 page(s) marked no_index are indexed anyway" in report["note"]


def test_keep_oldest_min_score_and_a_folder(site_repo):
    cluster = next(c for c in clusters(site_repo, "--keep", "oldest")["clusters"] if c["kind"] == "rewording")
    assert cluster["keep"].endswith("what-is-the-purpose-of-using-the-tryexcept-statement-in-python.md")
    assert cluster["why"].startswith("oldest (2024-01-01)")
    strict = [c for c in clusters(site_repo, "--min-score", "100")["clusters"] if c["kind"] == "rewording"]
    assert [sorted(m["question"] for m in c["members"]) for c in strict] == [sorted([LINKED, THIRD])]  # same terms
    only = clusters(site_repo, "content/learn/economics")
    assert only["pages"] == 1 and only["clusters"] == []


def test_the_table_names_each_cluster_and_bad_input_is_one_line(site_repo, tmp_path):
    r = run_qtgen("duplicates", cwd=site_repo)
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]
    assert first.startswith("D") and "rewording, 3 pages: keep computer-science/why-would-you-use" in first
    assert "1 cluster(s) of rewordings" in r.stderr and "--all lists them" in r.stderr and "noIndex" in r.stderr
    assert "1 uncertain" in r.stderr and "similar_check = true" in r.stderr and "--uncertain" in r.stderr
    assert "What is a tariff?" not in r.stdout
    assert "What is a tariff?" in run_qtgen("duplicates", "--all", cwd=site_repo).stdout
    for args, says in ((["--min-score", "0"], "--min-score"), ([str(tmp_path)], "not inside the content tree"),
                       (["--keep", "newest"], "--keep")):
        r = run_qtgen("duplicates", *args, cwd=site_repo)
        assert r.returncode != 0 and says in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_revise_duplicates_marks_the_extras_no_index_through_review(site_repo):
    before = {p: p.read_bytes() for p in (site_repo / "content").rglob("*.md")}
    cluster = next(c for c in clusters(site_repo)["clusters"] if c["kind"] == "rewording")
    r = run_qtgen("revise", "--duplicates", cluster["id"], cwd=site_repo)
    assert r.returncode == 0, r.stderr
    made = [Path(line) for line in r.stdout.split()]
    assert [p.name for p in made] == [Path(m["path"]).name for m in cluster["members"] if m["action"] == "no_index"]
    assert "1 uncertain page(s) left as they are" in r.stderr and "noIndex" in r.stderr
    r = run_qtgen("revise", "--duplicates", cluster["id"], "--uncertain", cwd=site_repo)  # read, and marked too
    assert r.returncode == 0, r.stderr and "already waiting" in r.stderr
    made += [Path(line) for line in r.stdout.split()]
    assert sorted(p.name for p in made) == sorted(Path(m["path"]).name for m in cluster["members"]
                                                     if m["action"] in ("no_index", "uncertain"))
    for draft in made:  # the published bytes with one line more
        published = next(p for p in before if p.name == draft.name)
        lines = draft.read_text().splitlines()
        assert "no_index: True" in lines and [x for x in lines if x != "no_index: True"] == before[published].decode().splitlines()
    shown = json.loads(run_qtgen("review", "--json", cwd=site_repo).stdout)
    assert {Path(i["path"]).name for i in shown} == {p.name for p in made} and all(i["revises"] for i in shown)
    # asked again, nothing is marked twice
    again = run_qtgen("revise", "--duplicates", cluster["id"], "--uncertain", cwd=site_repo)
    assert again.returncode == 0 and again.stdout == "" and "already waiting" in again.stderr
    r = run_qtgen("approve", *map(str, made), cwd=site_repo)
    assert r.returncode == 0, r.stderr
    after = {p: p.read_bytes() for p in (site_repo / "content").rglob("*.md")}
    assert set(after) == set(before)  # never a page deleted
    changed = [p for p in after if after[p] != before[p]]
    assert sorted(p.name for p in changed) == sorted(p.name for p in made)
    assert all(read(p).no_index is True for p in changed)
    assert git(site_repo, "status", "--porcelain", "content") == ""
    # and the cluster has nothing left to mark
    cluster = next(c for c in clusters(site_repo)["clusters"] if c["kind"] == "rewording")
    assert {m["action"] for m in cluster["members"]} == {"keep", "already no_index"}


def test_a_plain_revision_still_cannot_change_no_index(site_repo):
    target = next((site_repo / "content/learn/computer-science").glob("what-is-the-tryexcept-statement*"))
    r = run_qtgen("revise", str(target), cwd=site_repo)
    assert r.returncode == 0, r.stderr
    draft = Path(r.stdout.strip())
    draft.write_text(render(read(draft).model_copy(update={"no_index": True})))
    r = run_qtgen("approve", str(draft), cwd=site_repo)
    assert r.returncode != 0 and "no_index" in r.stderr and "changes what identifies" in r.stderr


def test_an_unknown_cluster_and_mixed_options_are_refused(site_repo):
    r = run_qtgen("revise", "--duplicates", "Dnothing", cwd=site_repo)
    assert r.returncode == 2 and "no such duplicate cluster" in r.stderr and "Traceback" not in r.stderr
    r = run_qtgen("revise", "--duplicates", "D1", "--regenerate", cwd=site_repo)
    assert r.returncode == 2 and "--duplicates takes no" in r.stderr
    r = run_qtgen("revise", cwd=site_repo)
    assert r.returncode == 2 and "qtgen revise duplicates CLUSTER" in r.stderr


def test_lint_agrees_the_same_question_under_two_subjects_is_no_finding(site_repo):
    r = run_qtgen("lint", "content/learn", "--json", cwd=site_repo)
    found = [f for f in json.loads(r.stdout)["findings"] if f["rule"] == "QT011"]
    flagged = {Path(f["path"]).name for f in found}
    assert "what-is-a-tariff.md" not in flagged  # Economics and Business ask it on purpose
    assert "what-is-the-tryexcept-statement-used-for-in-python.md" in flagged  # a rewording of another page
    assert all("asks the same" in f["message"] for f in found)


def test_a_duplicates_revision_that_changes_more_than_no_index_is_refused(site_repo):
    cluster = next(c for c in clusters(site_repo)["clusters"] if c["kind"] == "rewording")
    r = run_qtgen("revise", "--duplicates", cluster["id"], cwd=site_repo)
    draft = Path(r.stdout.split()[0])
    draft.write_text(draft.read_text().replace("In summary", "To sum up"))
    r = run_qtgen("approve", str(draft), "--allow-warnings", cwd=site_repo)
    assert r.returncode != 0 and "adds no_index: True and nothing else" in r.stderr
    assert git(site_repo, "status", "--porcelain") == ""


def test_a_page_already_no_index_is_never_the_one_kept(site_repo):
    linked = site_repo / "content/learn/computer-science/why-would-you-use-a-tryexcept-statement-in-python.md"
    linked.write_text(render(read(linked).model_copy(update={"no_index": True})))
    cluster = next(c for c in clusters(site_repo)["clusters"] if c["kind"] == "rewording")
    kept = next(m for m in cluster["members"] if m["action"] == "keep")
    assert not kept["no_index"] and kept["question"] != LINKED
