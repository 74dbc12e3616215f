"""`qtgen judge`: a second model grades each draft against a rubric, and its grade is kept with the draft's bytes.

The rubric is `prompts/judge.j2` (a subject's own `prompts/<subject>/judge.j2` replaces it for that subject). The
judge returns five criteria (1 to 5, each with a reason) and its issues, each a span quoted from the answer with
what is wrong, a correction and a severity; the request goes through the same response-format ladder as
drafting. A quote that does not occur in the answer is dropped and counted: a judge may not invent evidence.

The verdict and score follow from that evidence by fixed rules, not from the model's mood:

    score   = the criteria's weighted mean on 0..100 (correctness 3, answers_question 2, safety 2, completeness 1,
              clarity 1), less 40 per critical issue, 20 per major and 5 per minor one (0 at least)
    reject  = a critical issue, or correctness, answers_question or safety graded 1
    revise  = a major issue, any criterion at 2 or less, a score under 70, or a major or critical issue whose quote
              is not in the answer (it does not count against the answer, but a person reads it)
    pass    = everything else

A judgment is kept (`drafts/.qtgen/judgments.sqlite`) under a key made of the draft file's bytes, the judge model
and the rubric's text: judging an unchanged draft again sends nothing, and any edit or regeneration of the draft
(or a change of the rubric or the model) leaves it unjudged until judged again.

    judge = Judge.open(config)
    for judgment in judge.judge_many([(path, data), ...]): ...
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ..config import Config
from ..errors import InputError, QtgenError
from ..format.page import Page

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

from .store import JudgmentStore, migrations  # noqa: F401 - the store of grades, part of this module's API


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


@dataclass
class Judge:
    """Grades drafts with the judge model; keeps every grade by the draft's bytes, the model and the rubric."""

    config: Config
    model: str
    asked: int = 0
    cached: int = 0
    failed: list[str] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    spent: float = 0.0
    _client: object = None
    _store: JudgmentStore | None = None
    _prompts: object = None
    _rubrics: dict = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    force: bool = False  # ask again, whatever grade is kept (a bad reply, another server): the new grade replaces it

    @classmethod
    def open(cls, config: Config, model: str | None = None, *, allow_weak: bool = False,
             for_reading: bool = False) -> "Judge":
        """The judge for this site (`for_reading`: to read kept grades only, never to ask)."""
        from ..llm.backend import uses_local

        chosen = model or config.judge_model or config.judge.get("model") or config.model
        if not for_reading and uses_local(config) and not allow_weak:
            raise InputError(f"judge: {WEAK}")
        return cls(config, chosen)

    # -- what a grade is kept under ---------------------------------------------------------------------
    def rubric(self, subject_slug: str) -> str:
        """The judge template's exact text for a subject (its own, or the site's, or the packaged one)."""
        with self._lock:
            if subject_slug not in self._rubrics:
                from ..llm.prompts import Prompts

                if self._prompts is None:
                    self._prompts = Prompts(self.config.prompts)
                template = self._prompts._template(TEMPLATE, subject_slug)  # type: ignore[attr-defined]
                self._rubrics[subject_slug] = Path(template.filename).read_text(encoding="utf-8")
            return self._rubrics[subject_slug]

    def rubric_hash(self, subject: str) -> str:
        return hashlib.sha256(self.rubric(_slug_of(self.config, subject)).encode()).hexdigest()

    @property
    def server(self) -> str:
        """The server that grades (its host, never a credential): a grade from another server is another grade."""
        from ..llm.backend import uses_local
        from ..drafting.records import host_of

        if uses_local(self.config):
            return "local"
        return host_of(self.config.azure_endpoint or self.config.base_url) or "api.openai.com"

    def key(self, data: bytes, subject: str) -> str:
        """What a grade is kept under: the judge model and its server, the subject's rubric and the draft's bytes."""
        return hashlib.sha256(b"\0".join([self.model.encode(), self.server.encode(), self.rubric_hash(subject).encode(),
                                          data])).hexdigest()

    def store(self) -> JudgmentStore:
        if self._store is None:  # without a drafts folder, kept for this command only
            self._store = JudgmentStore(self.config, None if self.config.drafts.is_dir() else Path(":memory:"))
        return self._store

    def kept(self, drafts: Iterable[tuple[str, bytes, str]], fresh: bool = False) -> dict[str, Judgment]:
        """The current grade of each draft (name, bytes, subject) that has one (name -> Judgment), asking nothing;
        `fresh` (with `force`): none, so that every draft is asked again."""
        if fresh and self.force:
            return {}
        keys = {name: self.key(data, subject) for name, data, subject in drafts}
        found = self.store().get_many(list(keys.values()))
        return {name: Judgment.from_stored(name, key, found[key]) for name, key in keys.items() if key in found}

    # -- asking ------------------------------------------------------------------------------------------
    def messages(self, page: Page) -> list[dict]:
        from ..llm.prompts import Prompts

        with self._lock:
            if self._prompts is None:
                self._prompts = Prompts(self.config.prompts)
        text, _ = self._prompts.render(TEMPLATE, {  # type: ignore[attr-defined]
            "subject_slug": _slug_of(self.config, page.subject), "question": page.question,
            "subject": page.subject, "answer": page.decoded_answer(), "fence": fence_for(page.decoded_answer())})
        return [{"role": "user", "content": text}]

    def judge(self, name: str, data: bytes, page: Page, client=None, meter=None) -> Judgment:
        """The draft's grade: kept, or asked now (and kept). Two qtgen processes judging the same draft at once ask
        once: the second waits for the first's grade. Every attempt's tokens count (under `meter`'s cap, if any)."""
        key = self.key(data, page.subject)
        kept = None if self.force else self._kept_one(name, key)
        if kept is not None:
            return kept
        with self._claim(key):
            kept = None if self.force else self._kept_one(name, key)  # judged by another qtgen while this one waited
            if kept is not None:
                return kept
            try:
                reply, usage = (client or self.client()).ask_json(self.messages(page), "judgment", SCHEMA,
                                                                  max_tokens=MAX_TOKENS, meter=meter)
            except QtgenError as exc:
                self._count(getattr(exc, "usage", None))  # unreadable replies were billed too
                raise
            criteria, issues, dropped, score, verdict = graded(reply, page.decoded_answer())
            spent = self.price(usage)
            judgment = Judgment(name, verdict, score, criteria, issues, self.model, False, spent, dropped, key)
            self._count(usage, asked=True)
            with self._lock:
                self.store().put(key, name, hashlib.sha256(data).hexdigest(), self.model,
                                 self.rubric_hash(page.subject), judgment.stored(), usage.prompt_tokens,
                                 usage.completion_tokens, spent)
        return judgment

    def _count(self, usage, asked: bool = False) -> None:
        if usage is None:
            return
        with self._lock:
            self.asked += int(asked)
            self.tokens_in += usage.prompt_tokens
            self.tokens_out += usage.completion_tokens
            self.spent += self.price(usage) or 0.0

    def _kept_one(self, name: str, key: str) -> Judgment | None:
        with self._lock:
            found = self.store().get_many([key])
            if key not in found:
                return None
            self.cached += 1
        return Judgment.from_stored(name, key, found[key])

    def _claim(self, key: str):
        """Held while a draft is being judged (one of 256 locks in drafts/.qtgen/judging/, by the key)."""
        import contextlib

        from ..locks import Lock

        if not self.config.drafts.is_dir():
            return contextlib.nullcontext()
        wait = self.config.timeout * (self.config.retries + 1) + 60
        return Lock(self.config.state("judging", f"{key[:2]}.lock"), "another qtgen judging this draft", timeout=wait)

    def judge_many(self, drafts: list[tuple[str, bytes, Page]], *, client=None, concurrency: int = 4,
                   max_cost: float | None = None,
                   on_error: Callable[[str, str], None] = lambda name, why: None) -> Iterator[Judgment]:
        """Each draft's grade, as they come: kept ones first, then the rest asked on `concurrency` threads, under
        the provider's rate limit (learnt from its headers, shared with every other qtgen command), never past
        `max_cost` dollars (what one more request may cost is reserved before it is sent)."""
        from concurrent.futures import ThreadPoolExecutor

        kept = self.kept([(name, data, page.subject) for name, data, page in drafts], fresh=True)
        self.cached += len(kept)
        yield from kept.values()
        todo = [d for d in drafts if d[0] not in kept]
        if not todo:
            return
        client = client or self.client()
        if client.limiter is None:
            from ..llm.ratelimit import RateLimiter, shared_store

            client.limiter = RateLimiter(tokens_per_request=3000, concurrency=concurrency,
                                         store=shared_store(client.server, client.settings.api_key))
        from ..llm.pricing import CostCapReached, Meter
        from ..llm.pricing import of_config as pricing

        if max_cost is not None:
            pricing(self.config).require(self.model, "--max-cost")
        meter = Meter(pricing(self.config), max_cost)
        from ..llm.client import QuotaExhausted

        exhausted: list[QuotaExhausted] = []

        def one(draft: tuple[str, bytes, Page]) -> Judgment | None:
            name, data, page = draft
            if exhausted:  # the account has no credit: nothing more is sent
                return None
            try:
                return self.judge(name, data, page, client, meter)
            except CostCapReached as exc:
                on_error(name, f"not judged: {exc}")
                return None
            except QuotaExhausted as exc:
                exhausted.append(exc)
                return None
            except QtgenError as exc:
                with self._lock:
                    self.failed.append(f"{name}: {exc}")
                on_error(name, str(exc))
                return None

        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(todo)))) as pool:
            for judgment in pool.map(one, todo):
                if judgment is not None:
                    yield judgment
        if exhausted:  # the grades already in are kept; the rest waits for the next run
            raise exhausted[0]

    def client(self):
        """A client of the configured server asking the judge model (the CLI opens its own, which can also be
        the offline model)."""
        if self._client is None:
            from ..llm.backend import remote_settings
            from ..llm.client import ChatClient

            self._client = ChatClient(remote_settings(self.settings_config()))
        return self._client

    def settings_config(self) -> Config:
        """The config to open a client with: the judge model, asked at temperature 0."""
        return self.config.with_overrides(model=self.model, temperature=0.0)

    def price(self, usage) -> float | None:
        """Dollars for a grade's usage at the judge model's online price (None: no price known)."""
        from ..llm.pricing import of_config as pricing

        return pricing(self.config).cost(self.model, usage)

    def summary(self) -> str:
        from ..llm.pricing import of_config as pricing

        money = f", ${self.spent:.4f}" if pricing(self.config).known(self.model) else ""
        failed = f"; {len(self.failed)} failed (first: {self.failed[0]})" if self.failed else ""
        return (f"judged with {self.model}: {self.asked} asked ({self.tokens_in} tokens in, {self.tokens_out} out{money}), "
                f"{self.cached} kept from before{failed}")

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


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


def _slug_of(config: Config, subject: str) -> str:
    from ..format.slug import slug

    return slug(subject, config.slug_style)


def drafts_to_judge(config: Config, names: list[str], every: bool) -> tuple[list[tuple[str, bytes, Page]], list[str]]:
    """The named drafts (or, with `every`, all waiting) as (name, bytes, page); and a line per one holding no
    page (it is not judged: its bytes say nothing a judge can grade)."""
    from ..errors import ParseError
    from ..format.reader import parse
    from ..drafts.folder import DraftStore, draft_paths_in

    store = DraftStore(config)
    paths = draft_paths_in(store, names)
    if every:
        paths += [p for p in store.drafts() if p not in paths]
    out, unreadable = [], []
    for path in paths:
        try:
            data = path.read_bytes()
            out.append((str(path), data, parse(data.decode("utf-8"))))
        except (OSError, UnicodeDecodeError, ParseError) as exc:
            unreadable.append(f"{path.name}: not judged, it holds no page ({exc})")
    return out, unreadable


def verdicts_of(config: Config, items: list) -> dict[str, Judgment]:
    """The current grade of each queue item that has one (str(path) -> Judgment); nothing is asked. A store that
    cannot be read (damaged, or made by a newer qtgen) shows no grade rather than failing a listing."""
    import sqlite3

    if not config.state("judgments.sqlite").is_file():
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
    unjudged = InputError(f"{path.name}: not judged in its present form (qtgen judge {path.stem} first)")
    if not config.state("judgments.sqlite").is_file():
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
