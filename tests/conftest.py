"""Shared fixtures: the real corpus (skipped where absent), temp sites, the qtgen CLI as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus"
SEED = SHARED / "seed"


def parse_python(path: Path):
    """The module's syntax tree. CPython 3.11 before 3.11.8 can raise SystemError ("AST constructor recursion depth
    mismatch", gh-106905) when another thread compiles code at the same moment (a test's server rendering a
    template): parsing again is then right."""
    import ast

    for attempt in range(5):
        try:
            return ast.parse(path.read_text(encoding="utf-8"))
        except SystemError:
            if attempt == 4:
                raise


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent: the third-party corpus lives beside the repository in ../shared (CI has it)")
    return path


@pytest.fixture
def corpus() -> Path:
    return need(CORPUS)


@pytest.fixture
def fixtures(corpus) -> list[Path]:
    return sorted(need(corpus / "fixtures").rglob("*.md"))


@pytest.fixture
def older(corpus) -> list[Path]:
    return sorted(need(corpus / "fixtures-older").glob("*.md"))


@pytest.fixture
def seed() -> Path:
    files = sorted(need(SEED).iterdir())
    return files[0]


def write_config(root: Path, **values) -> Path:
    base = {"retry_wait": 0.01, "retry_wait_max": 0.5, "model": "test-model", "timeout": 10}
    base.update(values)
    lines = []
    for k, v in base.items():
        lines.append(f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"')
    path = root / "qtgen.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def site(tmp_path) -> Path:
    """A site folder with a config, an empty drafts folder and an empty content tree."""
    root = tmp_path / "site"
    (root / "drafts").mkdir(parents=True)
    (root / "content" / "learn").mkdir(parents=True)
    write_config(root)
    return root


def clean_env(tmp: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "QTGEN_"))}
    env["XDG_CACHE_HOME"] = str(tmp / ".cache")
    env["NO_COLOR"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_qtgen(*args, cwd: Path, env: dict | None = None, timeout: float = 120, input: str | None = None):
    env = env if env is not None else clean_env(cwd)
    return subprocess.run([sys.executable, "-m", "qtgen", *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, input=input)


def files_in(folder: Path) -> list[Path]:
    """Every file below `folder` (temp files included), but qtgen's own index in drafts/.qtgen."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and ".qtgen" not in p.relative_to(folder).parts)


def git(repo: Path, *args: str) -> str:
    """Run git in `repo`; its stdout, or a failed assertion with git's stderr."""
    r = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def init_repo(site: Path, *tracked: str) -> Path:
    """Make `site` a git repository with an identity, drafts/ and the test cache ignored, and one commit."""
    git(site, "init", "-q")
    git(site, "config", "user.email", "t@example.com")
    git(site, "config", "user.name", "Tester")
    (site / ".gitignore").write_text("drafts/\n.cache/\n")
    git(site, "add", ".gitignore", *(tracked or ("qtgen.toml",)))
    git(site, "commit", "-qm", "site")
    return site


@pytest.fixture(scope="session")
def site_questions() -> dict[str, str]:
    """Every question of the full site tree, by the first 16 hex digits of the sha256 of its path below
    content/learn (read from ../shared/corpus/learn-full.tar.xz, never copied)."""
    import hashlib
    import tarfile

    tarball = need(CORPUS / "learn-full.tar.xz")
    out: dict[str, str] = {}
    with tarfile.open(tarball) as tar:
        for member in tar:
            if not member.isfile() or not member.name.endswith(".md"):
                continue
            rel = member.name.split("content/learn/", 1)[-1]
            text = tar.extractfile(member).read().decode("utf-8")
            start = text.index("\nquestion: >-\n    ") + len("\nquestion: >-\n    ")
            out[hashlib.sha256(rel.encode()).hexdigest()[:16]] = text[start:text.index("\n", start)]
    return out


def publish(site: Path, question: str, subject: str = "Computer Science", page_id: int = 7) -> Path:
    """A published page of `question` under `subject`, written by hand into the site's content tree (no git)."""
    import datetime as dt

    from qtgen.format.page import Page, Seo
    from qtgen.format.slug import file_name_for, site_slug, url_for
    from qtgen.format.writer import render

    page = Page(id=page_id, date=dt.date(2024, 1, 1), title=question, article_title=question,
                seo=Seo(title=f"QuickTakes | {subject}", page_description="A short study answer for students.",
                        page_keywords="one, two, three, four, five"),
                question=question, answer="An answer.", subject=subject, file_name=file_name_for(question),
                url=url_for(question, subject), score=-1.0)
    path = site / "content" / "learn" / site_slug(subject) / page.file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(page))
    return path


def page(answer: str, question: str = "What is a tariff?", subject: str = "Economics",
         description: str = "Tariffs are taxes on imports that raise revenue and protect producers, at a cost to buyers.",
         keywords: str = "tariff, trade, tax, imports, duty"):
    """A page of this answer (Markdown), with SEO fields that pass the lint, for checking one rule at a time."""
    import datetime as dt

    from qtgen.format.page import Page, Seo

    return Page(id=1, date=dt.date(2026, 1, 1), title=question, article_title=question,
                seo=Seo(title=f"QuickTakes | {subject}", page_description=description, page_keywords=keywords),
                question=question, answer=answer.replace("\n", "\\n"), subject=subject,
                file_name="q.md", url="/learn/x/questions/q", score=-1.0)


def rules(p) -> dict[str, str]:
    """The lint's findings on a page, rule -> message."""
    from qtgen.config import Config
    from qtgen.checks.lint import lint_page

    return {f.rule: f.message for f in lint_page(p, Config(lint_words=(20, 650)))}


def studio_client(site: Path, environ: dict | None = None, **studio_args):
    """A Starlette test client of the studio over `site`, logged in as whoever started it (by the one-time login
    URL the studio prints), and the studio's state."""
    from starlette.testclient import TestClient

    from qtgen.config import load
    from qtgen.studio.app import Studio, create_app

    config = load(cwd=site, environ=environ or {})
    studio = Studio(config, **studio_args)
    client = TestClient(create_app(config, studio=studio), base_url="http://127.0.0.1:9")
    assert client.get("/?login=" + studio.new_login(), follow_redirects=False).status_code == 303
    return client, studio
