"""The online lane of a batch run: workers drafting the ledger's questions concurrently, under the rate limit and
under a lease each, adopting a draft found on disk instead of asking again."""

from __future__ import annotations

import datetime as dt
import hashlib
import queue
import threading
from pathlib import Path
from typing import Callable

from ..config import Config
from ..errors import ParseError, QtgenError
from ..format.reader import read
from ..format.slug import slug
from ..llm.client import ChatClient
from ..llm.failures import QuotaExhausted
from ..llm.pricing import cost
from ..llm.reply.usage import Usage
from ..llm.ratelimit import Cancelled, RateLimiter
from ..site.index import SiteIndex
from ..drafting import drafter as drafting
from ..drafts.folder import DraftStore
from .ledger import HEARTBEAT_SECONDS, Ledger
from ..llm.pricing import ONLINE
from .entries import DONE, FAILED, LEFT, PENDING, REVISE, BatchItem
from .options import HELD, Options, Progress

def adoptable(config: Config, item: BatchItem):
    """The draft on disk at this question's place, if it is this question's (else None)."""
    path = config.drafts / item.key
    if not path.exists():
        return None
    try:
        page = read(path)
    except ParseError:
        return None
    if page.question != item.question or slug(page.subject) != slug(item.subject or ""):
        return None
    return page


class Runner:
    """Daemon worker threads drafting the questions of one run; a lease per question."""

    def __init__(self, config: Config, ledger: Ledger, index: SiteIndex, client: ChatClient, limiter: RateLimiter,
                 options: Options, holder: str, notify: Callable[[str], None] = lambda m: None):
        self.config, self.ledger, self.index, self.client = config, ledger, index, client
        self.limiter, self.options, self.holder = limiter, options, holder
        self.notify = notify
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self.progress = Progress()

    def _count(self, **deltas) -> None:
        with self._lock:
            for name, value in deltas.items():
                setattr(self.progress, name, getattr(self.progress, name) + value)

    def draft_item(self, run_id: str, item: BatchItem) -> str:
        """Draft (or revise) one question; its state in the ledger says what happened."""
        if self.stop.is_set():
            return PENDING
        if not self.ledger.claim(run_id, item.key, self.holder):
            self._count(held=1)
            return HELD
        work = self._revise if item.kind == REVISE else self._draft
        try:
            outcome = work(run_id, item)
        except Cancelled:  # stopping before this request was sent: left for the next run, not a failure
            self.ledger.record(run_id, item.key, self.holder, state=PENDING)
            return PENDING
        except QuotaExhausted as exc:  # nothing more can be sent: stop at once; the question is left for --resume
            self.ledger.record(run_id, item.key, self.holder, state=PENDING)
            with self._lock:
                if self.progress.stopped is None or "quota" not in self.progress.stopped:
                    self.progress.stopped = f"{exc}; nothing more is sent (qtgen batch resume goes on)"
                self.progress.quota = True
            self.stop.set()
            self.limiter.cancel()
            return PENDING
        except QtgenError as exc:
            u = getattr(exc, "usage", None) or Usage()  # attempts that came to nothing were billed too
            self.ledger.record(run_id, item.key, self.holder, state=FAILED, error=self.client.mask(exc),
                               tokens_in=u.prompt_tokens, tokens_out=u.completion_tokens,
                               tokens_reasoning=u.reasoning_tokens, tokens_cached=u.cached_tokens,
                               model=self.client.model_name)
            self._count(failed=1, tokens_in=u.prompt_tokens, tokens_out=u.completion_tokens,
                        cost=cost(self.config, self.client.model_name, u))
            self._cap_reached()  # a failure that was billed counts against the cap as an answer does
            return FAILED
        except Exception as exc:  # a bug must not stop the other questions
            self.ledger.record(run_id, item.key, self.holder, state=FAILED,
                               error=self.client.mask(f"internal error: {type(exc).__name__}: {exc}"))
            self._count(failed=1)
            return FAILED
        if outcome is None:  # adopted: written before the run stopped
            return DONE
        path, page_id, completion = outcome
        u = completion.usage
        self.ledger.add_attempts(run_id, item.key, completion.attempts - 1)  # retries inside the request
        self.ledger.record(run_id, item.key, self.holder, state=DONE, error=None, path=str(path),
                           page_id=page_id, tokens_in=u.prompt_tokens, tokens_out=u.completion_tokens,
                           tokens_reasoning=u.reasoning_tokens, tokens_cached=u.cached_tokens,
                           latency=round(completion.latency, 3), model=completion.model, lane=ONLINE)
        spent = cost(self.config, completion.model, u)
        self._count(done=1, tokens_in=u.prompt_tokens, tokens_out=u.completion_tokens, cost=spent)
        self._cap_reached()
        return DONE

    def _cap_reached(self) -> None:
        if self.options.max_cost is not None and self.progress.cost >= self.options.max_cost:
            self.progress.stopped = f"--max-cost {self.options.max_cost:g} reached (${self.progress.cost:.4f} spent)"
            self.stop.set()

    def _draft(self, run_id: str, item: BatchItem):
        if self._adopt(run_id, item):
            return None
        p = drafting.plan(self.config, item.question, item.subject)
        completion = drafting.ask(self.config, self.client, p)
        date = dt.date.fromisoformat(item.date) if item.date else None
        result = drafting.write_draft(self.config, p, completion, self.index, date=date, page_id=item.page_id,
                                      related=self.options.related)
        return result.path, result.page.id, completion

    def _revise(self, run_id: str, item: BatchItem):
        """A revision of a published page, written by the model with the page's answer and findings."""
        from ..format.reader import parse
        from ..format.writer import render
        from ..checks import lint
        from ..drafting import revision as revise

        draft = self.config.drafts / item.key
        published = Path(item.source or "")
        mark = DraftStore(self.config, migrate=False).revision_of(draft) if draft.exists() else None
        if mark is not None and mark.published == published:
            self.ledger.record(run_id, item.key, self.holder, state=DONE, path=str(draft), page_id=item.page_id,
                               error="adopted: the revision was written before the run stopped")
            self._count(done=1)
            return None
        try:
            data = published.read_bytes()
            page = parse(data.decode("utf-8"))
        except (OSError, UnicodeDecodeError, ParseError) as exc:
            raise QtgenError(f"{published}: cannot read the published page ({exc})") from None
        findings = lint.lint_page(page, self.config, str(published), self.index)
        prompt = revise.revise_prompt(self.config, page, findings, self.options.feedback, drafting.strategy(self.client))
        completion = self.client.complete(prompt.messages())
        from ..drafting.records import of_completion, of_prompts

        completion.provenance = of_completion(self.config, self.client.settings, completion,
                                              of_prompts(self.config, [prompt]), ONLINE)
        new, _ = revise.revised(self.config, page, completion)
        text = render(new)
        chosen = [f for f in findings if f.rule in self.options.rules or f.name in self.options.rules]
        candidate = revise.Candidate(published, page, findings, chosen)
        path = revise.start(self.config, candidate, text, made_by="revise regenerate",
                            source_sha=hashlib.sha256(data).hexdigest(), provenance=completion.provenance)
        return path, page.id, completion

    def _adopt(self, run_id: str, item: BatchItem) -> bool:
        """A draft already on disk for this question (written before a crash): take it, don't write another."""
        page = adoptable(self.config, item)
        if page is None:
            return False
        path = self.config.drafts / item.key
        self.ledger.record(run_id, item.key, self.holder, state=DONE, path=str(path), page_id=page.id,
                           error="adopted: the draft was written before the run stopped")
        self._count(done=1)
        return True

    def _worker(self, run_id: str, todo: "queue.Queue[BatchItem]", finished: threading.Semaphore) -> None:
        try:
            while not self.stop.is_set():
                try:
                    item = todo.get_nowait()
                except queue.Empty:
                    return
                self.draft_item(run_id, item)
        finally:
            finished.release()

    def run(self, run_id: str, tick: Callable[[], None] = lambda: None, keys: set[str] | None = None) -> Progress:
        """Draft what is left of the run (only `keys`, if given)."""
        todo_items = [i for i in self.ledger.items(run_id, LEFT) if keys is None or i.key in keys]
        if self.options.limit is not None:
            if len(todo_items) > self.options.limit:
                self.progress.stopped = (f"--limit {self.options.limit}: "
                                         f"{len(todo_items) - self.options.limit} left for later")
            todo_items = todo_items[: self.options.limit]
        todo: queue.Queue[BatchItem] = queue.Queue()
        for item in todo_items:
            todo.put(item)
        workers = max(1, min(self.options.concurrency, len(todo_items) or 1))
        finished = threading.Semaphore(0)
        beat_stop = threading.Event()
        threading.Thread(target=self._beat_until, args=(beat_stop,), daemon=True, name="qtgen-heartbeat").start()
        # daemon threads: a second Ctrl-C returns at once instead of waiting for requests in flight
        for n in range(workers):
            threading.Thread(target=self._worker, args=(run_id, todo, finished), daemon=True,
                             name=f"qtgen-batch-{n}").start()
        running = workers
        try:
            try:
                while running:
                    if finished.acquire(timeout=0.2):
                        running -= 1
                    tick()
            except KeyboardInterrupt:
                self.stop.set()
                self.limiter.cancel()  # workers waiting for their turn send nothing more
                self.progress.interrupted = True
                self.progress.stopped = "interrupted (Ctrl-C)"
                self.notify(f"stopping: sending nothing more; {self.limiter.in_flight} request(s) in flight finish "
                            "first (Ctrl-C again abandons them)")
                try:  # requests in flight finish and are recorded; a second Ctrl-C abandons them
                    while running:
                        if finished.acquire(timeout=0.2):
                            running -= 1
                except KeyboardInterrupt:
                    self.progress.stopped += " (requests in flight abandoned)"
                    raise
        finally:
            beat_stop.set()
        self.progress.throttled = self.limiter.throttled
        return self.progress

    def _beat_until(self, done: threading.Event) -> None:
        while not done.wait(HEARTBEAT_SECONDS):
            try:
                self.ledger.heartbeat(self.holder)
            except Exception:  # the next beat tries again
                pass
