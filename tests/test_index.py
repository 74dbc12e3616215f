"""The site index: build, incremental refresh, near-duplicates, related articles, atomic ids."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import shutil
from pathlib import Path

import pytest

from qtgen.config import Config, load
from qtgen.site.index import SiteIndex, topic
from qtgen.format.page import Page, Seo
from qtgen.format.reader import read
from qtgen.site.related import refresh_related
from qtgen.format.slug import file_name_for, site_slug, url_for
from qtgen.format.validate import validate_paths
from qtgen.format.writer import render

from conftest import clean_env, run_qtgen
from fake_openai import FakeOpenAI

PAGES = [
    (101, "Biology", "What is photosynthesis?", "photosynthesis, chlorophyll, light, plants, glucose"),
    (102, "Biology", "How do plants absorb water through their roots?", "roots, osmosis, water, plants, xylem"),
    (103, "Biology", "What role does chlorophyll play in photosynthesis?", "chlorophyll, photosynthesis, light, pigment, plants"),
    (104, "Economics", "What is a tariff?", "tariff, trade, tax, imports, protectionism"),
    (105, "Economics", "How do central banks set interest rates?", "central bank, interest rates, inflation, policy, money"),
    (106, "Chemistry", "What is photosynthesis?", "photosynthesis, carbon dioxide, oxygen, glucose, energy"),
    (107, "History of the World", "Why did the Roman Empire fall?", "Rome, empire, decline, barbarians, economy"),
]


def make_page(page_id: int, subject: str, question: str, keywords: str) -> Page:
    return Page(id=page_id, date=dt.date(2025, 1, 1), title=question, article_title=question,
                seo=Seo(title=f"QuickTakes | {subject}", page_description="An answer about " + question + " " + "x" * 60,
                        page_keywords=keywords),
                question=question, answer=f"An answer to {question}\\n\\nIn summary, yes.", subject=subject,
                file_name=file_name_for(question), url=url_for(question, subject), score=-1.0)


def write_tree(content: Path, pages=PAGES) -> list[Path]:
    paths = []
    for spec in pages:
        page = make_page(*spec)
        path = content / site_slug(page.subject) / page.file_name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(page), encoding="utf-8")
        paths.append(path)
    return paths


@pytest.fixture
def tree(site) -> Path:
    write_tree(site / "content" / "learn")
    return site


def test_topic_drops_question_framing():
    assert topic("Can you explain photosynthesis?") == topic("What is photosynthesis?") == "photosynthesis"


def test_build_then_incremental_refresh(tree):
    config = load(cwd=tree, environ={})
    with SiteIndex(config) as index:
        first = index.refresh()
        assert (first.read, first.unchanged, first.removed) == (7, 0, 0)
        assert index.count() == {"content": 7}
        second = index.refresh()
        assert (second.read, second.unchanged) == (0, 7)
        touched = tree / "content/learn/economics/what-is-a-tariff.md"
        st = touched.stat()
        os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000))
        (tree / "content/learn/biology/what-is-photosynthesis.md").unlink()
        third = index.refresh()
        assert (third.read, third.unchanged, third.removed) == (1, 5, 1)
        assert sorted(e.file_name for e in index.entries()) == sorted(
            file_name_for(q) for _, s, q, _ in PAGES if not (s == "Biology" and q == "What is photosynthesis?"))
        assert [e.id for e in index.entries() if e.file_name == "what-is-a-tariff.md"] == [104]


def test_index_of_the_152_fixtures(fixtures, tmp_path):
    config = Config(root=tmp_path, content_dir=fixtures[0].parent.parent, drafts_dir=tmp_path / "drafts")
    with SiteIndex(config) as index:
        counts = index.refresh()
        assert counts.read == 152 and counts.unreadable == 0
        page = read(fixtures[0])
        [match, *_] = index.similar(page.question)
        assert match.score == 100 and match.entry.file_name == page.file_name
        for path in fixtures[:20]:
            p = read(path)
            related = index.related(p.question, p.subject, p.seo.page_keywords, p.file_name, p.id)
            assert p.file_name not in {e.file_name for e in related}
            assert len({e.url for e in related}) == len(related) <= 5


def test_similar_finds_rewordings_and_not_unrelated_questions(tree):
    with SiteIndex(load(cwd=tree, environ={})) as index:
        index.refresh()
        top = index.similar("Can you explain photosynthesis?", limit=3)
        assert top[0].score == 100 and top[0].entry.question == "What is photosynthesis?"
        assert len(top) == 3 and "Why did the Roman Empire fall?" not in [m.entry.question for m in top]
        scores = {m.entry.question: m.score for m in index.similar("Can you explain photosynthesis?", limit=10)}
        assert scores.get("Why did the Roman Empire fall?", 0) < 50
        assert index.similar("Why did the Roman Empire fall?", threshold=90)[0].entry.id == 107
        assert index.similar("How does a neural network learn?", threshold=60) == []
        assert index.similar("Why did the Roman Empire fall in 476?", threshold=50) == []  # numbers must agree


def test_related_same_subject_first_never_itself_never_a_repeat(tree):
    with SiteIndex(load(cwd=tree, environ={})) as index:
        index.refresh()
        related = index.related("How does photosynthesis make glucose?", "Biology",
                                "photosynthesis, chlorophyll, glucose", file_name="how-does-photosynthesis-make-glucose.md")
        questions = [e.question for e in related]
        assert questions[0] in ("What is photosynthesis?", "What role does chlorophyll play in photosynthesis?")
        assert related[0].subject == "Biology"
        # the Chemistry page asks the same question as a Biology one: only one of the two is linked
        assert sum(1 for e in related if e.file_name == "what-is-photosynthesis.md") == 1
        assert len({e.url for e in related}) == len(related)


def _reserve(args):
    db_root, keys = args
    config = Config(root=Path(db_root), drafts_dir=Path(db_root) / "drafts", content_dir=Path(db_root) / "content")
    with SiteIndex(config) as index:
        return [(k, index.reserve_id(k)) for k in keys]


def test_ids_reserved_atomically_across_processes(tree):
    with SiteIndex(load(cwd=tree, environ={})) as index:
        index.refresh()
    keys = [[f"s/q{w}-{i}.md" for i in range(25)] + ["s/shared.md"] for w in range(4)]
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = pool.map(_reserve, [(str(tree), k) for k in keys])
    pairs = [p for r in results for p in r]
    by_key = {}
    for key, value in pairs:
        by_key.setdefault(key, set()).add(value)
    assert all(len(v) == 1 for v in by_key.values())  # one id per question, however often asked
    values = [next(iter(v)) for v in by_key.values()]
    assert len(values) == len(set(values)) == 101
    assert min(values) == 108  # above every id in the tree


def test_draft_adds_related_articles_in_the_site_layout_and_reuses_ids(tree):
    env = clean_env(tree)
    with FakeOpenAI() as server:
        env["OPENAI_BASE_URL"], env["OPENAI_API_KEY"] = server.url, "sk-test"
        r = run_qtgen("draft", "How does chlorophyll capture light energy?", "-s", "Biology", cwd=tree, env=env)
        assert r.returncode == 0, r.stderr
        path = tree / "drafts" / "biology" / "how-does-chlorophyll-capture-light-energy.md"
        page = read(path)
        assert page.id == 108
        assert 1 <= len(page.related) <= 5
        text = path.read_text()
        published = {read(p).url: read(p) for p in (tree / "content/learn").rglob("*.md")}
        for n, art in enumerate(page.related, 1):
            target = published[art.url]  # points at an existing page, with its id, title and subject
            assert (art.id, art.title, art.subject) == (target.id, target.question, target.subject)
            assert (f"related_article{n}:\n    id: {art.id}\n    title: >-\n        {art.title}\n"
                    f"    subject: {art.subject}\n    url: {art.url}\n") in text
        assert text.endswith(f"url: {page.related[-1].url}\n---\n\n&nbsp;")
        assert validate_paths([path], load(cwd=tree, environ={})).errors == []

        # the same question under another subject keeps the id the site gave it
        r = run_qtgen("draft", "What is a tariff?", "-s", "Politics", "--new-subject", cwd=tree, env=env)
        assert r.returncode == 0, r.stderr
        assert read(tree / "drafts" / "politics" / "what-is-a-tariff.md").id == 104

        count = len(server.requests)
        r = run_qtgen("draft", "Can you explain photosynthesis?", "-s", "Physics", "--no-related", "--new-subject",
                      cwd=tree, env=env)
        assert r.returncode == 1 and "near-duplicate (100/100) of 'What is photosynthesis?'" in r.stderr
        assert len(server.requests) == count  # refused before any request
        r = run_qtgen("draft", "Can you explain photosynthesis?", "-s", "Physics", "--no-related", "--allow-similar",
                      "--new-subject", cwd=tree, env=env)
        assert r.returncode == 0, r.stderr
        assert read(tree / "drafts" / "physics" / "can-you-explain-photosynthesis.md").related == []


def test_related_refresh_touches_only_the_related_block(fixtures, tmp_path):
    content = tmp_path / "content" / "learn"
    shutil.copytree(fixtures[0].parent.parent, content)
    config = Config(root=tmp_path, content_dir=content, drafts_dir=tmp_path / "drafts")
    with SiteIndex(config) as index:
        index.refresh()
        changed_any = False
        for path in sorted(content.rglob("*.md"))[:30]:
            before = path.read_text()
            changed, count = refresh_related(index, path)
            after = path.read_text()
            head = before.split("\nscore: ")[0].split("\nurl: ")[0]
            assert after.startswith(head)  # everything up to the url line is untouched
            page = read(path)
            assert len(page.related) == count and page.file_name not in {a.url.rsplit("/", 1)[-1] + ".md" for a in page.related}
            changed_any |= changed
        assert changed_any
        report = validate_paths([content], Config(root=tmp_path, content_dir=content, drafts_dir=tmp_path / "drafts"),
                                roundtrip=True)
        assert report.errors == []


def test_index_and_similar_commands(tree):
    r = run_qtgen("index", cwd=tree)
    assert r.returncode == 0 and "7 published page(s)" in r.stdout and "read 7" in r.stdout
    r = run_qtgen("index", cwd=tree)
    assert "read 0, unchanged 7" in r.stdout
    r = run_qtgen("similar", "Can you explain photosynthesis?", cwd=tree)
    assert r.returncode == 0 and r.stdout.splitlines()[0].startswith("100.0  What is photosynthesis?")
