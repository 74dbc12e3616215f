"""`qtgen batch FILE`: every question of a list, under the rate limit, resumably."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from click.core import ParameterSource

from ..context import Ctx, command
from ..progress import print_summary, run_with_progress

def register(cli: click.Group) -> None:
    @command(cli)
    @click.argument("questions", required=False, type=click.Path(dir_okay=False, path_type=Path))
    @click.option("-s", "--subject", help="Subject for a plain-text list (or rows without one).")
    @click.option("-c", "--concurrency", default=16, show_default=True, type=click.IntRange(1, 256),
                  help="At most this many requests in flight (fewer while the server's limits are learned).")
    @click.option("--rpm", type=click.FloatRange(min=0.1),
                  help="Never more than this many requests per minute (the server's headers set the pace).")
    @click.option("--tpm", type=click.FloatRange(min=1), help="Never more than this many tokens per minute.")
    @click.option("--limit", type=click.IntRange(min=0), help="Draft at most N questions now; the rest stay resumable.")
    @click.option("--max-cost", type=click.FloatRange(min=0), help="Stop starting new questions past this many dollars.")
    @click.option("--strict", is_flag=True, help="Send nothing if any line of the list is bad.")
    @click.option("--allow-similar", is_flag=True, help="Draft questions that pages already ask in other words.")
    @click.option("--related/--no-related", default=True, help="Add related published pages (default on).")
    @click.option("--report", type=click.Path(dir_okay=False, path_type=Path), help="Write one JSON line per question.")
    @click.option("--resume", is_flag=True, help="Resume the latest unfinished run (QUESTIONS may be left out).")
    @click.pass_context
    def batch(ctx: click.Context, questions, subject, concurrency, rpm, tpm, limit, max_cost, strict, allow_similar,
              related, report, resume):
        """Draft every question of a CSV, TSV, JSONL or text file, under the rate limit, resumably.

        Rerunning the same command (or --resume) drafts only what is left, with the options the run
        was started with; flags given again override them.
        """
        from ...work.batch import Batch, Options
        from ..main import exit_code_of_interrupt

        obj: Ctx = ctx.obj
        values = dict(subject=subject, concurrency=concurrency, rpm=rpm, tpm=tpm, strict=strict,
                      allow_similar=allow_similar, related=related)
        given = {k: v for k, v in values.items() if ctx.get_parameter_source(k) == ParameterSource.COMMANDLINE}
        options = Options(**values, limit=limit, max_cost=max_cost)
        with Batch(obj.config) as job:
            prepared = job.prepare(questions, options, given=given, resume=resume)
            for note in prepared.notes:
                obj.info(f"note: {note}")
            for bad in prepared.bad:
                obj.info(f"bad line: {bad.text()}")
            before = job.summary(prepared.run_id, "running")
            obj.info(f"run {prepared.run_id}{' (resumed)' if prepared.resumed else ''}: {before.left} to draft, "
                     f"{before.counts.get('done', 0)} done, {before.counts.get('skipped', 0)} skipped, "
                     f"{len(prepared.bad)} bad line(s)")
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
        if progress is not None and progress.interrupted and summary.left:
            sys.exit(exit_code_of_interrupt())
        sys.exit(1 if summary.failed or prepared.bad else 0)
