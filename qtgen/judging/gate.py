"""Approve's judge gate: with `[judge] required = true` (and/or `min_score = N`), a draft not judged in its present
form, or judged revise or reject, or under min_score, is refused, unless a reviewer gives a reason to publish it
anyway (`approve --override "why"`, the reason box in the studio), which the commit message records.
"""

from __future__ import annotations

import re
import sqlite3

from ..config import Config
from ..errors import QtgenError
from ..drafts.queue import QueueItem


def judge_gate(config: Config, items: list[QueueItem]) -> list[str]:
    """What the judge gate (`[judge] required`, `min_score`) says against these drafts: a line per draft it
    refuses (unjudged when judging is required; judged revise or reject, or under min_score)."""
    return [f"{item.path.name}: {why}" for item, why in refused_by_judge(config, items)]


def refused_by_judge(config: Config, items: list[QueueItem]) -> list[tuple[QueueItem, str]]:
    gate = config.judge
    if not gate.get("required") and "min_score" not in gate:
        return []
    from .judge import Judge
    from .rubric import PASS

    judge = Judge.open(config, for_reading=True)
    try:
        found = judge.kept([(str(i.path), i.data, i.subject) for i in items if i.readable and i.data is not None])
    except (QtgenError, sqlite3.DatabaseError) as exc:  # the gate fails closed
        return [(item, f"the judge's grades cannot be read ({exc})") for item in items]
    finally:
        judge.close()
    problems = []
    for item in items:
        j = found.get(str(item.path))
        if j is None:
            if gate.get("required"):
                problems.append((item, f"not judged by {judge.model} in its present form"))
        elif j.verdict != PASS:
            problems.append((item, f"the judge says {j.verdict} ({j.score}/100)"))
        elif j.score < gate.get("min_score", 0):
            problems.append((item, f"judged {j.score}/100, under min_score {gate['min_score']}"))
    return problems


_INVISIBLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def override_line(reason: str | None) -> str:
    """The reason a reviewer gave to publish past the judge gate, as one line of the commit message."""
    from ..format.text import collapse_spaces

    text = collapse_spaces(_INVISIBLE.sub("", reason or ""))
    if not any(c.isalnum() for c in text):
        raise QtgenError("--override needs a reason in words (the commit message records it)")
    return f"Judge gate overridden: {text[:300]}"
