"""What the judge's grades say to the queue: each draft's current grade, the riskiest first, and a grade as feedback
for the model."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..config import Config
from ..errors import InputError, QtgenError
from .judge import Judge, JudgmentStore
from .rubric import PASS, REJECT, REVISE, Judgment


def verdicts_of(config: Config, items: list) -> dict[str, Judgment]:
    """The current grade of each queue item that has one (str(path) -> Judgment); nothing is asked. A store that
    cannot be read (damaged, or made by a newer qtgen) shows no grade rather than failing a listing."""
    import sqlite3

    if not JudgmentStore.exists(config):
        return {}
    judge = Judge.open(config, for_reading=True)
    try:
        return judge.kept([(str(i.path), i.data, i.subject) for i in items if i.data is not None and i.readable])
    except (QtgenError, sqlite3.DatabaseError):
        return {}
    finally:
        judge.close()


def risk_order(items: list, verdicts: dict[str, Judgment]) -> list:
    """The riskiest first: drafts with lint errors (unpublishable as they stand), then rejected, revise, unjudged
    and passed; a lower score first."""
    def key(item):
        errors = 0 if item.errors or item.page is None else 1
        j = verdicts.get(str(item.path))
        if j is None:
            return (errors, 2, 0)
        return (errors, {REJECT: 0, REVISE: 1, PASS: 3}[j.verdict], j.score)
    return sorted(items, key=key)


class NothingToChange(InputError):
    """The judge passed the draft with no issue and no weak criterion."""


def judge_feedback(config: Config, path: Path) -> str:
    """The judge's grade of a draft as it stands, as feedback for the model: each issue with its quote and
    correction, and the criteria graded 3 or less. InputError when this form of the draft was never judged, or
    the judge found nothing to change."""
    unjudged = InputError(f"{path.name}: not judged in its present form (qtgen judge run {path.stem} first)")
    if not JudgmentStore.exists(config):
        raise unjudged
    store = JudgmentStore(config)
    try:
        found = store.graded_bytes(hashlib.sha256(path.read_bytes()).hexdigest())
    finally:
        store.close()
    if found is None:
        raise unjudged
    grade = found[1]
    issues = grade.get("issues") or []
    weak = [f"{name.replace('_', ' ')} ({c['score']}/5: {c['reason']})" for name, c in grade["criteria"].items()
            if c["score"] <= 3]
    if not issues and not weak:
        raise NothingToChange(f"{path.name}: the judge found nothing to change ({grade['verdict']}, {grade['score']}/100)")
    parts = [f"({n}) \"{i['quote']}\": {i['problem'].rstrip('. ')}. Correct: {i['correction'].rstrip('. ')}."
             for n, i in enumerate(issues, 1)]
    if weak:
        parts.append("Also improve: " + "; ".join(weak) + ".")
    return "A reviewer's check found these problems; fix each and keep what is right. " + " ".join(parts)
