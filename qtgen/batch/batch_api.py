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
import datetime as dt
import fcntl
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from ..errors import InputError, QtgenError
from ..format.files import write_atomic
from ..locks import open_lock_file
from ..llm.batchapi import ENDPOINT, TERMINAL, ApiBatchError, BatchApi, BatchState, FileTooLarge
from ..llm.client import ChatClient, Retryable, shorten
from ..llm.prompts import Prompts
from ..drafting import drafter as drafting
from .ledger import BATCH_API, DONE, DRAFT, FAILED, ONLINE, PENDING, SKIPPED, SUBMITTED, BatchItem, Ledger

EXPORT = "export"
# a batch's own states in the ledger (the provider's status is kept beside them)
NEW, UPLOADED, SENT, COLLECTED, DISSOLVED, EXPORTED = "new", "uploaded", "submitted", "collected", "dissolved", "exported"
OPEN_CHUNKS = (NEW, UPLOADED, SENT)
TOKEN_LIMIT = "token_limit_exceeded"
LOST = "lost"  # our status of a batch the server answers 404 for


@dataclass
class Line:
    item: BatchItem
    data: bytes  # one JSONL line, newline included
    tokens: int  # the prompt's estimated tokens (what a provider's batch queue limit counts)


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


def folder(config) -> Path:
    return config.state("batches")


@contextlib.contextmanager
def run_lock(config, run_id: str) -> Iterator[None]:
    """This process alone works on the run's batches (a second one is told, not blocked)."""
    with open_lock_file(folder(config) / f"{run_id}.lock") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise QtgenError(f"run {run_id}: another qtgen is working on its batches now; "
                             "try again when it is done") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


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


class BatchLane:
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
                and not (i.state == PENDING and i.lane == ONLINE and i.api_failures % 2)]

    def _not_twice(self, run_id: str, todo: list[BatchItem]) -> list[BatchItem]:
        """Without the questions another run (the same question in another list) has sent or is drafting."""
        elsewhere = self.ledger.held_elsewhere(run_id, [i.key for i in todo])
        self._skip_held(run_id, elsewhere)
        return [i for i in todo if i.key not in elsewhere]

    def _skip_held(self, run_id: str, held: dict[str, str]) -> None:
        for key, other in held.items():
            self.ledger.settle(run_id, key, state=SKIPPED, chunk=None,
                               error=f"run {other} has it in a batch or export, or is drafting it; not sent twice")

    @staticmethod
    def split(lines: list[Line], max_requests: int, max_bytes: int, max_tokens: int | None) -> list[list[Line]]:
        """Lines grouped in order into files under every limit (a line alone over a limit goes alone)."""
        groups: list[list[Line]] = []
        current: list[Line] = []
        size = tokens = 0
        for line in lines:
            over = (len(current) + 1 > max_requests or size + len(line.data) > max_bytes
                    or (max_tokens is not None and tokens + line.tokens > max_tokens))
            if current and over:
                groups.append(current)
                current, size, tokens = [], 0, 0
            current.append(line)
            size += len(line.data)
            tokens += line.tokens
        if current:
            groups.append(current)
        return groups

    # -- sending -------------------------------------------------------------------------------
    def limits(self, run_id: str) -> tuple[int, int, int | None]:
        learned = self.ledger.run_limits(run_id)
        max_bytes = min(self.config.batch_api_max_bytes, learned["max_bytes"] or self.config.batch_api_max_bytes)
        caps = [c for c in (self.config.batch_api_token_cap, learned["token_cap"]) if c]
        return self.config.batch_api_max_requests, max_bytes, (min(caps) if caps else None)

    def enqueued(self, run_id: str) -> int:
        """Prompt tokens in open batches: this run's, and other runs' not yet seen to end (the provider's
        limit is the account's)."""
        total, now = 0, time.time()
        for c in self.ledger.chunks(None, OPEN_CHUNKS):
            if c["kind"] != BATCH_API:
                continue
            if c["run_id"] == run_id:
                total += c["tokens"]
            elif c["state"] == SENT and c["status"] not in TERMINAL + (LOST,):
                total += c["tokens"]
            elif c["state"] != SENT and now - (c["updated"] or 0) < 600:
                total += c["tokens"]  # being sent by another process now (an abandoned one stops counting)
        return total

    def submit(self, run_id: str, limit: int | None = None) -> int:
        """Send what is left of the run in new batches, within the limits; the number of requests sent."""
        sent = 0
        while True:
            n, resplit = self._submit_once(run_id, None if limit is None else limit - sent)
            sent += n
            if not resplit:
                return sent

    def _submit_once(self, run_id: str, limit: int | None) -> tuple[int, bool]:
        """(requests sent, whether the rest must be split again because a file was refused as too large)."""
        todo = self._todo(run_id)
        if limit is not None:
            todo = todo[:limit]
        todo = self._not_twice(run_id, todo)
        if not todo:
            return 0, False
        max_requests, max_bytes, cap = self.limits(run_id)
        self.progress.waiting = None
        refreshed = False
        if cap is not None and self.enqueued(run_id) >= cap:
            self.refresh_others(run_id)
            refreshed = True
            if self.enqueued(run_id) >= cap:  # full: no request lines are built until open batches end
                self.progress.waiting = (f"{len(todo)} request(s) wait for open batches to finish "
                                         f"(about {cap:,} prompt tokens may be enqueued at once)")
                return 0, False
        mode = self.client.batch_mode()
        lines = [line for line in (self.line_for(i, mode) for i in todo) if line is not None]
        lines = self._within_budget(lines)
        sent = 0
        for group in self.split(lines, max_requests, max_bytes, cap):
            tokens = sum(line.tokens for line in group)
            open_tokens = self.enqueued(run_id)
            if cap is not None and open_tokens and open_tokens + tokens > cap and not refreshed:
                self.refresh_others(run_id)  # another run's batches may have ended meanwhile
                refreshed, open_tokens = True, self.enqueued(run_id)
            if cap is not None and open_tokens and open_tokens + tokens > cap:
                self.progress.waiting = (f"{len(lines) - sent} request(s) wait for open batches to finish "
                                         f"(about {cap:,} prompt tokens may be enqueued at once)")
                break
            data = b"".join(line.data for line in group)
            chunk, held = self.ledger.new_chunk(run_id, BATCH_API, [line.item.key for line in group], len(data), tokens)
            if held:  # another run took some of them since they were checked: the rest is grouped again
                self._skip_held(run_id, held)
                return sent, True
            if chunk is None:
                continue  # another process took these questions
            path = folder(self.config) / f"{chunk}.jsonl"
            write_atomic(path, data, overwrite=True)
            self.ledger.update_chunk(chunk, mode=mode, path=str(path))
            try:
                self._send(self._chunk(chunk), data, resumed=False)
            except FileTooLarge as exc:
                if len(group) == 1:  # no file can be smaller: this question cannot go through the Batch API
                    self._dissolve(chunk, str(exc))
                    item = group[0].item
                    self.ledger.settle(run_id, item.key, state=FAILED, chunk=None,
                                       error=f"its request alone is larger than the server takes in a file: {exc}")
                    self.gave_up.add(item.key)
                    self.progress.failed += 1
                    continue
                smaller = max(1, len(data) // 2)
                self.ledger.set_run(run_id, max_bytes=smaller)
                self._dissolve(chunk, f"{exc}; files of at most {smaller:,} bytes from now on")
                self.notify(f"{exc}: splitting into files of at most {smaller:,} bytes")
                return sent, True
            except ApiBatchError as exc:
                self._refused(chunk, exc)
                raise
            sent += len(group)
            self.committed += sum(self.most_cost(line) for line in group)  # counted once it is really sent
        return sent, False

    def most_cost(self, line: Line) -> float:
        """The most a request can cost at batch prices: its prompt and every token it may generate (the answer and,
        for a reasoning model, its room to reason)."""
        from ..llm.pricing import of_config as pricing

        most = pricing(self.config).most(self.client.model_name, line.tokens, self.client.completion_budget(), BATCH_API)
        return most or 0.0

    def _within_budget(self, lines: list[Line]) -> list[Line]:
        """With --max-cost, only the lines whose most possible cost still fits this session's budget."""
        budget = self.options.max_cost
        if budget is None:
            return lines
        kept, total = [], self.committed
        for line in lines:
            cost = self.most_cost(line)
            if total + cost > budget:
                break
            total += cost
            kept.append(line)
        if len(kept) < len(lines):
            self.progress.stopped = (f"--max-cost {budget:g}: {len(lines) - len(kept)} request(s) left for later "
                                     f"(at most ${total:.4f} sent, at batch prices)")
        return kept

    def refresh_others(self, run_id: str) -> None:
        """The status of other runs' open batches, asked again (they count against the same token cap)."""
        for c in self.ledger.chunks(None, (SENT,)):
            if c["run_id"] != run_id and c["status"] not in TERMINAL + (LOST,):
                try:
                    self.ledger.update_chunk(c["chunk"], status=self.api.retrieve(c["batch_id"]).status)
                except ApiBatchError as exc:
                    if exc.status == 404:
                        self.ledger.update_chunk(c["chunk"], status=LOST)  # its own run settles its questions
                    continue

    def _chunk(self, chunk: str) -> dict:
        return self.ledger.chunk(chunk)

    @staticmethod
    def metadata(c: dict) -> dict[str, str]:
        """What a batch carries at the provider, so a lost answer to its creation can be found again."""
        return {"qtgen_run": c["run_id"], "qtgen_batch": c["chunk"]}

    def _send(self, c: dict, data: bytes | None, resumed: bool) -> None:
        """Upload a batch's file and start it, recording each step; a resumed step first looks for
        what an interrupted process may already have done."""
        name = f"qtgen-{c['chunk']}.jsonl"
        if c["state"] == NEW:
            file_id = self.api.find_file(name) if resumed else None
            if file_id is None:
                if data is None:
                    data = Path(c["path"]).read_bytes()
                file_id = self._resumed_call(resumed, c, lambda: self.api.upload(name, data))
                if file_id is None:
                    return
            self.ledger.update_chunk(c["chunk"], state=UPLOADED, file_id=file_id)
            c = self._chunk(c["chunk"])
        if c["state"] == UPLOADED:
            meta = self.metadata(c)
            state = self.api.find_batch(meta) if resumed else None
            if state is None:
                state = self._resumed_call(resumed, c, lambda: self.api.create(c["file_id"], meta))
                if state is None:
                    return
            self.ledger.update_chunk(c["chunk"], state=SENT, batch_id=state.id, status=state.status)
            self.progress.batches_sent += 1
            self.progress.requests_sent += c["requests"]

    def _resumed_call(self, resumed: bool, c: dict, call):
        """An upload or create; when resuming, a refusal (the file expired meanwhile, say) returns the
        batch's questions to be sent afresh instead of stopping the whole run (None is returned)."""
        try:
            return call()
        except FileTooLarge:
            raise
        except ApiBatchError as exc:
            if not resumed or exc.status is None or not 400 <= exc.status < 500 or exc.status in (401, 403, 429):
                raise
            self._dissolve(c["chunk"], f"refused when resumed: {exc}")
            self.notify(f"{exc}: its {c['requests']} question(s) are sent again in a new batch")
            return None

    def _refused(self, chunk: str, exc: ApiBatchError) -> None:
        """A call the server answered with a refusal (4xx): nothing of the batch runs there, so its
        questions go back to be sent; a call that never got an answer keeps them, to be looked for."""
        if exc.status is not None and 400 <= exc.status < 500:
            self._dissolve(chunk, str(exc))

    def lost(self, c: dict, exc: ApiBatchError) -> None:
        """A batch the server no longer knows (404: deleted, or another project's key): its questions are
        left to send again rather than awaited for ever."""
        self._dissolve(c["chunk"], f"the server does not know batch {c['batch_id']} ({exc}); its questions are "
                                   "left to send again", status=LOST)
        self.notify(f"batch {c['batch_id']}: unknown to the server (404); its {c['requests']} question(s) will be sent "
                    "again (if it still runs under another key, cancel it there)")

    def _dissolve(self, chunk: str, why: str, **extra) -> None:
        """A batch that will not run: its questions go back to be sent again (not a failure)."""
        for item in self.ledger.chunk_items(chunk):
            if item.state == SUBMITTED:
                self.ledger.settle(item.run_id, item.key, state=PENDING, chunk=None)
        self.ledger.update_chunk(chunk, state=DISSOLVED, error=self.client.mask(why), **extra)
        (folder(self.config) / f"{chunk}.jsonl").unlink(missing_ok=True)  # never to be sent: no copy kept

    def resume_sends(self, run_id: str) -> None:
        """Finish what an interrupted process left between recording a batch and starting it."""
        for c in self.ledger.chunks(run_id, (NEW, UPLOADED)):
            if c["kind"] != BATCH_API:
                continue
            try:
                if c["state"] == NEW and not (c["path"] and Path(c["path"]).is_file()):
                    self._dissolve(c["chunk"], "its file was never uploaded")
                    continue
                self._send(c, None, resumed=True)
            except FileTooLarge as exc:
                self.ledger.set_run(run_id, max_bytes=max(1, c["bytes"] // 2))
                self._dissolve(c["chunk"], str(exc))
            # any other refusal is raised with the batch kept as it is: an interrupted process may have sent
            # its file or started it, which only the next successful look can tell

    # -- following -----------------------------------------------------------------------------
    def poll(self, run_id: str) -> None:
        """Ask for every open batch of the run; collect those that ended."""
        for c in self.ledger.chunks(run_id, (SENT,)):
            try:
                state = self.api.retrieve(c["batch_id"])
            except ApiBatchError as exc:
                if exc.status != 404:
                    raise
                self.lost(c, exc)
                continue
            self.ledger.update_chunk(c["chunk"], status=state.status, completed=state.completed, failed=state.failed)
            if state.terminal:
                self.collect(c, state)

    def collect(self, c: dict, state: BatchState) -> None:
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
            write_atomic(folder(self.config) / f"{c['chunk']}.{kind}.jsonl",
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
        for item in self.ledger.chunk_items(c["chunk"]):
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
                error = self.ingest(item, result.body, c["mode"], BATCH_API)
                if error:
                    self.failure(item, error)
            else:
                self.failure(item, result.error)
        error = "; ".join(filter(None, [batch_error, *notes[:3]])) or None
        self.ledger.update_chunk(c["chunk"], state=COLLECTED, status=state.status, output_file_id=state.output_file_id,
                                 error_file_id=state.error_file_id, error=self.client.mask(error) if error else None)

    def _learn_token_cap(self, c: dict, state: BatchState) -> bool:
        """What a token_limit_exceeded refusal teaches; True if the batch was refused with nothing else
        open and only one line (the question itself is the problem: it counts as a failure)."""
        others = self.enqueued(c["run_id"]) - c["tokens"]
        if others <= 0 and c["requests"] == 1:
            return True
        # the provider held `others` and refused `others` + this batch: `others` is a safe cap; nothing else
        # open means other work of the account fills the queue, so half this batch is tried
        learned = others if others > 0 else max(1, c["tokens"] // 2)
        known = self.ledger.run_limits(c["run_id"])["token_cap"]
        if known and known < others + c["tokens"]:
            learned = max(known, learned) if others > 0 else min(known, learned)
        self.ledger.set_run(c["run_id"], token_cap=learned)
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
            path = Path(self.ledger.chunk(item.chunk).get("path") or "")
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
        if failures % 2:
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
            self.ledger.set_run(run_id, cancelled=time.time())  # held back: `runs --poll` only collects now
        return self.progress

    def retry_online(self, run_id: str) -> None:
        """Lines that failed in a batch, drafted online once (--retry-online)."""
        keys = {i.key for i in self.ledger.items(run_id, (PENDING,)) if i.lane == ONLINE and i.api_failures > 0}
        if not keys:
            return
        from ..llm.ratelimit import RateLimiter, shared_store
        from .run import Runner

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
                if c["state"] == UPLOADED:  # a process killed while starting it: the batch may exist
                    found = self.api.find_batch(self.metadata(c))
                    if found is not None:
                        self.ledger.update_chunk(c["chunk"], state=SENT, batch_id=found.id, status=found.status)
                        c = self._chunk(c["chunk"])
                if c["state"] == SENT:
                    try:
                        state = self.api.cancel(c["batch_id"])
                    except ApiBatchError as exc:
                        if exc.status != 404:
                            raise
                        self.lost(c, exc)
                        lines.append(f"batch {c['batch_id']}: unknown to the server; its questions are left to send")
                        continue
                    self.ledger.update_chunk(c["chunk"], status=state.status)
                    lines.append(f"batch {state.id}: {state.status}")
                    if state.terminal:
                        self.collect(c, state)
                else:  # never started (a file never recorded as uploaded cannot have a batch), or an export
                    self._dissolve(c["chunk"], "cancelled before it was sent" if c["kind"] == BATCH_API
                                   else "export cancelled: its results are no longer awaited")
                    lines.append(f"{'export' if c['kind'] == EXPORT else 'batch'} {c['chunk']}: dropped, its "
                                 f"{c['requests']} question(s) are left to send")
            if any(c["state"] == SENT for c in self.ledger.chunks(run_id)):
                self.poll(run_id)
            return lines

    # -- another engine ------------------------------------------------------------------------
    def export(self, run_id: str, out: Path) -> tuple[int, int]:
        """Write the run's requests (those not yet done or exported) to `out`; (lines, bytes)."""
        with run_lock(self.config, run_id):
            todo = self._todo(run_id)
            todo = self._not_twice(run_id, todo)
            mode = self.client.batch_mode()
            lines = [line for line in (self.line_for(i, mode) for i in todo) if line is not None]
            if not lines:
                return 0, 0
            data = b"".join(line.data for line in lines)
            chunk, held = self.ledger.new_chunk(run_id, EXPORT, [line.item.key for line in lines], len(data),
                                                sum(line.tokens for line in lines))
            if held:
                self._skip_held(run_id, held)
                raise QtgenError(f"run {run_id}: another run took {len(held)} of its questions meanwhile (now skipped "
                                 "here); export again for the rest")
            if chunk is None:
                raise QtgenError(f"run {run_id}: another qtgen took some of its questions meanwhile; export again")
            try:
                write_atomic(out, data)
            except QtgenError:
                self._dissolve(chunk, "the export file could not be written")
                raise QtgenError(f"{out}: already exists; not overwritten (give another name)", 2) from None
            except OSError as exc:
                self._dissolve(chunk, "the export file could not be written")
                raise QtgenError(f"{out}: cannot write it: {exc.strerror}", 2) from None
            except BaseException:
                self._dissolve(chunk, "the export file could not be written")
                raise
            self.ledger.update_chunk(chunk, state=EXPORTED, mode=mode, path=str(Path(out).resolve()))
            return len(lines), len(data)

    def import_results(self, run_id: str, results: Path) -> dict[str, int]:
        """Ingest an output file made elsewhere; counts of what each line did."""
        try:
            data = Path(results).read_bytes()
        except OSError as exc:
            raise InputError(f"{results}: {exc.strerror}") from None
        found, bad = parse_results(data)
        if not found:
            why = f"line {bad[0][0]}: {bad[0][1]}" if bad else "it is empty"
            raise InputError(f"{results}: no result line could be read ({why})")
        counts = {"done": 0, "failed": 0, "already done": 0, "in a live batch": 0, "unknown": 0, "bad lines": len(bad)}
        with run_lock(self.config, run_id):
            items = {i.key: i for i in self.ledger.items(run_id)}
            chunks = self.ledger.chunks(run_id)
            modes = {c["chunk"]: c["mode"] for c in chunks}
            kinds = {c["chunk"]: c["kind"] for c in chunks if c["state"] in OPEN_CHUNKS}
            for key, result in found.items():
                item = items.get(key)
                if item is None or item.kind != DRAFT or item.state not in (SUBMITTED, PENDING, FAILED, DONE):
                    counts["unknown"] += 1
                    continue
                if item.state == DONE:
                    counts["already done"] += 1
                    continue
                if item.state == SUBMITTED and kinds.get(item.chunk) == BATCH_API:
                    counts["in a live batch"] += 1  # its batch's own result is awaited: never sent twice
                    continue
                mode = modes.get(item.chunk) if item.chunk else self.client.batch_mode()
                error = self.ingest(item, result.body, mode, EXPORT) if result.ok else result.error
                if error is None:
                    counts["done"] += 1
                    continue
                self.ledger.settle(run_id, key, state=FAILED, chunk=None, error=shorten(self.client.mask(error), 300))
                counts["failed"] += 1
            for c in self.ledger.chunks(run_id, (EXPORTED,)):
                if not any(i.state == SUBMITTED for i in self.ledger.chunk_items(c["chunk"])):
                    self.ledger.update_chunk(c["chunk"], state=COLLECTED)
        return counts


NOT_RUN = ("batch_expired", "batch_cancelled")  # error lines of requests a batch never ran


@dataclass
class Result:
    """One line of an output or error file."""

    ok: bool
    body: object = None  # the chat completion, if ok
    error: str = ""
    code: str | None = None

    @property
    def not_run(self) -> bool:
        return self.code in NOT_RUN


def parse_results(data: bytes) -> tuple[dict[str, Result], list[tuple[int, str]]]:
    """custom_id -> its Result, and (line, why) of the lines that could not be read.

    Lines are those of OpenAI's output and error files, and of vLLM's run-batch output:
    `{"custom_id", "response": {"status_code", "body"}, "error": {"code", "message"}}`.
    """
    found: dict[str, Result] = {}
    bad: list[tuple[int, str]] = []
    for n, raw in enumerate(data.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except (ValueError, RecursionError):
            bad.append((n, "not JSON"))
            continue
        if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
            bad.append((n, "no custom_id"))
            continue
        try:
            found[line["custom_id"]] = _result(line)
        except Exception as exc:  # a shape no engine should write: reported, never a crash
            bad.append((n, f"unreadable result ({type(exc).__name__})"))
    return found, bad


def _result(line: dict) -> Result:
    response = line.get("response") if isinstance(line.get("response"), dict) else {}
    error = line.get("error")
    status, body = response.get("status_code"), response.get("body")
    if error:
        message = str(error.get("message") or "") if isinstance(error, dict) else str(error)
        code = error.get("code") if isinstance(error, dict) else None
        code = str(code) if code is not None else None
        # not shortened here: a secret must be masked whole (the caller masks, then shortens)
        return Result(False, error=f"{code + ': ' if code else ''}{message}" or "an error without a message", code=code)
    if status == 200 and isinstance(body, dict):
        return Result(True, body=body)
    detail = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        detail = body["error"].get("message")
    return Result(False, error=f"status {status}: {detail or 'no usable response'}")


def poll_all(job, *, notify: Callable[[str], None] = lambda m: None,
             on_wait: Callable[[float, Exception], None] | None = None) -> list[tuple[str, LaneProgress, str]]:
    """`qtgen runs --poll`: every unfinished Batch API run followed once (results collected, what is
    left sent, unless the run was cancelled); (run id, progress, status) of each."""
    from .run import Options

    out: list = []
    for run in job.ledger.unfinished():
        if run.options.get("via") != BATCH_API and not job.ledger.chunks(run.run_id, (NEW, UPLOADED, SENT)):
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
