"""`qtgen review`: the drafts waiting, with status and findings."""

from __future__ import annotations

import json

import click

from ..context import Ctx, command


def register(cli: click.Group) -> None:
    @command(cli)
    @click.option("-s", "--subject", help="Only drafts of this subject.")
    @click.option("--status", type=click.Choice(["ok", "warnings", "errors"]), help="Only drafts with this status.")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable queue.")
    @click.pass_obj
    def review(obj: Ctx, subject, status, as_json):
        """List the drafts waiting for review, with validation status and lint findings."""
        from ...site.index import open_index
        from ...work.review import queue

        with open_index(obj.config) as index:
            items = queue(obj.config, index, subject=subject, status=status)
        if as_json:
            click.echo(json.dumps([i.as_json() for i in items], indent=1, ensure_ascii=False))
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"{len(items)} draft(s) waiting", show_lines=False)
        table.add_column("draft", no_wrap=True)
        for col in ("subject", "question", "words", "status", "lint"):
            table.add_column(col, overflow="fold")
        style = {"ok": "green", "warnings": "yellow", "errors": "red"}
        drafts = obj.config.drafts
        for i in items:
            p = i.page
            table.add_row(str(i.path.relative_to(drafts)) if i.path.is_relative_to(drafts) else str(i.path),
                          p.subject if p else "?", p.question if p else "(unreadable)", str(i.words),
                          f"[{style[i.status]}]{i.status}[/]" + (" [cyan]revision[/]" if i.revises else ""),
                          str(len(i.findings)))
        Console().print(table)
