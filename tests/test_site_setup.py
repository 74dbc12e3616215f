"""Setting up a site, subject spelling, review comfort (revert, --all-clean's account, lint summaries)."""

from __future__ import annotations

import json
from pathlib import Path

from qtgen.config import load
from qtgen.format.reader import read
from qtgen.format.writer import render

from conftest import clean_env, files_in, git, init_repo, run_qtgen
from fake_openai import FakeOpenAI
from test_index import make_page, write_tree



def bare_site(tmp_path) -> Path:
    """A site as a content team has it: a git repository with content/learn and no qtgen.toml."""
    root = tmp_path / "site"
    write_tree(root / "content" / "learn")
    git(tmp_path, "init", "-q", str(root))
    return root


def test_run_from_inside_the_content_tree_the_site_root_is_found(tmp_path):
    root = bare_site(tmp_path)
    inside = root / "content" / "learn" / "economics"
    config = load(cwd=inside, environ={})
    assert config.root == root.resolve() and config.drafts == root.resolve() / "drafts"
    with FakeOpenAI() as server:
        env = clean_env(tmp_path, OPENAI_BASE_URL=server.url, OPENAI_API_KEY="k", QTGEN_MODEL="test-model")
        r = run_qtgen("draft", "What is a quota?", "-s", "Economics", cwd=inside, env=env)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()) == root.resolve() / "drafts/economics/what-is-a-quota.md"
    assert [p for p in files_in(root / "content") if p.suffix != ".md"] == []  # nothing of qtgen's in the tree


def test_drafts_inside_the_content_tree_are_refused(tmp_path):
    root = bare_site(tmp_path)
    (root / "qtgen.toml").write_text('drafts_dir = "content/learn/drafts"\n')
    r = run_qtgen("review", cwd=root)
    assert r.returncode == 2 and "inside the content tree" in r.stderr


def test_init_writes_a_commented_config_and_ignores_drafts(tmp_path):
    root = bare_site(tmp_path)
    r = run_qtgen("init", cwd=root / "content" / "learn")
    assert r.returncode == 0, r.stderr
    config = (root / "qtgen.toml").read_text()
    assert config.startswith("# qtgen settings") and 'drafts_dir = "drafts"' in config
    assert "drafts/" in (root / ".gitignore").read_text().splitlines()
    assert load(cwd=root, environ={}).source == root / "qtgen.toml"
    again = run_qtgen("init", cwd=root)
    assert "already there" in again.stdout and "already ignores drafts/" in again.stdout
    assert (root / ".gitignore").read_text().count("drafts/") == 1


def test_subjects_take_the_site_spelling_or_name_the_closest(tmp_path):
    root = bare_site(tmp_path)
    with FakeOpenAI() as server:
        env = clean_env(tmp_path, OPENAI_BASE_URL=server.url, OPENAI_API_KEY="k", QTGEN_MODEL="test-model")
        r = run_qtgen("draft", "What is a quota?", "-s", "economics", cwd=root, env=env)
        assert r.returncode == 0 and "as the site spells it" in r.stderr
        assert read(Path(r.stdout.strip())).subject == "Economics"
        requests = len(server.requests)
        r = run_qtgen("draft", "What is an embargo?", "-s", "Economcs", cwd=root, env=env)
        assert r.returncode == 2 and "subject 'Economcs': the site has no such subject" in r.stderr
        assert "the closest: Economics" in r.stderr and "--new-subject" in r.stderr
        assert len(server.requests) == requests and not (root / "drafts/economcs").exists()  # nothing asked, nothing written
        r = run_qtgen("draft", "What is a lever?", "-s", "biology", "--new-subject", cwd=root, env=env)
        assert r.returncode == 0 and "warning" not in r.stderr and read(Path(r.stdout.strip())).subject == "biology"


def test_revert_restores_an_earlier_version_as_a_new_one(tmp_path):
    root = bare_site(tmp_path)
    takes = []

    def reply(question, subject, body):
        from fake_openai import house_answer

        takes.append(1)
        data = house_answer(question, subject)
        data["answer"] = data["answer"].replace("central question", f"central question (take {len(takes)})")
        return data

    with FakeOpenAI(reply=reply) as server:
        env = clean_env(tmp_path, OPENAI_BASE_URL=server.url, OPENAI_API_KEY="k", QTGEN_MODEL="test-model")
        path = Path(run_qtgen("draft", "What is a quota?", "-s", "Economics", cwd=root, env=env).stdout.strip())
        first = path.read_text()
        path.write_text(first.replace("central question", "hand edit"))
        assert run_qtgen("regenerate", "what-is-a-quota", "--feedback", "x", cwd=root, env=env).returncode == 0
    r = run_qtgen("revert", "what-is-a-quota", "--to", "1", cwd=root)
    assert r.returncode == 0, r.stderr
    assert path.read_text() == first
    versions = json.loads(run_qtgen("history", "what-is-a-quota", "--json", cwd=root).stdout)
    assert [v["made_by"] for v in versions] == ["draft", "changed outside qtgen", "regenerate", "revert to 1"]
    assert run_qtgen("revert", "what-is-a-quota", cwd=root).returncode == 0  # back to the regenerated one
    assert "(take 2)" in path.read_text() and "hand edit" not in path.read_text()


def test_approve_all_clean_says_what_it_left_and_why(tmp_path):
    root = bare_site(tmp_path)
    init_repo(root, ".")
    with FakeOpenAI() as server:
        env = clean_env(tmp_path, OPENAI_BASE_URL=server.url, OPENAI_API_KEY="k", QTGEN_MODEL="test-model")
        for q in ("What is a quota?", "What is an embargo?"):
            assert run_qtgen("draft", q, "-s", "Economics", cwd=root, env=env).returncode == 0
    broken = root / "drafts/economics/what-is-an-embargo.md"
    broken.write_text(render(read(broken).model_copy(update={"answer": read(broken).answer + "\\n\\n<|im_end|>"})))
    r = run_qtgen("approve", "--all-clean", cwd=root)
    assert r.returncode == 0, r.stderr
    assert "approved 1 draft(s)" in r.stderr
    assert "left 1 draft(s) waiting: 1 with errors, 0 with warnings (first: what-is-an-embargo.md: QT017" in r.stderr


def test_lint_of_published_pages_sums_up_long_descriptions_once(tmp_path):
    root = bare_site(tmp_path)
    content = root / "content" / "learn"
    r = run_qtgen("lint", "--json", "--no-index", "content/learn", cwd=root)
    findings = json.loads(r.stdout)["findings"]
    long_ones = [f for f in findings if f["rule"] == "QT009"]
    outside = sum(1 for p in content.rglob("*.md") if not 70 <= len(read(p).seo.page_description) <= 117)
    assert outside >= 2 and len(long_ones) == 1
    assert f"{outside} published page(s) have a description outside 70..117" in long_ones[0]["message"]
    draft = root / "drafts" / "economics" / "what-is-x.md"
    draft.parent.mkdir(parents=True)
    page = make_page(9, "Economics", "What is x?", "a, b, c, d, e")
    draft.write_text(render(page.model_copy(update={"seo": page.seo.model_copy(
        update={"page_description": "A description far longer than a search result shows. " * 3})})))
    r = run_qtgen("lint", "--json", "--no-index", "drafts", cwd=root)
    assert [f["path"] for f in json.loads(r.stdout)["findings"] if f["rule"] == "QT009"] == [str(draft.relative_to(root))]
    assert content.exists()


def test_a_config_above_the_site_root_is_not_the_sites(tmp_path):
    root = bare_site(tmp_path)
    (tmp_path / "qtgen.toml").write_text('drafts_dir = "elsewhere"\n')
    config = load(cwd=root / "content" / "learn" / "economics", environ={})
    assert config.source is None and config.root == root.resolve() and config.drafts == root.resolve() / "drafts"
