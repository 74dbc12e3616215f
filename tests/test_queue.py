"""The review queue at scale: assessments stored by a draft's bytes and the rules' version, and QT011 checked for
every draft at once, giving exactly what assessing each draft alone gives. Real files, a real site index."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest

from qtgen.config import load
from qtgen.format.page import Page, Seo
from qtgen.format.slug import file_name_for, site_slug, url_for
from qtgen.format.writer import render
from qtgen.site.index import open_index
from qtgen.drafts.queue import assess, queue

from conftest import init_repo, run_qtgen, write_config

ANSWER = ("Tariffs are taxes on imported goods. They shape trade and prices in many ways. Governments use them to "
          "raise revenue, to shield young industries and to answer unfair practices abroad. Economists weigh these "
          "aims against higher prices for households and the risk of retaliation by trading partners. History offers "
          "examples of both careful use and costly trade wars, and students meet them in every course on trade."
          "\\n\\n1. **Revenue**: governments collect money at the border.\\n2. **Protection**: local producers gain "
          "shelter from foreign rivals.\\n\\nIn summary, tariffs raise revenue and protect producers, at a cost to "
          "consumers who pay higher prices.")


LONG = ("Import quotas cap how much of a good may enter a country, which raises prices at home, shields producers "
        "and invites retaliation abroad.")


def make(question: str, subject: str, page_id: int, answer: str = ANSWER) -> Page:
    return Page(id=page_id, date=dt.date(2026, 1, 1), title=question, article_title=question,
                seo=Seo(title=f"QuickTakes | {subject}",
                        page_description="A short study answer on trade policy, its aims and its costs for students.",
                        page_keywords="tariff, trade, tax, imports, duty"),
                question=question, answer=answer, subject=subject, file_name=file_name_for(question),
                url=url_for(question, subject), score=-1.0)


def put(root: Path, page: Page) -> Path:
    path = root / site_slug(page.subject) / page.file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(page))
    return path


@pytest.fixture
def queued(site) -> Path:
    content, drafts = site / "content" / "learn", site / "drafts"
    put(content, make("What is the purpose of using the try...except statement in Python?", "Computer Science", 10))
    put(content, make("What is a tariff?", "Economics", 11))
    quotas = make("How do import quotas limit trade?", "Economics", 12)
    quotas.seo.page_description = LONG
    put(content, quotas)
    init_repo(site, ".")
    put(drafts, make("Why would you use a try/except statement in Python?", "Computer Science", 20))  # a rewording
    put(drafts, make("What is an embargo?", "Economics", 21))
    put(drafts, make("What is a tariff?", "Economics", 11, ANSWER.replace("a cost", "the cost")))  # not a revision
    bad = drafts / "economics" / "broken.md"
    bad.write_text("---\nnot: [a page\n")
    r = run_qtgen("revise", "content/learn/economics/how-do-import-quotas-limit-trade.md", cwd=site)
    assert r.returncode == 0, r.stderr
    return site


def listing(site: Path, **overrides) -> list[dict]:
    config = load(cwd=site)
    with open_index(config) as index:
        return [i.as_json() for i in queue(config, index, **overrides)]


def stored_rows(site: Path) -> dict[str, dict]:
    with sqlite3.connect(site / "drafts" / ".qtgen" / "assessments.sqlite") as db:
        return {k: json.loads(v) for k, v in db.execute("SELECT key, data FROM assessments")}


def test_the_queue_gives_what_assessing_each_draft_alone_gives(queued):
    config = load(cwd=queued)
    with open_index(config) as index:
        items = queue(config, index)
        alone = [assess(config, i.path, index).as_json() for i in items]
    assert [i.as_json() for i in items] == alone
    by_name = {Path(i["path"]).name: i for i in alone}
    assert len(by_name) == 5
    # the rewording is QT011 against the published page; the revision's kept question is shown, not counted
    assert any("QT011" in w and "try...except" in w for w in by_name["why-would-you-use-a-tryexcept-statement-in-python.md"]["warnings"])
    assert by_name["broken.md"]["status"] == "errors" and by_name["broken.md"]["question"] is None
    assert by_name["how-do-import-quotas-limit-trade.md"]["revises"].endswith("how-do-import-quotas-limit-trade.md")


def test_assessments_are_stored_by_bytes_and_settings_and_never_stale(queued):
    first = listing(queued)
    rows = stored_rows(queued)
    assert len(rows) == 5 and not any("QT011" in json.dumps(v) for v in rows.values())  # QT011 is never stored
    assert listing(queued) == first and stored_rows(queued) == rows  # a second listing stores nothing new

    # a stored assessment is what the listing shows: plant a finding in one, and it appears
    key = next(k for k, v in rows.items() if v["question"] == "What is an embargo?")
    with sqlite3.connect(queued / "drafts" / ".qtgen" / "assessments.sqlite") as db:
        planted = dict(rows[key], status="errors", validation=[["answer", "error", "planted by the test"]])
        db.execute("UPDATE assessments SET data = ? WHERE key = ?", (json.dumps(planted), key))
    embargo = next(i for i in listing(queued) if i["question"] == "What is an embargo?")
    assert "answer: planted by the test" in embargo["errors"]

    # any change of the draft's bytes is another key: assessed again, the planted finding gone
    path = Path(embargo["path"])
    path.write_text(path.read_text().replace("a cost to", "a price for"))
    embargo = next(i for i in listing(queued) if i["question"] == "What is an embargo?")
    assert "answer: planted by the test" not in embargo["errors"] and len(stored_rows(queued)) == 6

    # a change of the settings is another key too: the listing follows the rules as they are now
    write_config(queued, lint_words=[400, 650])
    relisted = {i["question"]: i for i in listing(queued)}
    assert any("QT001" in w for w in relisted["What is an embargo?"]["warnings"])
    assert len(stored_rows(queued)) == 6 + 5  # every draft again, under the new settings


def test_a_changed_published_page_changes_what_its_revision_keeps(queued):
    revision = next(i for i in listing(queued) if i["revises"])
    assert [k for k in revision["kept"] if "page_description" in k] and revision["status"] == "ok"
    # the site changes the published description: the revision's (the old one) is now its own change, and counts
    published = queued / "content/learn/economics/how-do-import-quotas-limit-trade.md"
    published.write_text(published.read_text().replace("which raises prices", "which lifts prices"))
    revision = next(i for i in listing(queued) if i["revises"])
    assert not [k for k in revision["kept"] if "page_description" in k]
    assert any("page_description" in e for e in revision["errors"]) and revision["status"] == "errors"


def test_review_filters_by_subject_and_status_after_the_stored_assessments(queued):
    everything = listing(queued)
    economics = listing(queued, subject="Economics")
    assert economics == [i for i in everything if i["subject"] == "Economics"] and len(economics) == 3
    failing = listing(queued, status="errors")
    assert failing == [i for i in everything if i["status"] == "errors"]
    assert "broken.md" in [Path(i["path"]).name for i in failing]
    r = run_qtgen("review", "--json", "--status", "ok", cwd=queued)
    shown = json.loads(r.stdout)
    assert r.returncode == 0 and all(i.pop("judge") is None for i in shown)  # none judged here
    assert shown == [i for i in everything if i["status"] == "ok"]


def test_drafts_assessed_on_several_cores_are_assessed_as_on_one(site):
    from qtgen.drafts import queue as queueing

    drafts = site / "drafts"
    for n in range(queueing.PARALLEL_FROM + 10):
        put(drafts, make(f"What did the tariff of {1700 + n} change?", "Economics", 100 + n,
                         ANSWER if n % 3 else ANSWER + " I cannot answer that."))
    config = load(cwd=site)
    missing = [(str(p), p.read_bytes(), None) for p in sorted(drafts.glob("*/*.md"))]
    alone = queueing._assess_fresh(config, missing, workers=1)
    shared = queueing._assess_fresh(config, missing, workers=2)
    assert shared == alone and len(alone) == len(missing)
    assert sum(any(f[0] == "QT004" for f in a["findings"]) for a in alone) == len(range(0, len(missing), 3))


def test_a_damaged_store_is_set_aside_and_a_prompt_change_is_a_new_key(queued):
    first = listing(queued)
    store = queued / "drafts" / ".qtgen" / "assessments.sqlite"
    for extra in ("-wal", "-shm"):
        Path(str(store) + extra).unlink(missing_ok=True)
    store.write_bytes(b"SQLite format 3\x00" + b"\x13" * 4000)  # a header, then garbage
    assert listing(queued) == first  # assessed afresh; the damaged file is kept aside, not deleted
    assert list(store.parent.glob("assessments.sqlite.damaged-*")) and len(stored_rows(queued)) == 5
    # the prompt templates are part of every key (QT024 compares answers with them)
    (queued / "prompts").mkdir(exist_ok=True)
    (queued / "prompts" / "extra.j2").write_text("Answer in the voice of a pirate captain on the open sea.\n")
    listing(queued)
    assert len(stored_rows(queued)) == 10


def test_revisions_made_in_bulk_are_assessed_as_they_are_made(queued):
    """`revise` and `fix` assess the revisions they make (on every core, as the queue would) and keep what they
    find: the first listing reads it instead of checking each draft. A finding planted in the kept row shows in
    that listing, so it was read, not found again."""
    rows = stored_rows(queued)  # the fixture's `qtgen revise` of the quotas page; nothing listed yet
    assert [v["question"] for v in rows.values()] == ["How do import quotas limit trade?"]
    key = next(iter(rows))
    with sqlite3.connect(queued / "drafts" / ".qtgen" / "assessments.sqlite") as db:
        planted = dict(rows[key], status="errors", validation=[["answer", "error", "planted by the test"]])
        db.execute("UPDATE assessments SET data = ? WHERE key = ?", (json.dumps(planted), key))
    revision = next(i for i in listing(queued) if i["revises"])
    assert "answer: planted by the test" in revision["errors"]

    tariffs = make("How do tariffs affect consumers?", "Economics", 13)
    tariffs.seo.page_description = LONG.replace("Import quotas cap", "Tariffs tax")  # QT009: fix cuts it
    put(queued / "content" / "learn", tariffs)
    before = set(stored_rows(queued))
    r = run_qtgen("fix", "content/learn/economics/how-do-tariffs-affect-consumers.md", cwd=queued)
    assert r.returncode == 0, r.stderr
    made = [v for k, v in stored_rows(queued).items() if k not in before]
    assert [v["question"] for v in made] == ["How do tariffs affect consumers?"]
    config = load(cwd=queued)
    fixed = next(i for i in queue(config) if i.question == "How do tariffs affect consumers?")
    assert fixed.as_json() == assess(config, fixed.path).as_json()  # what was kept is what assessing finds


def test_the_review_table_counts_what_a_revision_keeps(queued):
    """`qtgen review` shows a revision's kept findings beside the ones that count ("0 +4 kept"): a reviewer sees
    that the published page has problems the revision does not fix."""
    r = run_qtgen("review", "--wide", cwd=queued)
    assert r.returncode == 0, r.stderr
    row = next(line for line in r.stdout.splitlines() if "import quotas" in line)
    import re

    kept = len(next(i for i in listing(queued) if i["revises"])["kept"])
    assert kept >= 1 and re.search(rf"\b0 \+{kept} kept\b", row) and "rev" in row, row
    assert not any("kept" in line for line in r.stdout.splitlines() if "embargo" in line)


def test_revise_succeeds_when_the_findings_cannot_be_kept(queued):
    """Keeping the new revisions' findings is only a head start: a store that cannot be opened (here a folder where
    the file should be) never turns written revisions into a failed command, and the queue still lists them."""
    kept = queued / "drafts" / ".qtgen" / "assessments.sqlite"
    for extra in ("", "-wal", "-shm"):
        Path(str(kept) + extra).unlink(missing_ok=True)
    kept.mkdir()
    subsidy = put(queued / "content" / "learn", make("What is an export subsidy?", "Economics", 13))
    r = run_qtgen("revise", str(subsidy.relative_to(queued)), cwd=queued)
    assert r.returncode == 0 and "internal error" not in r.stderr, r.stderr
    assert (queued / "drafts" / "economics" / subsidy.name).exists()
    listed = run_qtgen("review", "--json", cwd=queued)
    assert "What is an export subsidy?" in listed.stdout and "internal error" not in listed.stderr, listed.stderr
