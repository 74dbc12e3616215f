"""`qtgen batch`: many questions, concurrently, just under the provider's rate limit, losing nothing.

Every question is checked and deduplicated before any request, recorded in the ledger, drafted by a
worker (the same plan -> model -> finish path as `qtgen draft`) and written atomically. A run that is
killed resumes with what is left; a draft found on disk for a question the ledger had not yet marked
done is adopted, never written twice; ids are reserved once per question in the site index.
"""

from __future__ import annotations

import hashlib
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import draft as drafting
from .batch_input import BadLine, read_questions
from .config import Config
from .errors import InputError, ParseError, QtgenError
from .index import SiteIndex
from .ledger import DONE, FAILED, INVALID, LEFT, PENDING, SKIPPED, Ledger
from .llm import ChatClient, Retryable
from .ratelimit import RateLimiter
from .reader import read
from .slug import slug

# US dollars per million tokens (input, output); extend or override with `prices` in the config.
PRICES = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-nano": (0.10, 0.40),
}


def ledger_path(config: Config) -> Path:
    return config.drafts / ".qtgen" / "batch.sqlite"


def price_of(config: Config, model: str) -> tuple[float, float] | None:
    table = {**PRICES, **{k: tuple(v) for k, v in config.prices.items()}}
    if model in table:
        return table[model]
    for name, price in table.items():  # "gpt-4o-mini-2024-07-18" costs what "gpt-4o-mini" costs
        if model.startswith(name + "-"):
            return price
    return None


def cost(config: Config, model: str, tokens_in: int, tokens_out: int) -> float:
    price = price_of(config, model)
    return 0.0 if price is None else (tokens_in * price[0] + tokens_out * price[1]) / 1_000_000


@dataclass
class Options:
    subject: str | None = None
    concurrency: int = 4
    rpm: float | None = None
    tpm: float | None = None
    limit: int | None = None
    max_cost: float | None = None
    strict: bool = False
    allow_similar: bool = False
    related: bool = True


@dataclass
class Prepared:
    run_id: str
    resumed: bool
    bad: list[BadLine]
    new: int
    skipped: int


def key_of(config: Config, question: str, subject: str) -> str:
    return f"{slug(subject, config.slug_style)}/{slug(question, config.slug_style)}.md"


def prepare(config: Config, path: Path, options: Options, ledger: Ledger, index: SiteIndex) -> Prepared:
    """Read, check and deduplicate the list, and record it in the ledger; no request is made here."""
    rows, bad = read_questions(path, options.subject)
    if options.strict and bad:
        shown = "; ".join(b.text() for b in bad[:3]) + (f" (+{len(bad) - 3} more)" if len(bad) > 3 else "")
        raise InputError(f"--strict: {len(bad)} bad line(s), nothing sent: {shown}")
    data = Path(path).read_bytes()
    run_id, resumed = ledger.open_run(str(Path(path).resolve()), hashlib.sha256(data).hexdigest(),
                                      {k: v for k, v in options.__dict__.items()})
    for b in bad:
        ledger.add(run_id, f"line:{b.line}", line=b.line, question=None, subject=None, state=INVALID, error=b.message)
    seen: dict[str, int] = {}
    new = skipped = 0
    for row in rows:
        key = key_of(config, row.question, row.subject)
        if not slug(row.question, config.slug_style):
            ledger.add(run_id, f"line:{row.line}", line=row.line, question=row.question, subject=row.subject,
                       state=INVALID, error="question has no letters or digits to build a file name from")
            continue
        if key in seen:
            ledger.add(run_id, f"line:{row.line}", line=row.line, question=row.question, subject=row.subject,
                       state=SKIPPED, error=f"duplicate of line {seen[key]}")
            skipped += 1
            continue
        seen[key] = row.line
        if ledger.items(run_id) and _known(ledger, run_id, key):
            continue  # resumed: the ledger already knows this question and its state
        reason = _skip_reason(config, row.question, row.subject, index, options)
        state = SKIPPED if reason else PENDING
        ledger.add(run_id, key, line=row.line, question=row.question, subject=row.subject, state=state, error=reason,
                   page_id=row.page_id, date=row.date.isoformat() if row.date else None)
        new += state == PENDING
        skipped += state == SKIPPED
    return Prepared(run_id, resumed, bad, new, skipped)


def _known(ledger: Ledger, run_id: str, key: str) -> bool:
    return bool(ledger.db.execute("SELECT 1 FROM items WHERE run_id = ? AND key = ?", (run_id, key)).fetchone())


def _skip_reason(config: Config, question: str, subject: str, index: SiteIndex, options: Options) -> str | None:
    """Why a question must not be drafted now: already drafted, published, rejected or asked in other words."""
    try:
        p = drafting.plan(config, question, subject)
    except QtgenError as exc:
        return str(exc)
    if not options.allow_similar:
        try:
            drafting.check_similar(index, p, config.similar_threshold)
        except QtgenError as exc:
            return str(exc).replace("; use --allow-similar to draft it anyway", " (--allow-similar drafts it)")
    return None


@dataclass
class Progress:
    """What the caller shows while a run goes on."""

    done: int = 0
    failed: int = 0
    skipped: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    throttled: int = 0
    stopped: str | None = None
    started: float = field(default_factory=time.monotonic)


class Runner:
    def __init__(self, config: Config, ledger: Ledger, index: SiteIndex, client: ChatClient, limiter: RateLimiter,
                 options: Options):
        self.config, self.ledger, self.index, self.client = config, ledger, index, client
        self.limiter, self.options = limiter, options
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self.progress = Progress()

    def on_wait(self, seconds: float, exc: Exception) -> None:
        if isinstance(exc, Retryable) and exc.status == 429:
            self.limiter.rate_limited(seconds)
            self.progress.throttled += 1

    def one(self, run_id: str, item) -> str:
        """Draft one question; its state in the ledger says what happened."""
        if self.stop.is_set():
            return PENDING
        self.ledger.start(run_id, item.key)
        try:
            adopted = self._adopt(run_id, item)
            if adopted:
                return DONE
            p = drafting.plan(self.config, item.question, item.subject)
            prompt = drafting.build_prompt(self.config, p)
            completion = self.client.complete(prompt.messages())
            self.limiter.used(completion.usage.total)
            self.limiter.succeeded()
            date = None
            if item.date:
                import datetime as dt

                date = dt.date.fromisoformat(item.date)
            result = drafting.finish(self.config, p, completion, date=date, page_id=item.page_id, index=self.index,
                                     related=self.options.related)
        except QtgenError as exc:
            self.ledger.update(run_id, item.key, state=FAILED, error=str(exc))
            with self._lock:
                self.progress.failed += 1
            return FAILED
        except Exception as exc:  # a bug must not stop the other questions
            self.ledger.update(run_id, item.key, state=FAILED, error=f"internal error: {type(exc).__name__}: {exc}")
            with self._lock:
                self.progress.failed += 1
            return FAILED
        u = completion.usage
        self.ledger.add_attempts(run_id, item.key, completion.attempts - 1)  # retries inside the request
        self.ledger.update(run_id, item.key, state=DONE, error=None, path=str(result.path), page_id=result.page.id,
                           tokens_in=u.prompt_tokens, tokens_out=u.completion_tokens, latency=round(completion.latency, 3),
                           model=completion.model)
        with self._lock:
            pr = self.progress
            pr.done += 1
            pr.tokens_in += u.prompt_tokens
            pr.tokens_out += u.completion_tokens
            pr.cost += cost(self.config, completion.model, u.prompt_tokens, u.completion_tokens)
            if self.options.max_cost is not None and pr.cost >= self.options.max_cost:
                pr.stopped = f"--max-cost {self.options.max_cost:g} reached (${pr.cost:.4f} spent)"
                self.stop.set()
        return DONE

    def _adopt(self, run_id: str, item) -> bool:
        """A draft already on disk for this question (written before a crash): take it, don't write another."""
        path = self.config.drafts / item.key.split("/", 1)[1]
        if not path.exists():
            return False
        try:
            page = read(path)
        except ParseError:
            return False
        if page.question != item.question or slug(page.subject) != slug(item.subject):
            return False
        self.ledger.update(run_id, item.key, state=DONE, path=str(path), page_id=page.id,
                           error="adopted: the draft was written before the run stopped")
        with self._lock:
            self.progress.done += 1
        return True

    def run(self, run_id: str, tick: Callable[[], None] = lambda: None) -> Progress:
        """Draft what is left of the run; returns when all is done, a budget is reached or on Ctrl-C."""
        todo = self.ledger.items(run_id, LEFT)
        if self.options.limit is not None:
            if len(todo) > self.options.limit:
                self.progress.stopped = f"--limit {self.options.limit}: {len(todo) - self.options.limit} left for later"
            todo = todo[: self.options.limit]
        pool = ThreadPoolExecutor(max_workers=max(1, self.options.concurrency), thread_name_prefix="qtgen-batch")
        futures: set[Future] = set()
        try:
            for item in todo:
                futures.add(pool.submit(self.one, run_id, item))
            while futures:
                finished, futures = wait(futures, timeout=0.2, return_when=FIRST_COMPLETED)
                tick()
        except KeyboardInterrupt:
            self.stop.set()
            self.progress.stopped = "interrupted: the rest is left for `qtgen batch --resume`"
            pool.shutdown(wait=False, cancel_futures=True)
            # cancelled futures never count as done for wait(): wait only for the ones in flight
            in_flight = {f for f in futures if not f.cancelled()}
            try:  # in-flight requests finish and are recorded; a second Ctrl-C abandons them
                wait(in_flight)
            except KeyboardInterrupt:
                self.progress.stopped += " (requests in flight abandoned)"
                raise
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        self.progress.throttled = self.limiter.throttled
        return self.progress
