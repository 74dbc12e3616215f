"""The docs: the reference pages generated from qtgen itself are current (a stale one fails here, and so in CI), they
name every command, setting and rule, the site builds with mkdocs in strict mode, and the README stays short with
links that lead somewhere."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import click

from conftest import REPO

GENERATED = ["docs/reference/cli.md", "docs/reference/configuration.md", "docs/reference/lint-rules.md"]


def cog(*args: str, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cogapp", *args], cwd=cwd, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "COLUMNS": "37", "PYTHONPATH": str(REPO)}, timeout=300)


def test_the_generated_reference_is_current():
    r = cog("--check", *GENERATED)
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_stale_reference_page_fails_the_check(tmp_path):
    for name in GENERATED:
        shutil.copy(REPO / name, tmp_path / name.rsplit("/", 1)[1])
    page = tmp_path / "configuration.md"
    page.write_text(page.read_text().replace("| `temperature` | `0.7` |", "| `temperature` | `0.9` |"))
    assert cog("--check", "cli.md", "lint-rules.md", cwd=tmp_path).returncode == 0
    r = cog("--check", "configuration.md", cwd=tmp_path)
    assert r.returncode != 0 and "configuration.md" in r.stdout + r.stderr


def test_the_reference_names_every_command_setting_and_rule():
    from qtgen.checks.lint import DUPLICATE, RULES
    from qtgen.cli.main import cli
    from qtgen.config import settings

    commands = (REPO / "docs/reference/cli.md").read_text()
    ctx = click.Context(cli, info_name="qtgen")
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        assert f"\n## qtgen {name}\n" in commands
        for verb, sub in getattr(command, "commands", {}).items():
            assert (f"\n### qtgen {name} {verb}\n" in commands) == (not sub.hidden)
    configuration = (REPO / "docs/reference/configuration.md").read_text()
    assert all(f"| `{f.name}` |" in configuration for f in settings())
    assert "| `temperature` | `0.7` | 0 to 2 |" in configuration  # the range the setting is checked against
    rules = (REPO / "docs/reference/lint-rules.md").read_text()
    assert all(f"| {r.id} | `{r.name}` | {r.level} | {r.doc} |" in rules for r in [*RULES, DUPLICATE])


def test_the_docs_build_as_a_site_in_strict_mode(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()
    assert "qtgen batch resume" in page and "qtgen audit publish" in page
    assert (tmp_path / "site" / "tutorial" / "index.html").is_file()


def test_the_readme_is_short_and_its_links_lead_somewhere():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    links = re.findall(r"\]\(([^)#]+)\)", readme)
    assert len(links) >= 10 and all((REPO / link).is_file() for link in links), links
    for page in (REPO / "docs").rglob("*.md"):  # and the docs' own links, relative to each page
        for link in re.findall(r"\]\(([^)#:]+\.md)\)", page.read_text()):
            assert (page.parent / link).is_file(), (page, link)
