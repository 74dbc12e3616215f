"""`qtgen suggest`: new questions for a subject that the site does not answer yet, ready for `qtgen batch`.

The model sees a compact picture of the subject (a sample of its questions within a character budget, and with a
topic list, the topics least covered first) and proposes questions with the topic each covers, in one structured
request (`prompts/suggest.j2`). qtgen then filters, counting what each filter removed:

    malformed        not a well-formed question: too short or long, neither a question nor an imperative
                     ("Explain ..."), leftover numbering, bullets or markup
    published        a question a published page asks (the same similarity as `qtgen draft`)
    drafted          a question a draft waiting for review asks
    rejected         a question rejected for this subject
    repeated         a question asked by an earlier suggestion
    off-subject      another subject's question: its known words, weighed by rarity, have almost nothing in
                     common with the subject's questions and clearly more with another subject's (off for a subject
                     of under 100 pages, and for a question on one of the given topics)

and asks again, with what it has so far, until it has `n` questions or `rounds` requests were made. Tokens and
cost are counted; `max_cost` is never passed (each round's most is reserved before it is sent).
"""

from __future__ import annotations

import csv
import io
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..config import Config
from ..errors import InputError, QtgenError
from ..llm.failures import QuotaExhausted
from ..format.plaintext import cell, formula_like, one_line, printable

SCHEMA = {"type": "object", "additionalProperties": False, "required": ["questions"],
          "properties": {"questions": {"type": "array", "items": {
              "type": "object", "additionalProperties": False, "required": ["question", "topic"],
              "properties": {"question": {"type": "string"}, "topic": {"type": "string"}}}}}}
FILTERS = ("malformed", "published", "drafted", "rejected", "repeated", "off-subject")
OWN_SIMILARITY = 0.02  # a suggestion this close to its subject's questions (cosine with their sum) is the subject's
OTHER_FACTOR = 4.0  # ... unless another subject is this many times closer
MIN_PAGES = 100
SUGGEST_THRESHOLD = 70.0  # a suggestion this close to a question asked already is dropped (draft refuses from 80)  # under this, a subject's questions are too few to tell what is foreign to it
CONTEXT_CHARS = 6000  # the sample of the subject's questions the model sees
MAX_TOKENS = 2500
IMPERATIVES = frozenset("explain describe compare contrast define discuss outline list summarize summarise identify "
                        "analyze analyse evaluate assess illustrate name state give show calculate derive prove "
                        "distinguish differentiate examine justify interpret determine solve find write critique "
                        "elaborate clarify classify demonstrate predict estimate".split())
_LEADING = re.compile(r"^\s*(\d+\s*[.)\]:-]|[-*•#>]|\(\w\)|q\d*[:.])", re.I)
_MARKUP = re.compile(r"\*\*|__|```|<[^>]*>|\[|\]|\{|\}|\||\$\$|^#|\\n|^=")


@dataclass
class Suggested:
    question: str
    topic: str


@dataclass
class Suggestions:
    subject: str
    accepted: list[Suggested] = field(default_factory=list)
    removed: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in FILTERS})
    rounds: int = 0
    proposed: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float | None = 0.0
    notes: list[str] = field(default_factory=list)

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["question", "subject", "topic"])
        for s in self.accepted:  # no cell a spreadsheet would run, no terminal escape
            writer.writerow([cell(s.question), cell(self.subject), cell(s.topic)])
        return out.getvalue()

    def as_json(self) -> dict:
        return {"subject": self.subject, "questions": [{"question": s.question, "topic": s.topic} for s in self.accepted],
                "removed": {k: len(v) for k, v in self.removed.items()}, "removed_questions": self.removed,
                "rounds": self.rounds, "proposed": self.proposed, "tokens_in": self.tokens_in,
                "tokens_out": self.tokens_out, "cost": self.cost, "notes": self.notes}


_WH = frozenset("what why how when where which who whom whose can could does do did is are was were should would "
                "will may might has have".split())


def tidy(text: str) -> str:
    """A suggestion's text with the end it lacks: "Why do cells divide" -> "Why do cells divide?", "Compare A and B"
    -> "Compare A and B."."""
    q = " ".join(text.split())
    first = re.sub(r"[^a-z]", "", q.split()[0].lower()) if q.split() else ""
    if q and q[-1] not in "?.!":
        if first in _WH:
            return q + "?"
        if first in IMPERATIVES:
            return q + "."
    return q


def _topic(text: str) -> str:
    """A suggested topic as it may be printed and kept: one line, no control character, nothing formula-like first."""
    topic = one_line(text, 100)
    while topic and formula_like(topic):
        topic = topic.lstrip(" =+-@\uff1d\uff0b\uff0d\uff20").strip()
    return topic


def well_formed(text: str) -> str | None:
    """Why a suggestion is not a well-formed question, or None."""
    from ..format.text import normalise_question

    if formula_like(text) or formula_like(printable(text).strip()):
        return "starts like a spreadsheet formula (= + - @)"
    if printable(text) != text:
        return "control characters"
    if _LEADING.match(text):
        return "leftover numbering or bullet"
    if _MARKUP.search(text):
        return "markup"
    try:
        q = normalise_question(tidy(text))
    except InputError as exc:
        return str(exc)
    if not 15 <= len(q) <= 200 or len(q.split()) < 4:
        return "too short" if len(q) < 200 else "too long"
    first = re.sub(r"[^a-z]", "", q.split()[0].lower())
    if not q.endswith("?") and first not in IMPERATIVES:
        return "neither a question nor an instruction such as 'Explain ...'"
    return None


class Suggester:
    """Asks the model for questions of one subject and filters them against the site."""

    def __init__(self, config: Config, index, subject: str, topics: list | None = None, *, seed: int = 1):
        from ..format.slug import slug
        from ..site.similarity import terms

        self.config, self.index, self.topics = config, index, topics
        self.entries, self.model = index.snapshot()
        self.slug = slug(subject, config.slug_style)
        mine = [e for e in self.entries if e.subject_slug == self.slug]
        if not mine:
            raise InputError(f"-s {subject!r}: the site has no page of this subject to learn it from")
        self.subject = max({e.subject for e in mine}, key=lambda s: sum(1 for e in mine if e.subject == s))
        self.existing = [e.question for e in mine]
        random.Random(seed).shuffle(self.existing)
        self.pages = len(mine)
        self.centroids = _centroids(self.entries, self.model)  # each subject's questions, summed and normalised
        self.topic_terms = [set(terms(t.topic)) for t in topics or []]
        self.rejected = self._rejected_questions()

    def _rejected_questions(self) -> list[str]:
        from ..errors import ParseError
        from ..format.reader import read
        from ..drafts.folder import DraftStore

        folder = DraftStore(self.config, migrate=False).rejected_root / self.slug
        out = []
        for path in sorted(folder.glob("*.md")) if folder.is_dir() else []:
            try:
                out.append(read(path).question)
            except (ParseError, OSError, UnicodeDecodeError):
                continue
        return out

    def messages(self, n: int, taken: list[str]) -> list[dict]:
        from ..llm.prompts import Prompts

        shown, used = [], 0
        for q in self.existing:
            if used + len(q) > CONTEXT_CHARS:
                break
            shown.append(q)
            used += len(q) + 3
        topics = sorted(self.topics or [], key=lambda t: t.pages)[:80]
        text, _ = Prompts(self.config.prompts).render("suggest.j2", {
            "subject_slug": self.slug, "subject": self.subject, "existing": shown, "taken": taken[-60:],
            "topics": topics, "n": n})
        return [{"role": "user", "content": text}]

    def _cosine(self, a: str, b: str) -> float:
        from ..site.similarity import terms

        va, vb = self.model.vector(terms(a)), self.model.vector(terms(b))
        return 100 * sum(w * vb.get(t, 0.0) for t, w in va.items())

    def judge(self, question: str, accepted: list[Suggested], topic: str = "") -> str | None:
        """The filter that removes a suggestion, or None to keep it."""
        if well_formed(question) is not None:
            return "malformed"
        threshold = min(self.config.similar_threshold, SUGGEST_THRESHOLD)  # dropping a borderline one costs nothing
        for match in self.index.similar(question, limit=3, threshold=threshold):
            return "published" if match.entry.source == "content" else "drafted"
        if any(self._cosine(question, r) + 1e-9 >= threshold for r in self.rejected):
            return "rejected"
        if any(question.casefold() == s.question.casefold() or self._cosine(question, s.question) + 1e-9 >= threshold
               for s in accepted):
            return "repeated"
        if self.off_subject(question, topic):
            return "off-subject"
        return None

    def off_subject(self, question: str, topic: str = "") -> bool:
        """Whether a question is another subject's: its known words (weighed by rarity) have almost nothing in
        common with this subject's questions and clearly more with another subject's. Words the site has never
        seen say nothing either way; a question on one of the given topics is the subject's; a subject of fewer
        than MIN_PAGES pages has too few questions to tell (the filter is off for it)."""
        from ..site.similarity import terms

        if self.pages < MIN_PAGES:
            return False
        if topic and any(set(terms(topic)) and set(terms(topic)) <= t for t in self.topic_terms):
            return False
        known = [t for t in terms(question) if t in self.model.df and not t.isdigit()]
        if not known:
            return False
        vector = self.model.vector(known)
        sims = {s: sum(w * c.get(t, 0.0) for t, w in vector.items()) for s, c in self.centroids.items()}
        here = sims.get(self.slug, 0.0)
        elsewhere = max((v for s, v in sims.items() if s != self.slug), default=0.0)
        return here < OWN_SIMILARITY and elsewhere > OTHER_FACTOR * here + OWN_SIMILARITY

    @staticmethod
    def _spent(out: "Suggestions", meter, priced: bool) -> None:
        """Every attempt's tokens and cost so far (unreadable replies were billed too)."""
        out.tokens_in, out.tokens_out = meter.usage.prompt_tokens, meter.usage.completion_tokens
        out.cost = meter.spent if priced else None

    def run(self, client, n: int = 50, rounds: int = 4, max_cost: float | None = None,
            notify: Callable[[str], None] = lambda m: None) -> Suggestions:
        from ..format.text import normalise_question
        from ..llm.pricing import CostCapReached, Meter
        from ..llm.pricing import cap_of, of_config as pricing

        out = Suggestions(self.subject)
        model = client.model_name
        cap_of(self.config, max_cost, model=model)
        meter = Meter(pricing(self.config), max_cost)
        priced = pricing(self.config).known(model)
        out.cost = 0.0 if priced else None
        failed = 0
        while len(out.accepted) < n and out.rounds < rounds:
            want = min(60, (n - len(out.accepted)) * 3 // 2 + 5)
            messages = self.messages(want, [s.question for s in out.accepted])
            out.rounds += 1
            try:
                data, usage = client.ask_json(messages, "suggestions", SCHEMA, max_tokens=MAX_TOKENS, meter=meter)
                failed = 0
            except CostCapReached:
                out.rounds -= 1
                out.notes.append(f"--max-cost ${max_cost:g} reached: no more rounds")
                break
            except QuotaExhausted:  # no round can succeed until the account has credit again
                self._spent(out, meter, priced)
                raise
            except QtgenError as exc:
                failed += 1
                out.notes.append(f"round {out.rounds}: {exc}")
                if failed >= 2:  # a refused key, an unknown model: asking again only fails again
                    self._spent(out, meter, priced)
                    raise QtgenError(f"suggest: two rounds in a row failed; the last: {exc}") from None
                continue
            finally:
                self._spent(out, meter, priced)
            found = data.get("questions") if isinstance(data, dict) else None
            if not isinstance(found, list):
                out.notes.append(f"round {out.rounds}: the reply holds no list of questions")
                continue
            for item in found[:200]:
                raw = item.get("question") if isinstance(item, dict) else item
                if not isinstance(raw, str):
                    continue
                out.proposed += 1
                topic = item.get("topic") if isinstance(item, dict) and isinstance(item.get("topic"), str) else ""
                why = self.judge(raw, out.accepted, topic)
                if why is not None:
                    out.removed[why].append(one_line(raw, 200))
                    continue
                out.accepted.append(Suggested(normalise_question(tidy(raw)), _topic(topic)))
                if len(out.accepted) >= n:
                    break
            notify(f"round {out.rounds}: {len(out.accepted)} of {n} question(s) so far")
        if len(out.accepted) < n:
            out.notes.append(f"{len(out.accepted)} of {n} question(s) after {out.rounds} round(s) (--rounds allows more)")
        return out


def _centroids(entries, model) -> dict[str, dict[str, float]]:
    import math

    sums: dict[str, dict[str, float]] = {}
    for i, e in enumerate(entries):
        into = sums.setdefault(e.subject_slug, {})
        for t, w in model.vectors[i].items():
            into[t] = into.get(t, 0.0) + w
    out = {}
    for slug_, c in sums.items():
        norm = math.sqrt(sum(w * w for w in c.values())) or 1.0
        out[slug_] = {t: w / norm for t, w in c.items()}
    return out


def check_out(path: Path, config: Config) -> None:
    """Refuse, before anything is asked, an --out the list could not be written to."""
    import os

    from ..format.files import inside

    if path.suffix.lower() != ".csv":
        raise InputError(f"--out {path}: name a .csv file (qtgen batch reads a list by its extension)")
    if inside(path.resolve(), config.content.resolve()) or inside(path.resolve(), config.drafts.resolve()):
        raise InputError(f"--out {path}: inside the site's content or drafts; write the list elsewhere")
    if path.exists() or path.is_symlink():
        raise InputError(f"--out {path}: exists already; not overwritten (choose another name)")
    folder = path.resolve().parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise InputError(f"--out {path}: {folder} is not a folder qtgen can write in")


def write_csv(path: Path, text: str, config: Config) -> None:
    from ..format.files import write_atomic

    check_out(path, config)
    write_atomic(path, text)
