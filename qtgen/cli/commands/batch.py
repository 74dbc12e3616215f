"""`qtgen batch run|resume|cancel|export|import`: every question of a list, under the rate limit, resumably."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from ..context import Ctx, command, effort_option, given, hidden, verbs
from ..progress import exit_if_interrupted, print_summary, run_with_progress

_LIST = ("subject", "strict", "allow_similar", "new_subject", "related")
_PACE = ("concurrency", "rpm", "tpm", "via", "retry_online")


def list_options(fn):
    """How a list's lines are checked and drafted."""
    for option in reversed([
        click.option("-s", "--subject", help="Subject for a plain-text list (or rows without one)."),
        click.option("--strict", is_flag=True, help="Send nothing if any line of the list is bad."),
        click.option("--allow-similar", is_flag=True, help="Draft questions that pages already ask in other words."),
        click.option("--new-subject", is_flag=True, help="Take subjects the site does not have yet as written (else "
                     "a row with an unknown subject is a bad line)."),
        click.option("--related/--no-related", default=True, help="Add related published pages (default on)."),
    ]):
        fn = option(fn)
    return fn


def pace_options(fn):
    """How fast, how much, and by which lane."""
    for option in reversed([
        click.option("-c", "--concurrency", default=16, show_default=True, type=click.IntRange(1, 256),
                     help="At most this many requests in flight (fewer while the server's limits are learned)."),
        click.option("--rpm", type=click.FloatRange(min=0.1),
                     help="Never more than this many requests per minute (the server's headers set the pace)."),
        click.option("--tpm", type=click.FloatRange(min=1), help="Never more than this many tokens per minute."),
        click.option("--limit", type=click.IntRange(min=0),
                     help="Draft (batch-api: send) at most N questions now; the rest stay resumable."),
        click.option("--max-cost", type=click.FloatRange(min=0), help="Stop starting new questions past this many "
                     "dollars (batch-api: send only what this can pay for, each request counted at its most)."),
        click.option("--via", type=click.Choice(["online", "batch-api"]),
                     help="online: requests now, under the rate limit; batch-api: the provider's Batch API, within "
                          "24 h at half the price (config batch_lane)."),
        click.option("--wait", is_flag=True, help="batch-api: follow the batches with a progress bar until all are "
                                                  "done."),
        click.option("--retry-online", is_flag=True, help="batch-api: try a failed line again online, not in a new "
                                                          "batch."),
    ]):
        fn = option(fn)
    return fn


def register(cli: click.Group) -> None:
    @verbs(cli, "batch", default="run")
    def batch():
        """Draft every question of a list, under the rate limit, resumably: `qtgen batch run LIST` (or just `qtgen
        batch LIST`), `resume`, `cancel RUN`, `export LIST OUT` and `import RUN RESULTS`."""

    @command(batch, "run", short_help="Draft every question of a list (the default verb).")
    @effort_option
    @click.argument("questions", required=False, type=click.Path(dir_okay=False, path_type=Path))
    @list_options
    @pace_options
    @hidden("--report", type=click.Path(dir_okay=False, path_type=Path), help="Write one JSON line per question.")
    @hidden("--resume", is_flag=True)
    @hidden("--cancel", "cancel_run", metavar="RUN")
    @hidden("--export-jsonl", type=click.Path(dir_okay=False, path_type=Path), metavar="OUT")
    @hidden("--import-results", nargs=2, metavar="RUN RESULTS")
    @click.pass_context
    def run(ctx: click.Context, questions, report, resume, cancel_run, export_jsonl, import_results, limit, max_cost,
            wait, **values):
        """Draft every question of a CSV, TSV, JSONL or text file, under the rate limit, resumably.

        Running the same command again drafts only what is left, with the options the run was started with; flags
        given again override them. With --via batch-api the questions go to the provider's Batch API: `qtgen batch
        resume` (or `qtgen runs poll`) collects the pages, or add --wait. `qtgen runs report RUN OUT` writes one JSON
        line per question.
        """
        obj: Ctx = ctx.obj
        # the forms of earlier releases, kept for one release: --cancel, --export-jsonl, --import-results
        if sum(x is not None and x != () for x in (cancel_run, export_jsonl, import_results)) > 1:
            raise click.UsageError("give one of --cancel, --export-jsonl and --import-results")
        if (cancel_run is not None or import_results) and questions:
            raise click.UsageError("--cancel and --import-results take a run, not a QUESTIONS file")
        if export_jsonl is not None and str(export_jsonl) in ("-", ""):
            raise click.UsageError("--export-jsonl takes a file name (the requests are written to a file)")
        if export_jsonl is not None and values["via"]:
            raise click.UsageError("--export-jsonl writes the requests for another engine; --via does not apply")
        if cancel_run is not None:
            return _cancel(obj, cancel_run, report)
        if import_results:
            return _import(obj, import_results[0], Path(import_results[1]), report)
        if export_jsonl:
            return _export(obj, questions, values, given(ctx, _LIST), resume, export_jsonl, limit)
        _draft(obj, questions, values, given(ctx, _LIST + _PACE), limit, max_cost, resume, wait, report)

    @command(batch, "resume", short_help="Go on with the latest unfinished run.")
    @effort_option
    @click.argument("questions", required=False, type=click.Path(dir_okay=False, path_type=Path))
    @pace_options
    @click.pass_context
    def resume(ctx: click.Context, questions, limit, max_cost, wait, **values):
        """Go on with the latest unfinished run (or the run of QUESTIONS): draft what is left, collect what the Batch
        API finished, with the options the run was started with; options given here override them."""
        values.update(subject=None, strict=False, allow_similar=False, new_subject=False, related=True)
        _draft(ctx.obj, questions, values, given(ctx, _PACE), limit, max_cost, True, wait, None)

    @command(batch, "cancel", short_help="Cancel a run's open batches and exports.")
    @click.argument("run_id", metavar="RUN")
    @click.pass_obj
    def cancel(obj: Ctx, run_id):
        """Cancel RUN's open Batch API batches and exports; what finished is kept."""
        _cancel(obj, run_id, None)

    @command(batch, "export", short_help="Write a list's requests as Batch API JSONL.")
    @click.argument("questions", type=click.Path(dir_okay=False, path_type=Path))
    @click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
    @list_options
    @click.option("--limit", type=click.IntRange(min=0), help="Export at most N questions; the rest stay resumable.")
    @click.pass_context
    def export(ctx: click.Context, questions, out, limit, **values):
        """Write the requests of a list as Batch API JSONL for another engine (vLLM's run-batch), sending nothing;
        `qtgen batch import RUN RESULTS` drafts the pages from its output."""
        if str(out) in ("-", ""):
            raise click.UsageError("OUT is a file name (the requests are written to a file)")
        _export(ctx.obj, questions, values, given(ctx, _LIST), False, out, limit)

    @command(batch, "import", short_help="Draft pages from another engine's results.")
    @click.argument("run_id", metavar="RUN")
    @click.argument("results", type=click.Path(dir_okay=False, path_type=Path))
    @click.pass_obj
    def import_(obj: Ctx, run_id, results):
        """Draft pages from RESULTS, an output file of RUN's exported requests, made elsewhere."""
        _import(obj, run_id, results, None)


def _draft(obj: Ctx, questions, values: dict, typed: dict, limit, max_cost, resume: bool, wait: bool, report) -> None:
    """A run drafted (online) or sent and followed (Batch API), then summed up; exits with its status."""
    from ...batch.run import Batch
    from ...batch.options import Options

    values = dict(values, via=values.get("via") or obj.config.batch_lane)
    options = Options(**values, limit=limit, max_cost=max_cost)
    with Batch(obj.config) as job:
        prepared = job.prepare(questions, options, given=typed, resume=resume)
        if prepared.options.via == "batch-api":
            return _batch_api(obj, job, prepared, wait, report)
        before = _announce(obj, job, prepared)
        total = min(before.left, limit if limit is not None else before.left)
        progress = None
        try:
            progress = run_with_progress(obj, job, prepared, total, before.counts.get("skipped", 0))
        finally:
            status = job.close_run(prepared.run_id)
        if report:
            job.write_report(prepared.run_id, report)
        summary = job.summary(prepared.run_id, status)
        print_summary(obj, summary, progress)
        _awaited_hint(obj, job, prepared.run_id, status)
    exit_if_interrupted(obj, summary, progress)
    sys.exit(1 if summary.failed or prepared.bad or (progress is not None and progress.quota) else 0)


def _announce(obj: Ctx, job, prepared):
    for note in prepared.notes:
        obj.info(f"note: {note}")
    for bad in prepared.bad:
        obj.info(f"bad line: {bad.text()}")
    before = job.summary(prepared.run_id, "running")
    waiting = before.counts.get("submitted", 0)
    obj.info(f"run {prepared.run_id}{' (resumed)' if prepared.resumed else ''}: {before.left - waiting} to draft, "
             + (f"{waiting} awaited from a batch or export, " if waiting else "")
             + f"{before.counts.get('done', 0)} done, {before.counts.get('skipped', 0)} skipped, "
             f"{len(prepared.bad)} bad line(s)")
    return before


def _finish(obj: Ctx, job, run_id: str, status: str, report, progress=None) -> None:
    if report:
        job.write_report(run_id, report)
    summary = job.summary(run_id, status)
    print_summary(obj, summary, progress, resume=_resume_hint(job, run_id))
    _awaited_hint(obj, job, run_id, status)
    sys.exit(1 if summary.failed else 0)


def _resume_hint(job, run_id: str) -> str:
    if job.ledger.run(run_id).options.get("via") == "export":
        return (f"qtgen batch export LIST OUT (what is left), then qtgen batch import {run_id} RESULTS.jsonl; "
                "or qtgen batch resume --via online")
    return "qtgen batch resume"


def _awaited_hint(obj: Ctx, job, run_id: str, status: str) -> None:
    """Where the questions a run still awaits are, and how to get them."""
    if status != "submitted":
        return
    batches, exports = job.lane_state(run_id)
    if batches:
        obj.info("the rest is at the provider: collect it with `qtgen batch resume` (add --wait to follow it) "
                 "or `qtgen runs poll`")
    if exports:
        obj.info(f"the rest was exported: import its results with `qtgen batch import {run_id} RESULTS.jsonl` "
                 f"(or drop the export with `qtgen batch cancel {run_id}`)")


def _batch_api(obj: Ctx, job, prepared, wait: bool, report) -> None:
    from ...batch.batch_api import open_lane
    from ..progress import follow_batches

    from ..main import exit_code_of_interrupt

    _announce(obj, job, prepared)
    interrupted = False
    try:
        with open_lane(job, prepared.options, notify=obj.info, on_wait=obj.retrying) as lane:
            try:
                follow_batches(obj, lane, prepared.run_id, wait)
            except KeyboardInterrupt:  # the batches go on at the provider; nothing is lost
                interrupted = True
                lane.progress.stopped = "interrupted: the batches go on at the provider"
    finally:
        status = job.close_run(prepared.run_id)
    if interrupted:
        if report:
            job.write_report(prepared.run_id, report)
        print_summary(obj, job.summary(prepared.run_id, status), lane.progress)
        obj.info("collect the results with: qtgen batch resume --wait (or qtgen runs poll)")
        sys.exit(exit_code_of_interrupt())
    _finish(obj, job, prepared.run_id, status, report, lane.progress)


def _cancel(obj: Ctx, run_id: str, report) -> None:
    from ...batch.run import Batch
    from ...batch.options import Options
    from ...batch.batch_api import open_lane

    from ...errors import InputError
    from ...batch.batch_api import BatchLane, offline_client

    with Batch(obj.config) as job:
        run = job.ledger.find_run(run_id)
        options, _ = Options.merged(run.options, {})
        batches, exports = job.lane_state(run_id)
        if not batches and not exports:
            raise InputError(f"run {run_id}: nothing to cancel (no open batch or export; an online run stops with "
                             "Ctrl-C)")
        if batches:
            with open_lane(job, options, notify=obj.info, on_wait=obj.retrying) as lane:
                lines = lane.cancel(run_id)
        else:  # only exports: no server is needed to stop awaiting them
            lines = BatchLane(job, offline_client(obj.config), options, notify=obj.info).cancel(run_id)
        for line in lines:
            obj.info(line)
        status = job.close_run(run_id)
        obj.info(f"run {run_id}: cancelled; what finished is kept (`qtgen runs poll` collects what is still "
                 "ending; `qtgen batch resume` sends what is left again)")
        _finish(obj, job, run_id, status, report)


def _export(obj: Ctx, questions, values: dict, typed: dict, resume, out: Path, limit) -> None:
    from ...batch.options import Options
    from ...batch.run import Batch
    from ...batch.batch_api import BatchLane, offline_client

    with Batch(obj.config) as job:
        keep = {k: values[k] for k in _LIST}
        options = Options(**keep, limit=limit, via="export")
        prepared = job.prepare(questions, options, given=typed, resume=resume)
        _announce(obj, job, prepared)
        lane = BatchLane(job, offline_client(obj.config), prepared.options, notify=obj.info)
        lines, size = lane.export(prepared.run_id, out)
        status = job.close_run(prepared.run_id)
        if lines:
            obj.info(f"wrote {lines} request(s), {size:,} bytes, to {out}; run it (vLLM: python -m "
                     f"vllm.entrypoints.openai.run_batch -i {out} -o RESULTS.jsonl --model MODEL), then: "
                     f"qtgen batch import {prepared.run_id} RESULTS.jsonl")
        else:
            obj.info(f"run {prepared.run_id}: nothing left to export ({status})")
        click.echo(prepared.run_id)


def _import(obj: Ctx, run_id: str, results: Path, report) -> None:
    from ...batch.run import Batch
    from ...batch.options import Options
    from ...batch.batch_api import BatchLane, offline_client

    with Batch(obj.config) as job:
        run = job.ledger.find_run(run_id)
        options, _ = Options.merged(run.options, {})
        lane = BatchLane(job, offline_client(obj.config), options, notify=obj.info)
        counts = lane.import_results(run_id, results)
        obj.info(f"{results}: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
        status = job.close_run(run_id)
        _finish(obj, job, run_id, status, report)
