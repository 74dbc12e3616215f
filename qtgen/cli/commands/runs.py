"""`qtgen runs`: past batch runs with their counts, and the Batch API batches of each."""

from __future__ import annotations

import json
import time

import click

from ..context import Ctx, command


def register(cli: click.Group) -> None:
    @command(cli)
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable list.")
    @click.option("--poll", is_flag=True, help="Follow every unfinished Batch API run once: collect what finished, "
                                               "send what is left.")
    @click.pass_obj
    def runs(obj: Ctx, as_json, poll):
        """List past batch runs with their counts and cost (and batches, for the Batch API)."""
        from ...work.batch import Batch, ledger_path
        from ...work.batchlane import poll_all

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
        if not rows:
            obj.info("no batch runs yet")
            return
        for r in rows:
            started = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["started"]))
            counts = ", ".join(f"{r.get(s, 0)} {s}" for s in ("done", "failed", "skipped", "invalid", "pending")
                               if r.get(s, 0) or s in ("done", "failed"))
            if r.get("submitted"):
                counts += f", {r['submitted']} submitted"
            click.echo(f"{r['run']}  {started}  {r['status']:<9}  {r['via']:<9}  {counts}  ${r['cost']:.4f}  {r['input']}")
            for b in r["batches"]:
                name = b["batch_id"] or ("export" if b["kind"] == "export" else "not started")
                click.echo(f"    {name:<24} qtgen: {b['state']:<10} provider: {b['status'] or '-':<11} "
                           f"{b['requests']} request(s), {b['completed']} completed, {b['failed']} failed"
                           + (f"  ({b['error']})" if b["error"] else ""))
        if problems:
            raise SystemExit(1)
