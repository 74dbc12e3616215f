"""`qtgen validate`: every rule on pages we write, and no error on any real page of the site."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from qtgen.config import load
from qtgen.format.page import Page, RelatedArticle, Seo
from qtgen.format.validate import validate_paths
from qtgen.format.writer import render

from conftest import run_qtgen

DESC = "This content explains how tariffs work, who pays them and why governments use them in trade."


def good_page(**kw) -> Page:
    q = kw.pop("question", "What is a tariff?")
    base = dict(id=10, date=dt.date(2026, 1, 5), title=q, article_title=q,
                seo=Seo(title="QuickTakes | Economics", page_description=DESC,
                        page_keywords="tariff, trade, tax, imports, protectionism"),
                question=q, answer="A tariff is a tax.\\n\\n1. **Tax**: yes\\n\\nIn summary, a tax.",
                subject="Economics", file_name="what-is-a-tariff.md", url="/learn/economics/questions/what-is-a-tariff",
                score=-1.0)
    base.update(kw)
    return Page(**base)


def check(tmp_path, text: str, name="what-is-a-tariff.md", folder="pages", **kw):
    path = tmp_path / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    report = validate_paths([path], load(cwd=tmp_path, environ={}), **kw)
    return {(f.field, f.level) for f in report.findings}, report


def test_a_good_page_has_no_finding(tmp_path):
    found, _ = check(tmp_path, render(good_page()), roundtrip=True)
    assert found == set()


@pytest.mark.parametrize("mutate, field", [
    (lambda t: t.replace("_schema: default\n", ""), "_schema"),
    (lambda t: t.replace("id: 10\n", "id: ten\n"), "id"),
    (lambda t: t.replace("date: 2026-01-05\n", "date: Jan 5\n"), "date"),
    (lambda t: t.replace("date_format: MMM DD, YYYY", "date_format: DD/MM"), "date_format"),
    (lambda t: t.replace("author: QuickTakes", "author: Someone"), "author"),
    (lambda t: t.replace("score: -1.0", "score: 2.0"), "score"),
    (lambda t: t.replace("title: QuickTakes | Economics", "title: QuickTakes | Politics"), "seo.title"),
    (lambda t: t.replace("article_title: >-\n    What is a tariff?", "article_title: >-\n    What is a duty?"), "article_title"),
    (lambda t: t.replace("file_name: what-is-a-tariff.md", "file_name: tariff.md"), "file_name"),
    (lambda t: t.replace("url: /learn/economics/", "url: /learn/politics/"), "url"),
    (lambda t: t.replace("answer: >-\n    A tariff is a tax.", "answer: |-\n    A tariff\n    is a tax."), "answer"),
    (lambda t: t.replace("subject: Economics\n", "subject: Economics\nextra: 1\n"), "extra"),
    (lambda t: t.replace("id: 10\ndate: 2026-01-05\n", "date: 2026-01-05\nid: 10\n"), "keys"),
    (lambda t: t.replace("\n---\n\n&nbsp;", "\n---\n"), "file"),
    (lambda t: t.replace("\n", "\r\n"), "file"),
    (lambda t: "\ufeff" + t, "file"),
    (lambda t: t.replace("_schema: default\nid: 10", "_schema: default\nid: [10"), "front matter"),
])
def test_each_violation_is_reported_with_its_field(tmp_path, mutate, field):
    found, report = check(tmp_path, mutate(render(good_page())))
    assert (field, "error") in found, report.findings


def test_related_articles_need_score_and_no_gap(tmp_path):
    art = RelatedArticle(id=3, title="What is a quota?", subject="Economics", url="/learn/economics/questions/what-is-a-quota")
    text = render(good_page().with_related([art, art]))
    found, _ = check(tmp_path, text.replace("related_article2:", "related_article3:"))
    assert ("related_article", "error") in found
    found, _ = check(tmp_path, text.replace("score: -1.0\n", ""))
    assert ("score", "error") in found
    found, _ = check(tmp_path, text.replace("/what-is-a-quota", "/what-is-a-quot"))
    assert ("related_article1.url", "warning") in found


def test_seo_bounds_are_errors_in_drafts_and_warnings_for_published_pages(tmp_path):
    text = render(good_page(seo=Seo(title="QuickTakes | Economics", page_description="Too short.",
                                    page_keywords="a, b, A")))
    found, _ = check(tmp_path, text, folder="drafts")
    assert {("seo.page_description", "error"), ("seo.page_keywords", "error")} <= found
    found, _ = check(tmp_path, text, folder="content/learn/economics")
    assert {("seo.page_description", "warning"), ("seo.page_keywords", "warning")} <= found
    assert not any(level == "error" for _, level in found)


def test_a_published_page_must_sit_in_its_subject_folder(tmp_path):
    found, _ = check(tmp_path, render(good_page()), folder="content/learn/politics")
    assert ("subject", "error") in found


def test_ids_unique_per_question_across_files(tmp_path):
    a = render(good_page())
    b = render(good_page(question="What is a quota?", file_name="what-is-a-quota.md",
                         url="/learn/economics/questions/what-is-a-quota"))
    same_question_other_subject = render(good_page(subject="Politics", seo=Seo(
        title="QuickTakes | Politics", page_description=DESC, page_keywords="a, b, c, d, e"),
        url="/learn/politics/questions/what-is-a-tariff"))
    (tmp_path / "economics").mkdir()
    (tmp_path / "politics").mkdir()
    (tmp_path / "economics" / "what-is-a-tariff.md").write_text(a)
    (tmp_path / "economics" / "what-is-a-quota.md").write_text(b)
    (tmp_path / "politics" / "what-is-a-tariff.md").write_text(same_question_other_subject)
    report = validate_paths([tmp_path], load(cwd=tmp_path, environ={}))
    ids = [f for f in report.findings if f.field == "id"]
    # the quota page (read first) owns id 10; both tariff pages clash with it, but not with each other
    assert sorted(f.path.split("/")[-2] for f in ids) == ["economics", "politics"]
    assert all("also used by economics/what-is-a-quota.md" in f.message for f in ids)


def test_roundtrip_reports_the_first_differing_byte(tmp_path):
    text = render(good_page()).replace("seo:\n  title: QuickTakes | Economics", "seo:\n  title:   QuickTakes | Economics")
    found, report = check(tmp_path, text, roundtrip=True)
    assert ("roundtrip", "error") in found
    assert "line 12" in next(f.message for f in report.findings if f.field == "roundtrip")


def test_every_fixture_and_older_version_passes_with_no_error(fixtures, older):
    for group in (fixtures, older):
        report = validate_paths(group, load(cwd=group[0].parent, environ={}), roundtrip=True)
        assert report.files == len(group)
        assert report.errors == [], report.errors[:3]


def test_cli_validate_over_the_fixture_tree_exits_0_with_json(corpus, tmp_path):
    r = run_qtgen("validate", "--roundtrip", "--json", corpus / "fixtures", cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-500:]
    report = json.loads(r.stdout)
    assert report["files"] == 152 and report["errors"] == 0
    assert report["warnings"] > 0  # real defects and long descriptions are warnings, not errors


def test_cli_validate_exit_1_names_file_field_and_reason(tmp_path):
    bad = tmp_path / "what-is-a-tariff.md"
    bad.write_text(render(good_page()).replace("author: QuickTakes", "author: Bob"))
    r = run_qtgen("validate", bad, cwd=tmp_path)
    assert r.returncode == 1
    assert f"{bad}: error: author: must be 'QuickTakes', got 'Bob'" in r.stdout
