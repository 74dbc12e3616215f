"""Judging through the provider's Batch API, at its price (half the online one by default).

`send` puts every draft not yet graded in its present form (nor already in a batch) into one JSONL file of
requests, uploads it and starts a batch; `collect` follows the open batches and, for each that ended, grades each
answer exactly as an online judgment is graded (the quote check against the answer that was sent) and keeps it.
A line that failed, expired or was cancelled is simply sent again by the next `send`. Upload and create are
idempotent (the file is named by its content, the batch found again by its metadata), so a judge killed at any
point sends nothing twice. Every server message is masked before it is kept.

    lane = JudgeLane(judge, client)
    lane.send(drafts, max_cost=5.0)
    judgments = lane.collect()
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

from ..errors import QtgenError
from ..format.page import Page
from ..llm.batchapi import ENDPOINT, ApiBatchError, BatchApi
from ..llm.client import ChatClient
from ..llm.reply.fields import Retryable, shorten
from .judge import Judge
from .rubric import MAX_TOKENS, SCHEMA, Judgment, graded
from .store import RequestState

SENT, COLLECTED, DONE, FAILED = RequestState


class JudgeLane:
    def __init__(self, judge: Judge, client: ChatClient, notify: Callable[[str], None] = lambda m: None):
        self.judge, self.client, self.notify = judge, client, notify
        self.api = BatchApi(client)
        self.store = judge.store()
        self.failed: list[str] = []

    def body(self, page: Page) -> dict:
        """A grade's request, fitted to the judge model up front (a refused Batch API line costs a day)."""
        return self.client.structured_body(self.judge.messages(page), "judgment", SCHEMA, MAX_TOKENS)

    def price(self, usage, model: str | None = None) -> float | None:
        from ..llm.pricing import BATCH_API
        from ..llm.pricing import of_config as pricing

        return pricing(self.judge.config).cost(model or self.judge.model, usage, BATCH_API)

    def waiting(self) -> set[str]:
        return self.store.waiting_requests()

    def send(self, drafts: list[tuple[str, bytes, Page]], max_cost: float | None = None) -> tuple[int, int, str | None]:
        """(drafts sent, drafts with a kept grade, the batch's id or None when nothing needed sending)."""
        kept = self.judge.kept([(name, data, page.subject) for name, data, page in drafts], fresh=True)
        waiting = self.waiting()
        lines, rows, most = [], [], 0.0
        for name, data, page in drafts:
            key = self.judge.key(data, page.subject)
            if name in kept or key in waiting:
                continue
            body = self.body(page)
            if max_cost is not None:
                from ..llm.reply.usage import Usage

                worst = self.price(Usage(self.client.prompt_estimate(body["messages"]),
                                         self.client.completion_budget(MAX_TOKENS))) or 0.0
                if most + worst > max_cost + 1e-12:
                    self.notify(f"--max-cost ${max_cost:g}: {len(drafts) - len(kept) - len(lines)} draft(s) left "
                                "unsent, for a later batch")
                    break
                most += worst
            lines.append(json.dumps({"custom_id": key, "method": "POST", "url": ENDPOINT, "body": body},
                                    ensure_ascii=False, separators=(",", ":")) + "\n")
            rows.append((key, name, hashlib.sha256(data).hexdigest(), page.subject, page.decoded_answer(),
                         self.judge.rubric_hash(page.subject)))
            waiting.add(key)  # a draft named twice is sent once
        if not lines:
            return 0, len(kept), None
        data = "".join(lines).encode("utf-8")
        name = f"qtgen-judge-{hashlib.sha256(data).hexdigest()[:20]}.jsonl"
        meta = {"qtgen": "judge", "file": name}
        # a judge killed after an upload or a create finds them again (the file is named by its content): a marker
        # written before the upload says one may exist, so a first send lists nothing (a gateway may not list files)
        marker = self.judge.config.state("judge-uploads", name)
        state = None
        if marker.is_file():
            state = self._found(lambda: self.api.find_batch(meta))
        if state is None:
            file_id = self._found(lambda: self.api.find_file(name)) if marker.is_file() else None
            if file_id is None:
                from ..format.files import write_atomic

                write_atomic(marker, name + "\n", overwrite=True, within=self.judge.config.drafts)
                file_id = self.api.upload(name, data)
            state = self.api.create(file_id, meta)
        self.store.add_judge_batch(state.id, name, self.judge.model, state.status, rows)
        marker.unlink(missing_ok=True)
        return len(rows), len(kept), state.id

    @staticmethod
    def _found(look):
        """What a look-up of an earlier upload or batch finds; None where the server cannot list them (404)."""
        try:
            return look()
        except ApiBatchError as exc:
            if exc.status in (404, 405, 501):
                return None
            raise

    def open_batches(self) -> list[str]:
        return list(self._open())

    def _open(self) -> dict[str, str]:
        """Open batches (id -> the judge model they were sent to), oldest first."""
        return self.store.open_judge_batches()

    def collect(self) -> list[Judgment]:
        """The grades of every batch that has ended since the last look (each kept as it is read)."""
        from ..batch.results import parse_results  # the provider's result lines, read as the drafting lane reads them

        out: list[Judgment] = []
        for batch_id, model in self._open().items():
            state = self.api.retrieve(batch_id)
            self._update(batch_id, status=state.status)
            if not state.terminal:
                continue
            results = {}
            for file_id in (state.output_file_id, state.error_file_id):
                if file_id:
                    try:
                        found, _ = parse_results(self.api.download(file_id))
                    except ApiBatchError as exc:
                        if exc.status is None or not 400 <= exc.status < 500:
                            raise  # no answer now: the next look tries again
                        continue
                    for key, value in found.items():
                        results.setdefault(key, value)
            requests = self.store.sent_requests(batch_id)
            for request in requests:
                result = results.get(request["key"])
                if result is None or not result.ok:
                    why = result.error if result is not None else f"batch {batch_id} ended {state.status} without it"
                    self._fail(request, why)
                    continue
                try:
                    out.append(self._grade(request, result.body, model))
                except (QtgenError, Retryable) as exc:
                    self._fail(request, str(exc))
                except Exception as exc:  # noqa: BLE001 - one unreadable line never wedges the batch
                    self._fail(request, f"unreadable result ({type(exc).__name__})")
            errors = "; ".join(f"{code}: {message}" for code, message in state.errors) or None
            self._update(batch_id, state=COLLECTED, error=self.client.mask(errors) if errors else None)
        return out

    def _grade(self, request: dict, body, model: str) -> Judgment:
        reply, usage = self.client.read_json_body(body)  # refusals, cut-offs and filters read as online; masked
        criteria, issues, dropped, score, verdict = graded(reply, request["answer"])
        used_in, used_out = usage.prompt_tokens, usage.completion_tokens
        spent = self.price(usage, model)
        judgment = Judgment(request["draft"], verdict, score, criteria, issues, model, False, spent, dropped,
                            request["key"])
        self.store.put(request["key"], request["draft"], request["data_sha"], model, request["rubric"] or self.judge.rubric_hash(request["subject"]),
                       judgment.stored(), used_in, used_out, spent)
        self.judge.asked += 1
        self.judge.tokens_in += used_in
        self.judge.tokens_out += used_out
        self.judge.spent += spent or 0.0
        self._settle(request["key"], DONE, None)
        return judgment

    def _fail(self, request: dict, why: str) -> None:
        why = shorten(self.client.mask(why), 300)
        self.failed.append(f"{Path(request['draft']).name}: {why} (the next send tries it again)")
        self._settle(request["key"], FAILED, why)

    def _settle(self, key: str, state: str, error: str | None) -> None:
        self.store.settle_request(key, state, error)

    def _update(self, batch_id: str, **values) -> None:
        self.store.update_judge_batch(batch_id, **values)
