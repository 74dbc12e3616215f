"""`qtgen runs list|poll|report`: past batch runs with their counts, and the Batch API batches of each."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from ..context import Ctx, command, hidden, verbs


def register(cli: click.Group) -> None:
    @verbs(cli, "runs", default="list")
    def runs():
        """Batch runs: `qtgen runs list` (or just `qtgen runs`), `poll` and `report RUN OUT`."""

    @command(runs, "list", short_help="List past batch runs with their counts and cost.")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable list.")
    @hidden("--poll", is_flag=True)
    @click.pass_obj
    def list_(obj: Ctx, as_json, poll):
        """List past batch runs with their counts and cost (and batches, for the Batch API)."""
        _runs(obj, as_json, poll)

    @command(runs, "poll", short_help="Collect what the Batch API finished, send what is left.")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable list of the runs afterwards.")
    @click.pass_obj
    def poll(obj: Ctx, as_json):
        """Follow every unfinished Batch API run once: collect what finished, send what is left; then list the runs."""
        _runs(obj, as_json, True)

    @command(runs, "report", short_help="Write one JSON line per question of a run.")
    @click.argument("run_id", metavar="RUN")
    @click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
    @click.pass_obj
    def report(obj: Ctx, run_id, out):
        """Write one JSON line per question of RUN to OUT: its status, draft, tokens, model and error."""
        from ...batch.ledger import ledger_path
        from ...batch.run import Batch
        from ...errors import InputError

        if str(out) in ("-", ""):
            raise click.UsageError("OUT is a file name (the report is written to a file)")
        if not ledger_path(obj.config).exists():
            raise InputError(f"run {run_id!r}: no such run (no batch runs yet)")
        with Batch(obj.config) as job:
            job.ledger.find_run(run_id)
            job.write_report(run_id, out)
        obj.info(f"wrote {out}")


def _runs(obj: Ctx, as_json: bool, poll: bool) -> None:
    """The runs listed, after one poll of every unfinished Batch API run if asked."""
    from ...batch.run import Batch
    from ...batch.ledger import ledger_path
    from ...batch.batch_api import poll_all

    path = ledger_path(obj.config)
    problems = 0
    if poll:
        if not path.exists():
            obj.info("no batch runs yet")
            return
        with Batch(obj.config) as job:
            for run_id, progress, status in poll_all(job, notify=obj.info, on_wait=obj.retrying):
                if progress is None:
                    problems += 1
                    obj.info(f"run {run_id}: {status}")
                    continue
                obj.info(f"run {run_id}: {progress.done} drafted, {progress.failed} failed, "
                         f"{progress.requests_sent} sent now; {status}")
    rows = []
    if path.exists():
        with Batch(obj.config) as job:
            rows = job.overview()
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        raise SystemExit(1 if problems else 0)
    from ...format.plaintext import one_line
    from ..terminal import width, wrapped

    if not rows:
        obj.info("no batch runs yet")
        return
    def shown(path) -> str:  # a list inside the site as the path from here
        try:
            return one_line(Path(path).resolve().relative_to(Path.cwd().resolve()))
        except (ValueError, OSError):
            return one_line(path)

    for r in rows:
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["started"]))
        counts = ", ".join(f"{r.get(s, 0)} {s}" for s in ("done", "failed", "skipped", "invalid", "pending")
                           if r.get(s, 0) or s in ("done", "failed"))
        if r.get("submitted"):
            counts += f", {r['submitted']} submitted"
        line = f"{r['run']}  {started}  {r['status']:<9}  {r['via']:<9}  {counts}  ${r['cost']:.4f}"
        if len(line) + 2 + len(shown(r["input"])) <= width():
            click.echo(f"{line}  {shown(r['input'])}")
        else:  # at 80 columns: single spaces, no start (the run's name holds it), the list on a line of its own
            click.echo(wrapped(" ".join(str(x) for x in (r["run"], r["status"], r["via"], counts,
                                                         f"${r['cost']:.4f}")), 4))
            click.echo(wrapped(f"    from {shown(r['input'])}", 9))
        for b in r["batches"]:
            name = b["batch_id"] or ("export" if b["kind"] == "export" else "not started")
            click.echo(wrapped(f"    {name:<24} qtgen: {b['state']:<10} provider: {b['status'] or '-':<11} "
                               f"{b['requests']} request(s), {b['completed']} completed, {b['failed']} failed"
                               + (f"  ({one_line(b['error'])})" if b["error"] else ""), 8))
    if problems:
        raise SystemExit(1)
