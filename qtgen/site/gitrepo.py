"""The site's git repository: add and commit exactly the paths we publish, nothing else."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ..errors import QtgenError


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    except FileNotFoundError:
        raise QtgenError("git is not installed or not on PATH") from None


def toplevel(folder: Path) -> Path:
    """The repository holding `folder`; QtgenError if there is none."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    r = _git(probe, "rev-parse", "--show-toplevel")
    if r.returncode != 0:
        raise QtgenError(f"{folder}: not inside a git repository (use --no-commit to only place the files)")
    return Path(r.stdout.strip())


def commit_only(repo: Path, paths: list[Path], message: str) -> str:
    """Stage and commit exactly `paths` (other staged or modified files stay as they were); the new sha."""
    rel = [str(p.resolve().relative_to(repo.resolve())) for p in paths]
    r = _git(repo, "add", "--", *rel)
    if r.returncode != 0:
        raise QtgenError(f"git add failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
    r = _git(repo, "commit", "--quiet", "--only", "-m", message, "--", *rel)
    if r.returncode != 0:
        _git(repo, "reset", "--quiet", "--", *rel)
        detail = (r.stderr.strip() or r.stdout.strip()).splitlines()
        raise QtgenError(f"git commit failed: {detail[-1] if detail else r.returncode}")
    return _git(repo, "rev-parse", "HEAD").stdout.strip()


def unstage(repo: Path, paths: list[Path]) -> None:
    rel = [str(p.resolve().relative_to(repo.resolve())) for p in paths]
    _git(repo, "reset", "--quiet", "--", *rel)
