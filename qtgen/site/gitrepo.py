"""The site's git repository: add and commit exactly the paths we publish, nothing else.

Another git process (the user's own `git commit`, an editor's git integration) may hold the index lock for a
moment: such a step is tried again for a few seconds before it fails.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Callable

from ..errors import QtgenError

INDEX_LOCK_TRIES = 40  # about 10 s in all, 0.25 s apart


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    except FileNotFoundError:
        raise QtgenError("git is not installed or not on PATH") from None


def _git_retrying(repo: Path, *args: str) -> subprocess.CompletedProcess:
    """A git step that writes the index, tried again while another git process holds `index.lock`."""
    for _ in range(INDEX_LOCK_TRIES):
        r = _git(repo, *args)
        if r.returncode == 0 or "index.lock" not in r.stderr:
            return r
        time.sleep(0.25)
    return r


def _last_line(r: subprocess.CompletedProcess) -> str:
    """What went wrong, in git's words: its `fatal:`/`error:` line, else its first line that is not a hint."""
    lines = [line.strip() for line in (r.stderr.strip() or r.stdout.strip()).splitlines() if line.strip()]
    told = [line for line in lines if line.startswith(("fatal:", "error:"))]
    plain = [line for line in lines if not line.startswith("hint:")]
    return (told or plain or [str(r.returncode)])[0]


def toplevel(folder: Path) -> Path:
    """The repository holding `folder`; QtgenError if there is none."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    r = _git(probe, "rev-parse", "--show-toplevel")
    if r.returncode != 0:
        raise QtgenError(f"{folder}: not inside a git repository (use --no-commit to only place the files)")
    return Path(r.stdout.strip())


def git_dir(repo: Path) -> Path:
    """The repository's (common) git folder, where qtgen keeps the lock that serialises approvals."""
    r = _git(repo, "rev-parse", "--git-common-dir")
    if r.returncode != 0:
        raise QtgenError(f"{repo}: git rev-parse failed: {_last_line(r)}")
    path = Path(r.stdout.strip())
    return path if path.is_absolute() else repo / path


def _rel(repo: Path, paths: list[Path]) -> list[str]:
    return [str(p.resolve().relative_to(repo.resolve())) for p in paths]


def add(repo: Path, paths: list[Path]) -> None:
    r = _git_retrying(repo, "add", "--", *_rel(repo, paths))
    if r.returncode != 0:
        raise QtgenError(f"git add failed: {_last_line(r)}")


def commit_only(repo: Path, paths: list[Path], message: str, *, before: Callable[[], None] | None = None) -> str:
    """Stage and commit exactly `paths` (other staged or modified files stay as they were); the new sha.
    `before` runs between the two steps, the last moment to refuse (it raises)."""
    add(repo, paths)
    if before is not None:
        before()
    rel = _rel(repo, paths)
    r = _git_retrying(repo, "commit", "--quiet", "--only", "-m", message, "--", *rel)
    if r.returncode != 0:
        unstage(repo, paths)
        raise QtgenError(f"git commit failed: {_last_line(r)}")
    return head(repo)


def head(repo: Path) -> str | None:
    r = _git(repo, "rev-parse", "--verify", "--quiet", "HEAD")
    return r.stdout.strip() or None if r.returncode == 0 else None


def unstage(repo: Path, paths: list[Path]) -> bool:
    """Take `paths` out of the index again (back to HEAD); False if git could not."""
    rel = _rel(repo, paths)
    if head(repo) is None:  # no commit yet: nothing to go back to but "not staged"
        r = _git_retrying(repo, "rm", "--cached", "--quiet", "--ignore-unmatch", "--", *rel)
    else:
        r = _git_retrying(repo, "reset", "--quiet", "--", *rel)
    return r.returncode == 0


def commit_with(repo: Path, text: str, since: str | None = None, limit: int = 200) -> str | None:
    """The newest commit (of the last `limit`, or those after `since`) whose message holds `text`."""
    span = [f"{since}..HEAD"] if since else ["HEAD"]
    r = _git(repo, "log", f"-n{limit}", "-F", f"--grep={text}", "--format=%H", *span)
    if r.returncode != 0:
        return None
    found = r.stdout.split()
    return found[0] if found else None


def committed_as(repo: Path, path: Path, data: bytes) -> bool:
    """Whether HEAD holds `path` with exactly these bytes (and the index does not differ from it)."""
    rel = _rel(repo, [path])[0]
    r = subprocess.run(["git", "-C", str(repo), "cat-file", "blob", f"HEAD:{rel}"], capture_output=True)
    if r.returncode != 0 or r.stdout != data:
        return False
    return _git(repo, "diff", "--cached", "--quiet", "--", rel).returncode == 0


def tracked(repo: Path, path: Path) -> bool:
    """Whether the index or HEAD knows `path`."""
    rel = _rel(repo, [path])[0]
    return bool(_git(repo, "ls-files", "--", rel).stdout.strip())


def staged_sha256(repo: Path, path: Path) -> str | None:
    """The sha256 of what the index holds for `path` (None if it holds nothing)."""
    import hashlib

    rel = _rel(repo, [path])[0]
    r = subprocess.run(["git", "-C", str(repo), "cat-file", "blob", f":{rel}"], capture_output=True)
    return hashlib.sha256(r.stdout).hexdigest() if r.returncode == 0 else None
