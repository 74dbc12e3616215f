"""How far the judge agrees with the reviewers: every human decision kept with the grade the judge had given.

Each decision on a draft (approve, approve after an edit or a regeneration, regenerate, reject; from the CLI or the
studio) is recorded beside the judge's grade of the very bytes decided on, in `drafts/.qtgen/judgments.sqlite`;
an approval of a draft changed since it was judged is "edit+approve" against that earlier grade, and a decision on
a form the judge never saw counts for nothing. Only the first decision on each grade counts (regenerating twice
from one grade is one decision), and drafts published unread (`approve --all-clean`, an audited lot) are no
reviewer's decision. `qtgen judge calibrate` reads them
back: the confusion matrix (judge verdict x human decision), Cohen's kappa (the decisions read as the verdict they
amount to: approve = pass, edit+approve and regenerate = revise, reject = reject), the share of judge-passed drafts
approved unchanged, and the lowest `min_score` that keeps the share of human-rejected drafts among those it lets
through under a target.

Recording never fails a decision: a store that cannot be written is skipped.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Config
from ..errors import QtgenError
from .judge import JudgmentStore
from .rubric import PASS, REJECT, REVISE, VERDICTS

APPROVE, EDITED, REGENERATE, REJECTED = "approve", "edit+approve", "regenerate", "reject"
DECISIONS = (APPROVE, EDITED, REGENERATE, REJECTED)
AMOUNTS_TO = {APPROVE: PASS, EDITED: REVISE, REGENERATE: REVISE, REJECTED: REJECT}


def record(config: Config, path: Path, data: bytes | None, subject: str | None, question: str | None,
           decision: str, *, sha: str | None = None, once_since: float | None = None, by: str | None = None) -> None:
    """Keep one human decision on a draft with the judge's last grade of it (none if it was never judged). With
    `once_since`, not when the same decision on the same bytes was kept since then (an approval's journal may be
    acted on twice: by the approval and, killed after recording, by recovery)."""
    if not config.drafts.is_dir():
        return
    try:
        store = JudgmentStore(config)
        try:
            verdict = score = model = key = None
            sha = hashlib.sha256(data).hexdigest() if data is not None else sha
            if once_since is not None and store.decided_since(str(path), sha, once_since, (decision, EDITED)):
                return
            found = store.graded_bytes(sha) if sha else None  # the grade of what the reviewer decided on
            if found is None and decision == APPROVE:
                latest = store.latest(str(path))
                if latest is not None:  # judged, then changed (edited, regenerated) by the reviewer, then approved
                    found, decision = (latest[2], latest[1]), EDITED
            if found is not None:
                key, grade = found
                verdict, score, model = grade["verdict"], int(grade["score"]), grade["model"]
            store.add_decision(str(path), sha, subject, question, decision, verdict, score, model, key, by)
        finally:
            store.close()
    except (sqlite3.Error, OSError, QtgenError, KeyError, ValueError):
        pass  # a decision is never refused because its record could not be kept


@dataclass
class Calibration:
    matrix: dict  # verdict -> decision -> count
    judged: int  # decisions on judged drafts
    unjudged: int  # decisions on drafts never judged (not in the figures)
    kappa: float | None
    passed_unchanged: float | None  # of judge-passed drafts, the share approved unchanged
    target: float
    min_score: int | None  # the lowest score threshold keeping human-rejected drafts under `target` of those let through
    let_through: int = 0  # judged drafts at or above min_score
    rejected_share: float | None = None  # of those, the share humans rejected
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return {"matrix": self.matrix, "judged": self.judged, "unjudged": self.unjudged, "kappa": self.kappa,
                "passed_approved_unchanged": self.passed_unchanged, "target": self.target,
                "min_score": self.min_score, "let_through": self.let_through, "rejected_share": self.rejected_share}


def kappa(pairs: list[tuple[str, str]]) -> float | None:
    """Cohen's kappa of two raters over the same categories; None with nothing to compare."""
    n = len(pairs)
    if not n:
        return None
    observed = sum(1 for a, b in pairs if a == b) / n
    expected = sum((sum(1 for a, _ in pairs if a == c) / n) * (sum(1 for _, b in pairs if b == c) / n)
                   for c in {x for pair in pairs for x in pair})
    if expected >= 1:
        return 1.0 if observed >= 1 else None
    return (observed - expected) / (1 - expected)


def calibrate(config: Config, target: float = 0.05) -> Calibration:
    rows = []
    if JudgmentStore.exists(config):
        store = JudgmentStore(config)
        try:
            rows = store.decisions()
        finally:
            store.close()
    judged, answered = [], set()
    for r in rows:  # the first decision on each grade counts: a grade acted on twice is one decision
        if r["verdict"] in VERDICTS and r["decision"] in DECISIONS and r["grade"] not in answered:
            answered.add(r["grade"])
            judged.append(r)
    matrix = {v: {d: 0 for d in DECISIONS} for v in VERDICTS}
    for r in judged:
        matrix[r["verdict"]][r["decision"]] += 1
    passed = [r for r in judged if r["verdict"] == PASS]
    unchanged = (sum(1 for r in passed if r["decision"] == APPROVE) / len(passed)) if passed else None
    threshold, through, share = None, 0, None
    for s in sorted({int(r["score"]) for r in judged if r["verdict"] == PASS}):
        # what the gate lets through at min_score s: drafts the judge passed with at least s (a revise or reject
        # verdict is refused whatever its score)
        admitted = [r for r in judged if r["verdict"] == PASS and r["score"] >= s]
        rejected = sum(1 for r in admitted if r["decision"] == REJECTED) / len(admitted)
        if rejected <= target + 1e-12:
            threshold, through, share = s, len(admitted), rejected
            break
    cal = Calibration(matrix, len(judged), len(rows) - len(judged),
                      kappa([(r["verdict"], AMOUNTS_TO[r["decision"]]) for r in judged]), unchanged, target,
                      threshold, through, share)
    if len(judged) < 30:
        cal.notes.append(f"only {len(judged)} judged decision(s): too few for these figures to mean much (30 or more)")
    return cal
