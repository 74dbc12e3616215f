"""Sending a run's request lines as batches under the provider's limits (requests and bytes per file, prompt
tokens enqueued at once), each file and batch recorded in the ledger before and after each call, and found again
after a crash by its name or metadata."""

from __future__ import annotations

import time
from pathlib import Path

from ..format.files import write_atomic
from ..llm.batchapi import TERMINAL, ApiBatchError, FileTooLarge
from ..llm.pricing import BATCH_API
from .entries import FAILED, PENDING, SUBMITTED

from .chunk import DISSOLVED, LOST, NEW, OPEN_CHUNKS, UPLOADED, Chunk, ChunkState, Line, folder


class Sender:
    """Sending a run's lines as batches under the provider's limits, each file and batch recorded before and after each call."""

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
            if c.kind != BATCH_API:
                continue
            if c.run_id == run_id:
                total += c.tokens
            elif c.state == ChunkState.SUBMITTED and c.status not in TERMINAL + (LOST,):
                total += c.tokens
            elif c.state != ChunkState.SUBMITTED and now - (c.updated or 0) < 600:
                total += c.tokens  # being sent by another process now (an abandoned one stops counting)
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
        for c in self.ledger.chunks(None, (ChunkState.SUBMITTED,)):
            if c.run_id != run_id and c.status not in TERMINAL + (LOST,):
                try:
                    self.ledger.update_chunk(c.chunk, status=self.api.retrieve(c.batch_id).status)
                except ApiBatchError as exc:
                    if exc.status == 404:
                        self.ledger.update_chunk(c.chunk, status=LOST)  # its own run settles its questions
                    continue

    def _chunk(self, chunk: str) -> dict:
        return self.ledger.chunk(chunk)

    @staticmethod
    def metadata(c: Chunk) -> dict[str, str]:
        """What a batch carries at the provider, so a lost answer to its creation can be found again."""
        return {"qtgen_run": c.run_id, "qtgen_batch": c.chunk}

    def _send(self, c: Chunk, data: bytes | None, resumed: bool) -> None:
        """Upload a batch's file and start it, recording each step; a resumed step first looks for
        what an interrupted process may already have done."""
        name = f"qtgen-{c.chunk}.jsonl"
        if c.state == NEW:
            file_id = self.api.find_file(name) if resumed else None
            if file_id is None:
                if data is None:
                    data = Path(c.path).read_bytes()
                file_id = self._resumed_call(resumed, c, lambda: self.api.upload(name, data))
                if file_id is None:
                    return
            self.ledger.update_chunk(c.chunk, state=UPLOADED, file_id=file_id)
            c = self._chunk(c.chunk)
        if c.state == UPLOADED:
            meta = self.metadata(c)
            state = self.api.find_batch(meta) if resumed else None
            if state is None:
                state = self._resumed_call(resumed, c, lambda: self.api.create(c.file_id, meta))
                if state is None:
                    return
            self.ledger.update_chunk(c.chunk, state=ChunkState.SUBMITTED, batch_id=state.id, status=state.status)
            self.progress.batches_sent += 1
            self.progress.requests_sent += c.requests

    def _resumed_call(self, resumed: bool, c: Chunk, call):
        """An upload or create; when resuming, a refusal (the file expired meanwhile, say) returns the
        batch's questions to be sent afresh instead of stopping the whole run (None is returned)."""
        try:
            return call()
        except FileTooLarge:
            raise
        except ApiBatchError as exc:
            if not resumed or exc.status is None or not 400 <= exc.status < 500 or exc.status in (401, 403, 429):
                raise
            self._dissolve(c.chunk, f"refused when resumed: {exc}")
            self.notify(f"{exc}: its {c.requests} question(s) are sent again in a new batch")
            return None

    def _refused(self, chunk: str, exc: ApiBatchError) -> None:
        """A call the server answered with a refusal (4xx): nothing of the batch runs there, so its
        questions go back to be sent; a call that never got an answer keeps them, to be looked for."""
        if exc.status is not None and 400 <= exc.status < 500:
            self._dissolve(chunk, str(exc))

    def lost(self, c: Chunk, exc: ApiBatchError) -> None:
        """A batch the server no longer knows (404: deleted, or another project's key): its questions are
        left to send again rather than awaited for ever."""
        self._dissolve(c.chunk, f"the server does not know batch {c.batch_id} ({exc}); its questions are "
                                   "left to send again", status=LOST)
        self.notify(f"batch {c.batch_id}: unknown to the server (404); its {c.requests} question(s) will be sent "
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
            if c.kind != BATCH_API:
                continue
            try:
                if c.state == NEW and not (c.path and Path(c.path).is_file()):
                    self._dissolve(c.chunk, "its file was never uploaded")
                    continue
                self._send(c, None, resumed=True)
            except FileTooLarge as exc:
                self.ledger.set_run(run_id, max_bytes=max(1, c.bytes // 2))
                self._dissolve(c.chunk, str(exc))
