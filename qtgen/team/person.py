"""Who made a decision: a person's name and e-mail address, one line each, as decisions, versions and commits
record it. On the command line it is the site checkout's git identity (or the login name); in the studio, the
account that is logged in."""

from __future__ import annotations

import getpass
import re
import subprocess
from dataclasses import dataclass

from ..config import Config
from ..format.plaintext import one_line

_NOT_IN_NAME = re.compile(r"[<>\"\\]")


@dataclass(frozen=True)
class Person:
    name: str
    email: str = ""

    def line(self) -> str:
        """`Name <email>`: what a version, a decision and a `Reviewed-by:` trailer record (one line, nothing a
        trailer or an address could be split on)."""
        return f"{self.name} <{self.email}>" if self.email else self.name


def cleaned(name: object, email: object = "") -> Person:
    """A person from text typed by someone: one line each, without the characters that end a name or an address."""
    clean_name = _NOT_IN_NAME.sub("", one_line(name, 80)).strip() or "unknown"
    clean_email = _NOT_IN_NAME.sub("", one_line(email, 120)).replace(" ", "")
    return Person(clean_name, clean_email)


def parsed(line: str) -> Person:
    """The person a recorded `Name <email>` names."""
    name, _, rest = str(line).partition("<")
    return cleaned(name, rest.rstrip(">"))


_local: dict[str, Person] = {}


def local(config: Config) -> Person:
    """Whoever runs qtgen here: the git identity of the site's checkout, else the login name (asked once)."""
    where = str(config.content if config.content.is_dir() else ".")
    if where not in _local:
        def git(key: str) -> str:
            try:
                r = subprocess.run(["git", "-C", where, "config", key], capture_output=True, text=True, timeout=10)
            except (OSError, subprocess.SubprocessError):
                return ""
            return r.stdout.strip() if r.returncode == 0 else ""

        name = git("user.name")
        if not name:
            try:
                name = getpass.getuser()
            except (KeyError, OSError):
                name = "unknown"
        _local[where] = cleaned(name, git("user.email"))
    return _local[where]


def line_of(config: Config, by: Person | None) -> str:
    """What records the decision's maker: `by`, or whoever runs qtgen here."""
    return (by or local(config)).line()
