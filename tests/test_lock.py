"""The lock: what README's two commands and CI install is exactly requirements.txt, and it fits pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

from packaging.markers import Marker
from packaging.requirements import Requirement

from conftest import REPO

PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^ ;\\]+)(?:\s*;\s*([^\\]+?))?\s*\\?$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_entries() -> list[tuple[str, str, str | None, list[str]]]:
    """(name, version, marker, hashes) of every pin in requirements.txt."""
    out, current = [], None
    for raw in (REPO / "requirements.txt").read_text().splitlines():
        line = raw.strip()
        if m := PIN.match(line):
            current = (canonical(m.group(1)), m.group(2), m.group(3), [])
            out.append(current)
        elif line.startswith("--hash=sha256:") and current is not None:
            current[3].append(line.split(":", 1)[1].rstrip(" \\"))
    return out


def here() -> dict[str, str]:
    """The lock's version of each package for this interpreter and platform."""
    return {name: version for name, version, marker, _ in lock_entries() if not marker or Marker(marker).evaluate()}


def test_every_dependency_and_extra_is_pinned_with_hashes_inside_its_range():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project["dependencies"]]
    wanted += [Requirement(r) for extra in project["optional-dependencies"].values() for r in extra]
    pins = here()
    for req in wanted:
        name = canonical(req.name)
        assert name in pins, f"{req.name} is in pyproject.toml but not in requirements.txt: run scripts/lock"
        assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} is outside {req}"
    entries = lock_entries()
    assert entries and all(hashes for *_, hashes in entries), "every pin carries the hashes of its files"
    assert all(len(h) == 64 for *_, hashes in entries for h in hashes)


def test_the_suite_runs_on_exactly_the_locked_versions():
    """What this interpreter has installed is what the lock says (README command 2 installs the lock): a test run
    on other versions is not evidence for the lock."""
    pins = here()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = {canonical(Requirement(r).name) for r in project["dependencies"]}
    names |= {canonical(Requirement(r).name) for extra in project["optional-dependencies"].values() for r in extra}
    differ = {n: (pins[n], metadata.version(n)) for n in sorted(names) if metadata.version(n) != pins[n]}
    assert not differ, f"installed versions differ from requirements.txt (locked, installed): {differ}"


def test_readme_commands_install_the_lock_and_ci_runs_command_two_verbatim():
    readme = (REPO / "README.md").read_text()
    commands = re.findall(r"```bash\n(.*?)\n```", readme, re.S)[:2]
    assert len(commands) == 2
    draft, tests = commands
    for command in commands:
        assert "pip install --require-hashes -r requirements.txt && pip install --no-deps -e ." in command
    assert "qtgen draft" in draft and tests.endswith("python -m pytest")
    ci = (REPO / ".ci" / "run").read_text()
    assert tests in ci.splitlines(), ".ci/run runs README command 2 verbatim"
    assert "scripts/lock" in readme and "scripts/drift" in readme
