"""The Batch API lane of `qtgen batch`: the same requests, sent as files of JSONL, at half the price.

    from qtgen import batch, batchlane
    with batch.Batch(config) as job:
        prepared = job.prepare(Path("questions.csv"), batch.Options(via="batch-api"))
        with batchlane.open_lane(job, prepared.options) as lane:
            lane.run(prepared.run_id, wait=True)

Each question of a run becomes one request line (`custom_id` = its ledger key; `body` = exactly what
the online lane sends). Lines are grouped into batches under the provider's limits (requests and
bytes per file, prompt tokens enqueued at once); every file and batch is recorded in the ledger
before and after each call, so a run killed anywhere resumes without sending a question twice: a
file or batch whose answer was lost is found again by its name or metadata. Results come back in
any order and go through the online lane's page path (parse, SEO, validation, site-math fixes, ids,
related pages, an atomic write). A failed line is tried once more (in a new batch, or online with
`retry_online`), then reported. The same lines can be exported for another engine (vLLM's
`run-batch`) and its output imported.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from ..errors import InputError, QtgenError
from ..format.files import write_atomic
from ..llm.batchapi import ENDPOINT, ApiBatchError, BatchApi, BatchState
from ..llm.client import ChatClient
from ..llm.reply.fields import Retryable, shorten
from ..llm.prompts import Prompts
from ..drafting import drafter as drafting
from .chunk import (COLLECTED, EXPORT, EXPORTED, NEW, OPEN_CHUNKS, TOKEN_LIMIT, UPLOADED, ChunkState, Line, folder,
                    run_lock)
from .entries import Chunk
from .exchange import Exchange
from .results import Result, parse_results
from .sending import Sender
from .ledger import Ledger
from ..llm.pricing import BATCH_API, ONLINE
from .entries import DONE, DRAFT, FAILED, PENDING, SKIPPED, SUBMITTED, BatchItem

@dataclass
class LaneProgress:
    """What the caller shows while batches run."""

    done: int = 0
    failed: int = 0
    submitted: int = 0
    pending: int = 0
    batches_open: int = 0
    batches_sent: int = 0
    requests_sent: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    waiting: str | None = None  # why nothing more is sent yet (the token cap)
    stopped: str | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


@contextlib.contextmanager
def open_lane(job, options, *, notify: Callable[[str], None] = lambda m: None,
              on_wait: Callable[[float, Exception], None] | None = None) -> Iterator["BatchLane"]:
    """The lane for a prepared job, talking to the configured server (never the offline model)."""
    from ..llm.backend import remote_settings, uses_local

    if uses_local(job.config):
        raise InputError("--via batch-api: the Batch API needs a server (set OPENAI_API_KEY, or OPENAI_BASE_URL for "
                         "a compatible one); the offline model drafts online only")
    client = ChatClient(remote_settings(job.config), on_wait=on_wait)
    yield BatchLane(job, client, options, notify=notify)


def offline_client(config) -> ChatClient:
    """A client that is only asked to build request bodies (export): no request is ever sent."""
    from ..llm.backend import remote_settings

    return ChatClient(remote_settings(config))


class BatchLane(Sender, Exchange):
    def __init__(self, job, client: ChatClient, options, *, notify: Callable[[str], None] = lambda m: None):
        self.job, self.config, self.client, self.options = job, job.config, client, options
        self.ledger: Ledger = job.ledger
        self.api = BatchApi(client)
        self.prompts = Prompts(self.config.prompts)
        self.notify = notify
        self.progress = LaneProgress()
        self.gave_up: set[str] = set()  # failed twice in this session: reported, not sent again now
        self.retry_failed = True  # questions that failed in an earlier session are tried again (not by polling)
        self.committed = 0.0  # the most the requests sent in this session can cost (--max-cost)

    # -- request lines -------------------------------------------------------------------------
    def line_for(self, item: BatchItem, mode: str | None) -> Line | None:
        """The request line of a question; None if it needs none (adopted, or failed here)."""
        if self.job.adopt_draft(item):
            return None
        try:
            p = drafting.plan(self.config, item.question or "", item.subject or "")
        except QtgenError as exc:
            self.ledger.settle(item.run_id, item.key, state=FAILED, error=self.client.mask(str(exc)), chunk=None)
            self.gave_up.add(item.key)
            self.progress.failed += 1
            return None
        messages = drafting.build_prompt(self.config, p, self.prompts, **drafting.strategy(self.client)).messages()
        body = self.client.request_body(messages, mode)
        data = json.dumps({"custom_id": item.key, "method": "POST", "url": ENDPOINT, "body": body},
                          ensure_ascii=False, separators=(",", ":")) + "\n"
        tokens = self.client.prompt_estimate(messages)
        return Line(item, data.encode("utf-8"), max(1, tokens))

    def _todo(self, run_id: str) -> list[BatchItem]:
        """Questions to send in a batch: pending ones (but not those waiting for their online retry), and
        those that failed in an earlier session (each session tries a question at most twice)."""
        states = (PENDING, FAILED) if self.retry_failed else (PENDING,)
        return [i for i in self.ledger.items(run_id, states)
                if i.kind == DRAFT and i.key not in self.gave_up
                and not (i.state == PENDING and i.lane == ONLINE and i.retry_pending)]

    def _not_twice(self, run_id: str, todo: list[BatchItem]) -> list[BatchItem]:
        """Without the questions another run (the same question in another list) has sent or is drafting."""
        elsewhere = self.ledger.held_elsewhere(run_id, [i.key for i in todo])
        self._skip_held(run_id, elsewhere)
        return [i for i in todo if i.key not in elsewhere]

    def _skip_held(self, run_id: str, held: dict[str, str]) -> None:
        for key, other in held.items():
            self.ledger.settle(run_id, key, state=SKIPPED, chunk=None,
                               error=f"run {other} has it in a batch or export, or is drafting it; not sent twice")

    # -- sending -------------------------------------------------------------------------------
            # any other refusal is raised with the batch kept as it is: an interrupted process may have sent
            # its file or started it, which only the next successful look can tell

    # -- following -----------------------------------------------------------------------------
    def poll(self, run_id: str) -> None:
        """Ask for every open batch of the run; collect those that ended."""
        for c in self.ledger.chunks(run_id, (ChunkState.SUBMITTED,)):
            try:
                state = self.api.retrieve(c.batch_id)
            except ApiBatchError as exc:
                if exc.status != 404:
                    raise
                self.lost(c, exc)
                continue
            self.ledger.update_chunk(c.chunk, status=state.status, completed=state.completed, failed=state.failed)
            if state.terminal:
                self.collect(c, state)

    def collect(self, c: Chunk, state: BatchState) -> None:
        """A batch that ended: every result it has goes through the page path; what never ran is sent
        again (expired, cancelled: its error lines say batch_expired or batch_cancelled) and what a
        completed batch lacks counts as a failure."""
        results: dict[str, Result] = {}
        notes = []
        for kind, file_id in (("output", state.output_file_id), ("errors", state.error_file_id)):
            if not file_id:
                continue
            try:
                data = self.api.download(file_id)
            except ApiBatchError as exc:
                if exc.status is None or not 400 <= exc.status < 500:
                    raise  # no answer: the next poll tries again
                notes.append(f"the {kind} file could not be downloaded: {exc}")
                continue
            write_atomic(folder(self.config) / f"{c.chunk}.{kind}.jsonl",
                         self.client.mask.jsonl(data.decode("utf-8", "replace")), overwrite=True)
            found, bad = parse_results(data)
            for key, value in found.items():
                results.setdefault(key, value)
            notes += [f"{kind} file line {n}: {why}" for n, why in bad]
        token_limit = any(code == TOKEN_LIMIT for code, _ in state.errors)
        alone = False
        if token_limit:
            alone = self._learn_token_cap(c, state)
        batch_error = "; ".join(f"{code}: {message}" for code, message in state.errors) or None
        if state.status == "completed" and not state.output_file_id and not state.error_file_id:
            batch_error = "completed but has no output file: not counted as done"
        for item in self.ledger.chunk_items(c.chunk):
            if item.state != SUBMITTED:
                continue
            result = results.get(item.key)
            if result is None or result.not_run:
                if token_limit and alone:
                    self.failure(item, f"batch {state.id}: {batch_error}")
                elif state.status in ("expired", "cancelled") or token_limit or (result is not None and result.not_run):
                    self.ledger.settle(item.run_id, item.key, state=PENDING, chunk=None)
                elif state.status == "failed":
                    self.failure(item, f"batch {state.id} failed: {batch_error or 'no reason given'}")
                elif not state.output_file_id and not state.error_file_id:
                    self.failure(item, f"batch {state.id} says completed but has no output file")
                else:
                    self.failure(item, f"batch {state.id} has no result for this question")
                continue
            if result.ok:
                error = self.ingest(item, result.body, c.mode, BATCH_API)
                if error:
                    self.failure(item, error)
            else:
                self.failure(item, result.error)
        error = "; ".join(filter(None, [batch_error, *notes[:3]])) or None
        self.ledger.update_chunk(c.chunk, state=COLLECTED, status=state.status, output_file_id=state.output_file_id,
                                 error_file_id=state.error_file_id, error=self.client.mask(error) if error else None)

    def _learn_token_cap(self, c: Chunk, state: BatchState) -> bool:
        """What a token_limit_exceeded refusal teaches; True if the batch was refused with nothing else
        open and only one line (the question itself is the problem: it counts as a failure)."""
        others = self.enqueued(c.run_id) - c.tokens
        if others <= 0 and c.requests == 1:
            return True
        # the provider held `others` and refused `others` + this batch: `others` is a safe cap; nothing else
        # open means other work of the account fills the queue, so half this batch is tried
        learned = others if others > 0 else max(1, c.tokens // 2)
        known = self.ledger.run_limits(c.run_id)["token_cap"]
        if known and known < others + c.tokens:
            learned = max(known, learned) if others > 0 else min(known, learned)
        self.ledger.set_run(c.run_id, token_cap=learned)
        self.notify(f"batch {state.id}: the provider's enqueued-token limit was reached; the rest waits for "
                    f"open batches (about {learned:,} prompt tokens at once from now on)")
        return False

    def ingest(self, item: BatchItem, body, mode: str | None, lane: str) -> str | None:
        """One result through the online lane's page path: None once its draft is written (or adopted),
        else why it could not be (the caller decides what a failure means)."""
        try:
            completion = self.client.read_body(body, mode)
            if self.job.adopt_draft(item):
                self.progress.done += 1
                return None
            p = drafting.plan(self.config, item.question or "", item.subject or "")
            from ..drafting import records

            prompt = drafting.build_prompt(self.config, p, self.prompts, **drafting.strategy(self.client))
            record = records.of_completion(self.config, self.client.settings, completion,
                                              records.of_prompts(self.config, [prompt]),
                                              "import" if lane == EXPORT else lane)
            sent = self._sent_body(item)
            if sent is not None:  # what was sent, not what the templates say now (they may have changed since)
                record.update(records.of_sent(sent, record))
            completion.provenance = record
            date = dt.date.fromisoformat(item.date) if item.date else None
            result = drafting.write_draft(self.config, p, completion, self.job.index, date=date, page_id=item.page_id,
                                          related=self.options.related)
        except (QtgenError, Retryable) as exc:  # Retryable: the reply could not be read (Unparseable)
            return str(exc)
        u = completion.usage
        self.ledger.settle(item.run_id, item.key, state=DONE, error=None, path=str(result.path), page_id=result.page.id,
                           tokens_in=u.prompt_tokens, tokens_out=u.completion_tokens, tokens_reasoning=u.reasoning_tokens,
                           tokens_cached=u.cached_tokens, model=completion.model, lane=lane, latency=None)
        self.progress.done += 1
        self.progress.tokens_in += u.prompt_tokens
        self.progress.tokens_out += u.completion_tokens
        self.progress.cost += self.job.cost_of(completion.model, u, lane)
        return None

    def _sent_body(self, item: BatchItem) -> dict | None:
        """The request body this question was sent with, from its batch's request file (None if it is gone)."""
        if not item.chunk:
            return None
        try:
            path = Path(self.ledger.chunk(item.chunk).path or "")
            with open(path, "rb") as fh:
                for raw in fh:
                    line = json.loads(raw)
                    if line.get("custom_id") == item.key:
                        return line.get("body") if isinstance(line.get("body"), dict) else None
        except (OSError, ValueError, KeyError, TypeError, QtgenError):
            return None
        return None

    def failure(self, item: BatchItem, why: str) -> None:
        """A failed line: tried once more (a new batch, or online with --retry-online), then reported."""
        why = shorten(self.client.mask(why), 300)
        failures = item.api_failures + 1
        if dataclasses.replace(item, api_failures=failures).retry_pending:
            lane = ONLINE if self.options.retry_online else item.lane
            self.ledger.settle(item.run_id, item.key, state=PENDING, chunk=None, api_failures=failures, lane=lane,
                               error=f"retrying: {why}")
        else:
            self.ledger.settle(item.run_id, item.key, state=FAILED, chunk=None, api_failures=failures, error=why)
            self.gave_up.add(item.key)
            self.progress.failed += 1

    # -- a whole run ---------------------------------------------------------------------------
    def run(self, run_id: str, *, wait: bool = False, send: bool = True,
            tick: Callable[["BatchLane"], None] = lambda lane: None,
            sleep: Callable[[float], None] = time.sleep) -> LaneProgress:
        """Send, follow and collect the run's batches: once (wait=False), or until nothing is open.
        With send=False (polling a cancelled run) nothing new is sent, only results collected."""
        with run_lock(self.config, run_id):
            if send and self.ledger.run_limits(run_id)["cancelled"]:
                self.ledger.set_run(run_id, cancelled=None)  # sending again is what resuming a cancelled run means
            if send:
                released = self.ledger.release_dead(run_id)  # left 'running' by a process that was killed
                if released:
                    self.notify(f"{released} question(s) a stopped process was drafting are sent again")
                self.resume_sends(run_id)
            limit = self.options.limit if send else 0
            while True:
                self.poll(run_id)
                if send:
                    self.retry_online(run_id)
                sent = self.submit(run_id, limit) if limit != 0 else 0
                if limit is not None:
                    limit = max(0, limit - sent)
                self._count(run_id)
                tick(self)
                if not self.ledger.chunks(run_id, OPEN_CHUNKS):
                    if not self._todo(run_id) or limit == 0:
                        break
                    if self.progress.waiting is None:
                        break
                if not wait:
                    break
                sleep(self.config.batch_api_poll)
        if send and self.options.limit is not None and self._todo(run_id):
            self.progress.stopped = f"--limit {self.options.limit}: {len(self._todo(run_id))} left for later"
        if send and self.progress.stopped and self._todo(run_id):
            self.ledger.set_run(run_id, cancelled=time.time())  # held back: `runs poll` only collects now
        return self.progress

    def retry_online(self, run_id: str) -> None:
        """Lines that failed in a batch, drafted online once (--retry-online)."""
        keys = {i.key for i in self.ledger.items(run_id, (PENDING,)) if i.lane == ONLINE and i.api_failures > 0}
        if not keys:
            return
        from ..llm.ratelimit import RateLimiter, shared_store
        from .online import Runner

        self.client.limiter = RateLimiter(None, None, tokens_per_request=self.client.completion_budget() + 600,
                                          concurrency=self.options.concurrency,
                                          store=shared_store(self.client.server, self.client.settings.api_key))
        runner = Runner(self.config, self.ledger, self.job.index, self.client, self.client.limiter, self.options,
                        self.job.holder)
        progress = runner.run(run_id, keys=keys)
        for item in self.ledger.items(run_id, (FAILED, PENDING)):
            if item.key in keys:
                # tried in a batch and then online: reported now (a pending one was stopped by Ctrl-C or a budget)
                self.ledger.settle(run_id, item.key, api_failures=item.api_failures + 1)
                self.gave_up.add(item.key)
        self.progress.done += progress.done
        self.progress.failed += progress.failed
        self.progress.cost += progress.cost

    def _count(self, run_id: str) -> None:
        counts = self.ledger.counts(run_id)
        self.progress.submitted = counts.get(SUBMITTED, 0)
        self.progress.pending = len(self._todo(run_id))
        self.progress.batches_open = len(self.ledger.chunks(run_id, OPEN_CHUNKS))

    def cancel(self, run_id: str) -> list[str]:
        """Cancel the run's open batches; what finished in them is kept when they are collected."""
        with run_lock(self.config, run_id):
            self.ledger.set_run(run_id, cancelled=time.time())
            lines = []
            for c in self.ledger.chunks(run_id, OPEN_CHUNKS + (EXPORTED,)):
                if c.state == UPLOADED:  # a process killed while starting it: the batch may exist
                    found = self.api.find_batch(self.metadata(c))
                    if found is not None:
                        self.ledger.update_chunk(c.chunk, state=ChunkState.SUBMITTED, batch_id=found.id, status=found.status)
                        c = self._chunk(c.chunk)
                if c.state == ChunkState.SUBMITTED:
                    try:
                        state = self.api.cancel(c.batch_id)
                    except ApiBatchError as exc:
                        if exc.status != 404:
                            raise
                        self.lost(c, exc)
                        lines.append(f"batch {c.batch_id}: unknown to the server; its questions are left to send")
                        continue
                    self.ledger.update_chunk(c.chunk, status=state.status)
                    lines.append(f"batch {state.id}: {state.status}")
                    if state.terminal:
                        self.collect(c, state)
                else:  # never started (a file never recorded as uploaded cannot have a batch), or an export
                    self._dissolve(c.chunk, "cancelled before it was sent" if c.kind == BATCH_API
                                   else "export cancelled: its results are no longer awaited")
                    lines.append(f"{'export' if c.kind == EXPORT else 'batch'} {c.chunk}: dropped, its "
                                 f"{c.requests} question(s) are left to send")
            if any(c.state == ChunkState.SUBMITTED for c in self.ledger.chunks(run_id)):
                self.poll(run_id)
            return lines

    # -- another engine ------------------------------------------------------------------------
def poll_all(job, *, notify: Callable[[str], None] = lambda m: None,
             on_wait: Callable[[float, Exception], None] | None = None) -> list[tuple[str, LaneProgress, str]]:
    """`qtgen runs poll`: every unfinished Batch API run followed once (results collected, what is
    left sent, unless the run was cancelled); (run id, progress, status) of each."""
    from .options import Options

    out: list = []
    for run in job.ledger.unfinished():
        if run.options.get("via") != BATCH_API and not job.ledger.chunks(run.run_id, (NEW, UPLOADED, ChunkState.SUBMITTED)):
            continue
        options, _ = Options.merged(run.options, {})
        cancelled = bool(job.ledger.run_limits(run.run_id)["cancelled"])
        try:
            with open_lane(job, options, notify=notify, on_wait=on_wait) as lane:
                lane.retry_failed = False  # polling (a cron job) never pays again for what failed
                progress = lane.run(run.run_id, wait=False, send=not cancelled)
        except QtgenError as exc:  # one run's problem does not keep the others from being polled
            out.append((run.run_id, None, f"not polled: {exc}"))
            continue
        out.append((run.run_id, progress, job.close_run(run.run_id)))
    return out
