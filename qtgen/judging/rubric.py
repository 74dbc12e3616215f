"""The judge's rubric as fixed rules: the reply's schema, and the verdict and score that follow from a reply's criteria
and quoted issues (see `judge` for the rules in words); the fence around the answer in the judge's prompt."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

from ..errors import QtgenError

TEMPLATE = "judge.j2"
MAX_TOKENS = 1500  # a grade's reply (a reasoning judge gets room to reason on top)
CRITERIA = ("correctness", "answers_question", "completeness", "clarity", "safety")
WEIGHTS = {"correctness": 3, "answers_question": 2, "completeness": 1, "clarity": 1, "safety": 2}
SEVERITIES = ("minor", "major", "critical")
PENALTY = {"minor": 5, "major": 20, "critical": 40}
PASS, REVISE, REJECT = "pass", "revise", "reject"
VERDICTS = (PASS, REVISE, REJECT)
PASS_SCORE = 70
WEAK = ("no model server is configured (no OPENAI_API_KEY or OPENAI_BASE_URL), so the judge would be the offline "
        "model, which is too small to judge answers (its verdicts are noise): configure a server and a capable "
        "judge_model, or pass --allow-weak-judge to try it anyway")

_CRITERION = {"type": "object", "additionalProperties": False, "required": ["score", "reason"],
              "properties": {"score": {"type": "integer"}, "reason": {"type": "string"}}}
SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["criteria", "issues"],
    "properties": {
        "criteria": {"type": "object", "additionalProperties": False, "required": list(CRITERIA),
                     "properties": {name: _CRITERION for name in CRITERIA}},
        "issues": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["quote", "problem", "correction", "severity"],
            "properties": {"quote": {"type": "string"}, "problem": {"type": "string"},
                           "correction": {"type": "string"}, "severity": {"type": "string", "enum": list(SEVERITIES)}}}},
    },
}

@dataclass
class Issue:
    quote: str
    problem: str
    correction: str
    severity: str


@dataclass
class Judgment:
    """One draft's grade, as `--json` gives it (one object a line)."""

    path: str
    verdict: str
    score: int
    criteria: dict  # name -> {"score": 1..5, "reason": str}
    issues: list[Issue]
    model: str
    cached: bool
    cost: float | None  # dollars this request cost now (0 when cached; None: no price known for the model)
    dropped_quotes: int = 0  # issues whose quote is not in the answer, dropped
    key: str = ""

    def as_json(self) -> dict:
        out = asdict(self)
        out.pop("key")
        return out

    def stored(self) -> dict:
        return {"verdict": self.verdict, "score": self.score, "criteria": self.criteria,
                "issues": [asdict(i) for i in self.issues], "model": self.model, "dropped_quotes": self.dropped_quotes}

    @classmethod
    def from_stored(cls, path: str, key: str, data: dict) -> "Judgment":
        return cls(path, data["verdict"], int(data["score"]), data["criteria"], [Issue(**i) for i in data["issues"]],
                   data["model"], True, 0.0, int(data.get("dropped_quotes", 0)), key)


_SPACE = re.compile(r"\s+")
_MARKS = re.compile(r"[*_`$\\\[\]]+")  # emphasis, code, math and link marks a reader never sees
_TYPOGRAPHIC = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
                              "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"', "\u2013": "-",
                              "\u2014": "-", "\u2212": "-", "\u2010": "-", "\u2011": "-", "\u00a0": " ",
                              "\u2026": "..."})
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")
MIN_QUOTE = 6  # characters: a shorter quote ("the") could be anywhere
MOST_ISSUES = 40  # issues kept with a grade (the most severe); every issue is read and counts
MOST_READ = 2000  # a reply listing more is not a grade


def _plain(text: str) -> str:
    """Text compared for quoting: as a reader sees it (no emphasis, code, math or link marks), typographic quotes
    and dashes as plain ones, spaces collapsed, case ignored."""
    return _SPACE.sub(" ", _MARKS.sub("", text.translate(_TYPOGRAPHIC))).strip().casefold()


def quoted_in(quote: str, answer: str) -> bool:
    """Whether `quote` is words of `answer` (as the reader sees them: bold, quotes' shape and spacing aside)."""
    q = _plain(quote)
    return len(q) >= MIN_QUOTE and q in _plain(answer)


def _text(value, limit: int, one_line: bool = True) -> str:
    """A string from the judge, safe to store and print: no control characters (terminal escapes), one line."""
    text = _CONTROL.sub("", value if isinstance(value, str) else "")
    return (" ".join(text.split()) if one_line else text)[:limit]


def graded(data: dict, answer: str) -> tuple[dict, list[Issue], int, int, str]:
    """(criteria, kept issues, quotes dropped, score, verdict) from the judge's reply; QtgenError if it is not one."""
    try:
        return _graded(data, answer)
    except QtgenError:
        raise
    except (TypeError, ValueError, OverflowError, AttributeError, RecursionError) as exc:
        raise QtgenError(f"the judge's reply is not a grade ({type(exc).__name__})") from None


def _graded(data: dict, answer: str) -> tuple[dict, list[Issue], int, int, str]:
    if not isinstance(data, dict) or not isinstance(data.get("criteria"), dict):
        raise QtgenError("the judge's reply holds no criteria")
    raw = data["criteria"]
    criteria = {}
    for name in CRITERIA:
        entry = raw.get(name)
        score = entry.get("score") if isinstance(entry, dict) else None
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise QtgenError(f"the judge's reply grades no {name!r} from 1 to 5")
        if not 1 <= score <= 5:  # "40/100" read as 5 would pass a draft the judge failed: not a grade at all
            raise QtgenError(f"the judge's reply grades {name!r} {score:g}, outside 1 to 5: not a grade")
        if score != int(score):  # the rubric's scale is whole points: 4.5 is no score of it
            raise QtgenError(f"the judge's reply grades {name!r} {score:g}, not a whole point from 1 to 5: not a grade")
        criteria[name] = {"score": int(round(score)), "reason": _text(entry.get("reason"), 300)}
    found = data.get("issues", [])
    if not isinstance(found, list):
        raise QtgenError("the judge's reply gives its issues as something other than a list")
    if len(found) > MOST_READ:
        raise QtgenError(f"the judge's reply lists {len(found)} issues: not a grade")
    issues, dropped, serious_dropped = [], 0, False
    for entry in found:  # every issue is read: its quote checked, the most severe kept
        if not isinstance(entry, dict):
            raise QtgenError("the judge's reply holds an issue that is not an object")
        severity = _text(entry.get("severity"), 20).lower().strip(" !.")
        severity = severity if severity in SEVERITIES else "major"  # an unknown word is not taken for a small one
        quote = _text(entry.get("quote"), 500)
        if not quoted_in(quote, answer):
            dropped += 1  # evidence the answer does not hold: it does not count against the answer...
            serious_dropped = serious_dropped or severity != "minor"
            continue
        issues.append(Issue(quote, _text(entry.get("problem"), 500), _text(entry.get("correction"), 500), severity))
    # the most severe first, then as the judge listed them; at most MOST_ISSUES kept (each one still counted)
    ranked = sorted(range(len(issues)), key=lambda n: (-SEVERITIES.index(issues[n].severity), n))
    counted = [issues[n] for n in ranked]
    issues = counted[:MOST_ISSUES]
    mean = sum(WEIGHTS[n] * (criteria[n]["score"] - 1) / 4 for n in CRITERIA) / sum(WEIGHTS.values())
    score = max(0, round(mean * 100) - sum(PENALTY[i.severity] for i in counted))
    if any(i.severity == "critical" for i in counted) or any(criteria[n]["score"] == 1 for n in
                                                             ("correctness", "answers_question", "safety")):
        verdict = REJECT
    elif any(i.severity == "major" for i in counted) or any(c["score"] <= 2 for c in criteria.values()) \
            or score < PASS_SCORE or serious_dropped:  # ...but a serious one unproved is read by a person
        verdict = REVISE
    else:
        verdict = PASS
    return criteria, issues, dropped, score, verdict


def fence_for(answer: str) -> str:
    """The marker line around the answer in the judge's prompt: it names a token drawn from the answer's own hash, and
    is checked against the answer as a model may read it (Unicode folded to its plain forms: dashes, letters, digits,
    case), so no answer can hold it, close it and speak as the prompt."""
    import hashlib
    import unicodedata

    def folded(text: str) -> str:
        return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).translate(_TYPOGRAPHIC)).casefold()

    seen = folded(answer)
    digest = hashlib.sha256(answer.encode("utf-8", "surrogatepass")).hexdigest()
    for size in range(12, 65, 4):
        token = digest[:size]
        fence = f"===== ANSWER {token} ====="
        if token not in seen and folded(fence) not in seen:
            return fence
    return f"===== ANSWER {digest} {len(answer)} ====="
