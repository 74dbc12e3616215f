"""`qtgen batch`: many questions, concurrently, just under the provider's rate limit, losing nothing.

    from qtgen import batch
    with batch.Batch(config) as b:
        prepared = b.prepare(Path("questions.csv"), batch.Options(concurrency=8))
        b.run(prepared)
        print(b.summary(prepared.run.run_id))

Every question is checked and deduplicated (exact and near-duplicates, in the list and against the
site) before any request, recorded in the ledger in one transaction, drafted by a worker (the same
plan -> model -> write path as `qtgen draft`) under a lease, and written atomically. A run that is
killed resumes with what is left and the options it was started with; a draft found on disk for a
question the ledger had not yet marked done is adopted, never written twice; every id is reserved.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

from ..config import Config
from ..errors import InputError, QtgenError
from ..format.files import write_atomic
from ..format.slug import names_something, slug
from ..llm.pricing import cap_of, cost
from ..llm.reply.usage import Usage
from ..llm.ratelimit import RateLimiter, shared_store
from ..site.index import open_index
from ..drafting import drafter as drafting
from ..drafts.folder import DraftStore
from .ledger import Ledger, ledger_path, new_holder
from ..llm.pricing import BATCH_API, ONLINE
from .entries import DONE, FAILED, INVALID, OPEN, PENDING, REVISE, SKIPPED, BatchItem
from .chunk import EXPORT, EXPORTED, OPEN_CHUNKS
from .online import Runner, adoptable
from .options import HELD, Options, Prepared, Progress, Summary  # noqa: F401 - part of batch's API
from .question_list import read_questions


def _judged(score: float, config: Config) -> str:
    """Said of a near-duplicate scoring under the threshold: the model's check found it."""
    return " (the model: the same question)" if score + 1e-9 < config.similar_threshold else ""


def _shown_path(config: Config, path: str) -> str:
    """A page's path as a reader finds it: below the site's root where it lies there."""
    try:
        return str(Path(path).relative_to(config.root))
    except ValueError:
        return path


def key_of(config: Config, question: str, subject: str) -> str:
    """A question's key in the ledger: its place below the drafts folder."""
    return f"{slug(subject, config.slug_style)}/{slug(question, config.slug_style)}.md"


def left_of(counts: dict) -> int:
    return sum(counts.get(s, 0) for s in OPEN)


class Batch:
    """One `qtgen batch` command: the ledger, the site index and the drafts folder, opened together."""

    def __init__(self, config: Config):
        self.config = config
        self.store = DraftStore(config)
        self.ledger = Ledger(ledger_path(config))
        try:
            self.index = open_index(config)
        except BaseException:
            self.ledger.close()
            raise
        self.holder = new_holder()
        from ..drafting.near_duplicates import DuplicateCheck

        self.duplicate_check = DuplicateCheck.open(config)  # the model's word on uncertain near-duplicates, if on

    def close(self) -> None:
        self.duplicate_check.close()
        self.index.close()
        self.ledger.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- before any request --------------------------------------------------------------------
    def prepare(self, path: Path | None, options: Options | None = None, *, given: dict | None = None,
                resume: bool = False) -> Prepared:
        """Read, check and deduplicate the list, and record it in the ledger; no request is made here (but the
        model's check of uncertain near-duplicates, when `similar_check` is on).

        `given` are the options set explicitly now: on a resumed run they override what it stored,
        the rest comes from the run.
        """
        given = dict(given or {})
        cap_of(self.config, (options or Options()).max_cost, (options or Options()).via)
        if path is None:
            latest = self.ledger.latest_unfinished() if resume else None
            if latest is None:
                raise InputError("give the QUESTIONS file" + (" (no unfinished run to resume)" if resume else ""))
            if latest.input.startswith("revise:"):
                raise InputError(f"run {latest.run_id} revises published pages: rerun the same qtgen revise command "
                                 "to resume it")
            path = Path(latest.input)
            if not path.is_file():
                raise InputError(f"{path}: the list of run {latest.run_id} is gone; give the file again")
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(f"{path}: {exc.strerror}") from None
        sha = hashlib.sha256(data).hexdigest()
        base = options or Options()
        stored = self.ledger.unfinished_options(str(path.resolve()), sha)
        notes: list[str] = []
        if stored is not None:
            if "subject" in given and stored.get("subject") and given["subject"] != stored["subject"]:
                raise InputError(f"--subject {given['subject']}: this run drafts its list under {stored['subject']!r}; "
                                 "its questions keep that subject (start a new run with a copy of the list)")
            options, notes = Options.merged(stored, given)
            options.limit, options.max_cost = base.limit, base.max_cost
        else:
            options = base
        rows, bad = read_questions(path, options.subject)
        rows = self._site_subjects(path, rows, bad, options, notes)
        if options.strict and bad:
            shown = "; ".join(b.text() for b in bad[:3]) + (f" (+{len(bad) - 3} more)" if len(bad) > 3 else "")
            raise InputError(f"--strict: {len(bad)} bad line(s), nothing sent: {shown}")
        run, resumed = self.ledger.open_run(str(path.resolve()), sha, options.kept())
        if resumed and run.options.get("via", ONLINE) != options.via:
            self.ledger.keep_option(run.run_id, "via", options.via)  # polling follows the lane it was switched to
        known = self.ledger.known_keys(run.run_id)
        records = [dict(key=f"line:{b.line}", line=b.line, state=INVALID, error=b.message) for b in bad]
        seen: dict[str, int] = {}
        unique = []
        for row in rows:
            key = key_of(self.config, row.question, row.subject)
            if not names_something(slug(row.question, self.config.slug_style)):
                records.append(dict(key=f"line:{row.line}", line=row.line, question=row.question, subject=row.subject,
                                    state=INVALID, error="question has no letters or digits to build a file name from"))
                continue
            if key in seen:
                records.append(dict(key=f"line:{row.line}", line=row.line, question=row.question, subject=row.subject,
                                    state=SKIPPED, error=f"duplicate of line {seen[key]}"))
                continue
            seen[key] = row.line
            unique.append((key, row))
        check = self.duplicate_check
        accept = check.same if check.enabled else None
        near = {} if options.allow_similar else self.index.near_duplicates_within(
            [row.question for _, row in unique], check.floor, accept)
        fresh = [(i, row) for i, (key, row) in enumerate(unique) if key not in known]
        places: dict[int, object] = {}
        for i, row in fresh:  # where each would go: refused now if drafted, published or rejected already
            try:
                places[i] = drafting.plan(self.config, row.question, row.subject)
            except QtgenError as exc:
                places[i] = str(exc)
            except OSError as exc:
                places[i] = f"cannot check its place in the drafts folder: {exc.strerror}"
        planned = [(i, p) for i, p in places.items() if not isinstance(p, str)]
        asked = {} if options.allow_similar else dict(zip(
            [i for i, _ in planned], self.index.similar_many([p.question for _, p in planned], check.floor,
                                                             [p.file_name for _, p in planned], accept)))
        for i, (key, row) in enumerate(unique):
            if key in known:
                continue  # resumed: the ledger already knows this question and its state
            reason = None
            if i in near:
                j, score = near[i]
                other = unique[j][1]
                if slug(other.question, self.config.slug_style) != slug(row.question, self.config.slug_style):
                    reason = (f"near-duplicate ({score:.0f}/100{_judged(score, self.config)}) of line {other.line}: {other.question!r} "
                              f"({other.subject}) (--allow-similar drafts it)")
            if reason is None and isinstance(places[i], str):
                reason = places[i]
            if reason is None and asked.get(i) is not None:
                e, score = asked[i].entry, asked[i].score
                reason = (f"near-duplicate ({score:.0f}/100{_judged(score, self.config)}) of {e.question!r} ({e.subject}, {e.source} "
                          f"{_shown_path(self.config, e.path)}) (--allow-similar drafts it)")
            state = SKIPPED if reason else PENDING
            if state == PENDING and row.page_id is not None:
                try:  # an id given in the list is reserved now, before any automatic id is handed out
                    self.index.claim_id(key, row.page_id, row.question)
                except QtgenError as exc:
                    state, reason = INVALID, f"id: {exc}"
            records.append(dict(key=key, line=row.line, question=row.question, subject=row.subject,
                                state=state, error=reason, page_id=row.page_id,
                                date=row.date.isoformat() if row.date else None))
        added = self.ledger.add_many(run.run_id, records)
        checked = [self.duplicate_check.summary()] if self.duplicate_check.summary() else []
        return Prepared(run, resumed, options, bad, added, notes + self.store.notes + checked)

    def _site_subjects(self, path: Path, rows: list, bad: list, options: Options, notes: list[str]) -> list:
        """Rows with subjects as the site spells them; a row whose subject the site lacks is a bad line (unless
        --new-subject), reported like any other and refused with --strict."""
        from .question_list import BadLine

        spelled: dict[str, str] = {}
        refused: dict[str, str] = {}
        kept = []
        for row in rows:
            if row.subject not in spelled and row.subject not in refused:
                try:
                    spelled[row.subject], alerts = drafting.site_subject(self.index, row.subject, options.new_subject)
                    notes += alerts
                except InputError as exc:
                    refused[row.subject] = f"{exc} (qtgen batch --new-subject takes it as written)"
            if row.subject in refused:
                bad.append(BadLine(str(path), row.line, refused[row.subject]))
                continue
            row.subject = spelled[row.subject]
            kept.append(row)
        return kept

    def prepare_revisions(self, candidates: list, options: Options, label: str) -> Prepared:
        """Record revisions of published pages as one run; the same pages, rules and feedback resume it."""
        names = sorted(str(c.path.resolve()) for c in candidates)
        sha = hashlib.sha256("\n".join([*names, options.feedback or "", *options.rules]).encode()).hexdigest()
        run, resumed = self.ledger.open_run(f"revise:{label}", sha, {**options.kept(), "rules": list(options.rules)})
        known = self.ledger.known_keys(run.run_id)
        records = []
        for n, c in enumerate(candidates, 1):
            key = key_of(self.config, c.page.question, c.page.subject)
            if key in known:
                continue
            waiting = self.config.drafts / key
            reason = f"{waiting}: a draft or revision of this page is already waiting" if waiting.exists() else None
            records.append(dict(key=key, line=n, question=c.page.question, subject=c.page.subject,
                                state=SKIPPED if reason else PENDING, error=reason, page_id=c.page.id, kind=REVISE,
                                source=str(c.path.resolve())))
        added = self.ledger.add_many(run.run_id, records)
        return Prepared(run, resumed, options, [], added, list(self.store.notes))

    # -- the requests --------------------------------------------------------------------------
    def run(self, prepared: Prepared, *, tick: Callable[["Runner"], None] = lambda r: None,
            notify: Callable[[str], None] = lambda m: None,
            on_wait: Callable[[float, Exception], None] | None = None) -> Progress | None:
        """Draft what is left of the run (None if nothing is); returns when all is done, a budget is
        reached or on Ctrl-C (in-flight requests finish; a second Ctrl-C returns at once)."""
        from ..llm.backend import open_client

        if not left_of(self.ledger.counts(prepared.run_id)):
            return None
        options = prepared.options
        with open_client(self.config, notify=notify, on_wait=on_wait) as client:
            # paced by the server's rate-limit headers, the budget shared with other runs on this server and key
            client.limiter = RateLimiter(options.rpm, options.tpm, tokens_per_request=client.completion_budget() + 600,
                                         concurrency=options.concurrency,
                                         store=shared_store(client.server, client.settings.api_key))
            runner = Runner(self.config, self.ledger, self.index, client, client.limiter, options, self.holder, notify)
            return runner.run(prepared.run_id, lambda: tick(runner))

    def close_run(self, run_id: str) -> str:
        return self.ledger.close_run(run_id, self.holder)

    def summary(self, run_id: str, status: str | None = None) -> Summary:
        counts = self.ledger.counts(run_id)
        tokens_in, tokens_out = self.ledger.totals(run_id)
        spent = sum(cost(self.config, i.model or "", i.usage, i.lane) for i in self.ledger.items(run_id, (DONE, FAILED)))
        similar = [i for i in self.ledger.items(run_id, (SKIPPED,)) if "near-duplicate" in (i.error or "")]
        return Summary(run_id, status or self.ledger.run(run_id).status, counts, left_of(counts), tokens_in,
                       tokens_out, spent, self.ledger.items(run_id, (FAILED,)), similar,
                       [i for i in self.ledger.items(run_id, (INVALID,)) if i.question])

    def overview(self) -> list[dict]:
        """Every run with its counts, lane, cost and (Batch API, export) batches, oldest first."""
        out = []
        for row in self.ledger.runs():
            run = self.ledger.run(row["run"])
            batches = [c.shown() for c in self.ledger.chunks(run.run_id)]
            out.append({**row, "via": run.options.get("via", ONLINE), "cost": round(self.summary(run.run_id).cost, 6),
                        "batches": batches})
        return out

    def lane_state(self, run_id: str) -> tuple[bool, bool]:
        """(open Batch API batches, open exports) of a run."""
        chunks = self.ledger.chunks(run_id, (*OPEN_CHUNKS, EXPORTED))
        return any(c.kind == BATCH_API for c in chunks), any(c.kind == EXPORT for c in chunks)

    def cost_of(self, model: str, usage: Usage, lane: str = ONLINE) -> float:
        return cost(self.config, model, usage, lane)

    def adopt_draft(self, item: BatchItem) -> bool:
        """A draft already on disk for this question (written before a crash) is taken, not written again."""
        page = adoptable(self.config, item)
        if page is None:
            return False
        self.ledger.settle(item.run_id, item.key, state=DONE, path=str(self.config.drafts / item.key), page_id=page.id,
                           holder=None, error="adopted: the draft was written before the run stopped")
        return True

    def write_report(self, run_id: str, path: Path) -> None:
        lines = [json.dumps(i.report(), ensure_ascii=False) for i in self.ledger.items(run_id)]
        write_atomic(path, "\n".join(lines) + ("\n" if lines else ""), overwrite=True)
