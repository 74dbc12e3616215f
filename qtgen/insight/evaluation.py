"""`qtgen eval`: compare prompts or models on evidence before switching.

The same sample of questions (drawn from the site's published questions, or a given list) is drafted with each
variant (a prompts folder, a model, a temperature, or several of them), exactly as `qtgen draft` drafts but without
touching the drafts queue: nothing is written but qtgen's own cache. Each page is built, validated and linted
as a draft would be, and judged when a judge is configured. Per variant, per page: lint errors and warnings,
quality-gate hits (QT017-QT024), the judge's score and verdicts, words, whether the model's own description fit
the site's bounds, tokens, cost and latency.

Every answer is kept (`drafts/.qtgen/eval.sqlite`) by the variant's model, server, settings, the exact text of its
templates, and the question: running an eval again costs nothing, and adding a variant costs only that variant.

    variants = [Variant.parse("a:prompts/"), Variant.parse("b:prompts-new/")]
    result = evaluate(config, sample(config, 30), variants)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..config import Config
from ..database import Database, Migrations
from ..errors import InputError, QtgenError
from ..format.page import Page

EVAL_DATE = dt.date(2000, 1, 1)
GATE = ("QT017", "QT018", "QT019", "QT020", "QT021", "QT022", "QT023", "QT024", "QT025")

migrations = Migrations()


@migrations
def m001_answers(db) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, variant TEXT NOT NULL, question TEXT NOT NULL, "
               "subject TEXT NOT NULL, completion TEXT NOT NULL, created REAL NOT NULL)")


class EvalStore(Database):
    migrations = migrations

    def __init__(self, config: Config):
        super().__init__(config.state("eval.sqlite") if config.drafts.is_dir() else Path(":memory:"))


@dataclass
class Variant:
    """A named way of drafting: a prompts folder, a model, a temperature (each optional: the config's otherwise)."""

    name: str
    prompts: Path | None = None
    model: str | None = None
    temperature: float | None = None
    effort: str | None = None  # reasoning_effort
    spec: str = ""  # as given

    @classmethod
    def parse(cls, text: str, cwd: Path | None = None) -> "Variant":
        name, sep, spec = text.partition(":")
        name = name.strip()
        if not sep or not name or not spec.strip() or not name.replace("-", "").replace("_", "").isalnum():
            raise InputError(f"--variant {text!r}: use NAME:SPEC, such as a:prompts/, b:prompts-new/ or "
                             "c:model=gpt-6.1-terra,reasoning_effort=medium (several parts joined by commas)")
        variant = cls(name, spec=spec.strip())
        seen: set[str] = set()
        for part in (p.strip() for p in spec.split(",")):
            key, eq, value = part.partition("=")
            kind = key.strip() if eq else "folder"
            if not part or kind in seen:
                raise InputError(f"--variant {text!r}: an empty or repeated part ({part or 'empty'!r})")
            seen.add(kind)
            if eq and key.strip() == "model" and value.strip():
                variant.model = value.strip()
            elif eq and key.strip() == "temperature":
                try:
                    variant.temperature = float(value)
                except ValueError:
                    raise InputError(f"--variant {text!r}: temperature takes a number") from None
            elif eq and key.strip() == "reasoning_effort" and value.strip():
                variant.effort = value.strip()
            elif not eq:
                folder = (Path(cwd or Path.cwd()) / part).resolve()
                if not folder.is_dir():
                    raise InputError(f"--variant {text!r}: no prompts folder {part}")
                variant.prompts = folder
            else:
                raise InputError(f"--variant {text!r}: {part!r} is not a prompts folder, model=NAME, "
                                 "temperature=X or reasoning_effort=E")
        return variant

    def config(self, base: Config) -> Config:
        return base.with_overrides(prompts_dir=self.prompts, model=self.model, temperature=self.temperature,
                                   reasoning_effort=self.effort)

    def describe(self) -> str:
        return self.spec or "the site's prompts and model"


@dataclass
class Sampled:
    question: str
    subject: str
    source: str = ""  # the published page it was drawn from, if any


def sample(config: Config, index, n: int, subject: str | None = None, seed: int = 1) -> list[Sampled]:
    """n published questions at random (the same n for the same seed and site), optionally of one subject."""
    if n < 1:
        raise InputError("--sample: at least 1 question")
    pool = [e for e in index.entries() if e.source == "content" and e.question and e.subject
            and (subject is None or e.subject.casefold() == subject.casefold())]
    if not pool:
        raise InputError("eval: no published question to draw a sample from" + (f" in subject {subject!r}" if subject
                                                                                   else "") + " (or give --questions FILE)")
    seen: dict[str, object] = {}
    for e in pool:
        seen.setdefault(e.question.casefold(), e)
    chosen = random.Random(seed).sample(sorted(seen.values(), key=lambda e: e.path), min(n, len(seen)))
    return [Sampled(e.question, e.subject, e.path) for e in chosen]


def from_list(path: Path, subject: str | None, n: int | None) -> list[Sampled]:
    from ..batch.question_list import read_questions

    rows, bad = read_questions(path, subject)
    if bad:
        raise InputError(bad[0].text())
    out = [Sampled(r.question, r.subject) for r in rows]
    if not out:
        raise InputError(f"{path}: no questions")
    return out[:n] if n else out


@dataclass
class Outcome:
    """One question drafted with one variant."""

    question: str
    subject: str
    variant: str
    page: Page | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    gate: list[str] = field(default_factory=list)
    words: int = 0
    description_fit: bool = False
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_reasoning: int = 0  # of tokens_out
    cost: float = 0.0
    latency: float = 0.0
    cached: bool = False
    judge_score: int | None = None
    judge_verdict: str | None = None
    failed: str | None = None

    def as_json(self) -> dict:
        return {"question": self.question, "subject": self.subject, "variant": self.variant, "failed": self.failed,
                "errors": self.errors, "warnings": self.warnings, "gate": self.gate, "words": self.words,
                "description_fit": self.description_fit, "tokens_in": self.tokens_in, "tokens_out": self.tokens_out,
                "tokens_reasoning": self.tokens_reasoning, "cost": self.cost, "latency": round(self.latency, 3), "cached": self.cached,
                "judge_score": self.judge_score, "judge_verdict": self.judge_verdict,
                "answer": self.page.decoded_answer() if self.page else None}


def key_of(config: Config, question: str, subject: str) -> str:
    """What an answer is kept under: the request as a server would get it (the rendered messages, which hold the
    templates and every setting they use), the model, the server, temperature, max_tokens and the reply format."""
    from ..drafting.drafter import build_prompt, plan
    from ..drafting.records import host_of

    structured = config.structured is not False
    messages = build_prompt(config, plan(config, question, subject, force=True), structured=structured,
                            parts=False).messages()
    parts = [config.model, host_of(config.base_url) or f"local:{config.local_model or 'default'}",
             f"{config.temperature:g}", str(config.max_tokens), str(structured), config.reasoning_effort,
             json.dumps(messages, ensure_ascii=False, sort_keys=True)]
    return hashlib.sha256("\0\0\0".join(parts).encode()).hexdigest()


def _completion_to_json(c) -> str:
    return json.dumps({"answer": c.answer, "page_description": c.page_description, "page_keywords": c.page_keywords,
                       "model": c.model, "mode": c.mode, "tokens_in": c.usage.prompt_tokens,
                       "tokens_out": c.usage.completion_tokens, "tokens_reasoning": c.usage.reasoning_tokens,
                       "tokens_cached": c.usage.cached_tokens, "latency": c.latency}, ensure_ascii=False)


def _completion_from(d: dict):
    from ..llm.reply.reader import Completion
    from ..llm.reply.usage import Usage

    return Completion(d["answer"], d["page_description"], d["page_keywords"], d["model"], d["mode"],
                      Usage(d["tokens_in"], d["tokens_out"], d.get("tokens_reasoning", 0), d.get("tokens_cached", 0)),
                      latency=d["latency"])


def outcome_of(config: Config, variant: str, q: Sampled, completion, cached: bool) -> Outcome:
    """The page a completion makes, validated and linted as a draft (no id reserved, nothing written)."""
    from ..format.writer import render
    from ..checks import lint
    from ..llm.pricing import cost
    from ..drafting.drafter import check, compose, plan

    p = plan(config, q.question, q.subject, force=True)
    page, _ = compose(config, p, completion, page_id=1, date=EVAL_DATE)  # fixed: the same page judged once
    findings = lint.lint_page(page, config)
    violations = check(config, render(page), p.draft_path)
    described = completion.page_description or ""
    out = Outcome(q.question, q.subject, variant, page)
    out.errors = [f"{v.field}: {v.message}" for v in violations if v.level == "error"] + \
        [f"{f.rule} {f.message}" for f in findings if f.level == "error"]
    out.warnings = [f"{v.field}: {v.message}" for v in violations if v.level == "warning"] + \
        [f"{f.rule} {f.message}" for f in findings if f.level == "warning"]
    out.gate = sorted({f.rule for f in findings if f.rule in GATE})
    out.words = lint.words(page)
    out.description_fit = config.desc_min <= len(described.strip()) <= config.desc_max
    out.tokens_in, out.tokens_out = completion.usage.prompt_tokens, completion.usage.completion_tokens
    out.tokens_reasoning = completion.usage.reasoning_tokens
    out.cost = cost(config, completion.model or config.model, completion.usage)
    out.latency, out.cached = completion.latency, cached
    return out


def evaluate(config: Config, questions: list[Sampled], variants: list[Variant], *, judge: bool = False,
             notify: Callable[[str], None] = lambda m: None,
             on_wait: Callable[[float, Exception], None] | None = None, max_cost: float | None = None) -> list[Outcome]:
    """Every question drafted (or found kept) with every variant; judged too with `judge`; never past `max_cost`
    dollars of drafting (what the next request may cost is reserved before it is sent; kept answers cost nothing)."""
    from ..llm.backend import open_client
    from ..llm.pricing import CostCapReached, Meter
    from ..llm.pricing import cap_of, of_config as pricing
    from ..drafting.drafter import ask, plan

    for variant in variants:
        cap_of(variant.config(config), max_cost)
    meter = Meter(pricing(config), max_cost)

    if not variants:
        raise InputError("eval: give at least one --variant NAME:SPEC")
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise InputError(f"eval: variant names must differ ({', '.join(names)})")
    store = EvalStore(config)
    outcomes: list[Outcome] = []
    judge_ = None
    try:
        if judge:
            from ..judging.judge import Judge

            judge_ = Judge.open(config)
        for variant in variants:
            cfg = variant.config(config)
            keys = {q.question + "\0" + q.subject: key_of(cfg, q.question, q.subject) for q in questions}
            kept = store.json_by_key("answers", "completion", list(keys.values())) if keys else {}
            todo = [q for q in questions if keys[q.question + "\0" + q.subject] not in kept]
            found: dict[str, tuple] = {k: (_completion_from(v), True) for k, v in kept.items()}
            if todo:
                notify(f"variant {variant.name} ({variant.describe()}): drafting {len(todo)} of {len(questions)} "
                       f"question(s), {len(questions) - len(todo)} kept from before")
                with open_client(cfg, notify=notify, on_wait=on_wait) as client:
                    for q in todo:
                        key = keys[q.question + "\0" + q.subject]
                        try:
                            completion = ask(cfg, client, plan(cfg, q.question, q.subject, force=True), meter=meter)
                        except CostCapReached as exc:
                            outcomes.append(Outcome(q.question, q.subject, variant.name, failed=str(exc)))
                            continue
                        except QtgenError as exc:
                            outcomes.append(Outcome(q.question, q.subject, variant.name, failed=str(exc)))
                            continue
                        with store.db:
                            store.db.execute("BEGIN IMMEDIATE")
                            store.db.execute("INSERT OR REPLACE INTO answers (key, variant, question, subject, completion, "
                                             "created) VALUES (?, ?, ?, ?, ?, ?)",
                                             (key, variant.name, q.question, q.subject, _completion_to_json(completion),
                                              time.time()))
                        found[key] = (completion, False)
            for q in questions:
                key = keys[q.question + "\0" + q.subject]
                if key not in found:
                    continue
                completion, cached = found[key]
                try:
                    out = outcome_of(cfg, variant.name, q, completion, cached)
                except QtgenError as exc:  # a refusal, an empty answer: that page failed, not the eval
                    outcomes.append(Outcome(q.question, q.subject, variant.name, failed=str(exc)))
                    continue
                if judge_ is not None and out.page is not None:
                    from ..format.writer import render

                    try:
                        j = judge_.judge(f"eval:{variant.name}:{q.question}", render(out.page).encode("utf-8"), out.page)
                        out.judge_score, out.judge_verdict = j.score, j.verdict
                        out.cost += j.cost or 0.0
                    except QtgenError as exc:
                        notify(f"judge: {q.question[:50]!r} ({variant.name}): {exc}")
                outcomes.append(out)
    finally:
        store.close()
        if judge_ is not None:
            judge_.close()
    order = {(q.question, q.subject): n for n, q in enumerate(questions)}
    return sorted(outcomes, key=lambda o: (names.index(o.variant), order.get((o.question, o.subject), 0)))


def table(outcomes: list[Outcome], variants: list[Variant]) -> list[tuple[str, list[str]]]:
    """The side-by-side table: (metric, one cell per variant), each an average per page."""
    rows: list[tuple[str, list[str]]] = []

    def per(variant: str) -> list[Outcome]:
        return [o for o in outcomes if o.variant == variant and o.failed is None]

    def avg(values: list[float]) -> float:
        return sum(values) / len(values) if values else 0.0

    cells: dict[str, list[str]] = {}
    for v in variants:
        got = per(v.name)
        failed = sum(1 for o in outcomes if o.variant == v.name and o.failed)
        judged = [o for o in got if o.judge_score is not None]
        verdicts = {k: sum(1 for o in judged if o.judge_verdict == k) for k in ("pass", "revise", "reject")}
        cells[v.name] = [
            f"{len(got)}" + (f" ({failed} failed)" if failed else ""),
            f"{avg([len(o.errors) for o in got]):.2f}",
            f"{avg([len(o.warnings) for o in got]):.2f}",
            f"{avg([len(o.gate) for o in got]):.2f}",
            f"{avg([o.judge_score for o in judged]):.1f}" if judged else "-",
            f"{verdicts['pass']}/{verdicts['revise']}/{verdicts['reject']}" if judged else "-",
            f"{avg([o.words for o in got]):.0f}",
            f"{avg([1.0 if o.description_fit else 0.0 for o in got]):.0%}",
            f"{avg([o.tokens_in for o in got]):.0f} / {avg([o.tokens_out for o in got]):.0f}",
            f"{avg([o.tokens_reasoning for o in got]):.0f}",
            f"${avg([o.cost for o in got]):.5f}",
            f"{avg([o.latency for o in got]):.2f} s",
        ]
    labels = ["pages", "lint errors / page", "lint warnings / page", "gate hits / page", "judge score",
              "judge pass/revise/reject", "words", "description fit", "tokens in / out",
              "of which reasoning", "cost / page",
              "latency / page"]
    for n, label in enumerate(labels):
        rows.append((label, [cells[v.name][n] for v in variants]))
    return rows
