"""`qtgen runs`: past batch runs with their counts."""

from __future__ import annotations

import json
import time

import click

from ..context import Ctx, command


def register(cli: click.Group) -> None:
    @command(cli)
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable list.")
    @click.pass_obj
    def runs(obj: Ctx, as_json):
        """List past batch runs with their counts."""
        from ...work.batch import ledger_path
        from ...work.ledger import Ledger

        path = ledger_path(obj.config)
        rows = []
        if path.exists():
            with Ledger(path) as ledger:
                rows = ledger.runs()
        if as_json:
            click.echo(json.dumps(rows, indent=1))
            return
        if not rows:
            obj.info("no batch runs yet")
            return
        for r in rows:
            started = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["started"]))
            counts = ", ".join(f"{r.get(s, 0)} {s}" for s in ("done", "failed", "skipped", "invalid", "pending"))
            click.echo(f"{r['run']}  {started}  {r['status']:<8}  {counts}  {r['input']}")
