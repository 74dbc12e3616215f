"""A run's requests exported for another engine (vLLM's `run-batch`), and that engine's results imported."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError, QtgenError
from ..format.files import write_atomic
from ..llm.reply.fields import shorten
from ..llm.pricing import BATCH_API
from .entries import DONE, DRAFT, FAILED, PENDING, SUBMITTED

from .chunk import COLLECTED, EXPORT, EXPORTED, OPEN_CHUNKS, run_lock
from .results import parse_results


class Exchange:
    """Export of a run's requests for another engine, and the import of its results (the lane's `export` side)."""

    def export(self, run_id: str, out: Path) -> tuple[int, int]:
        """Write the run's requests (those not yet done or exported; at most --limit) to `out`; (lines, bytes)."""
        with run_lock(self.config, run_id):
            todo = self._todo(run_id)
            todo = self._not_twice(run_id, todo)
            if self.options.limit is not None:  # the rest stay to export (or draft) later
                todo = todo[: self.options.limit]
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
            modes = {c.chunk: c.mode for c in chunks}
            kinds = {c.chunk: c.kind for c in chunks if c.state in OPEN_CHUNKS}
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
                if not any(i.state == SUBMITTED for i in self.ledger.chunk_items(c.chunk)):
                    self.ledger.update_chunk(c.chunk, state=COLLECTED)
        return counts
