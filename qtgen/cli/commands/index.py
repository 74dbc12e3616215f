"""`qtgen index`: build or refresh the site index."""

from __future__ import annotations

import json

import click

from ..context import Ctx, command


def register(cli: click.Group) -> None:
    @command(cli, "index")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable counts.")
    @click.pass_obj
    def index_cmd(obj: Ctx, as_json):
        """Build or refresh the index of the content tree and drafts (re-reads only changed files)."""
        from ...site.index import open_index
        from ...drafts.folder import DraftStore

        DraftStore(obj.config)
        with open_index(obj.config, refresh=False) as index:
            counts = index.refresh()
            totals = index.count()
            data = {"pages": totals.get("content", 0), "drafts": totals.get("draft", 0), "read": counts.read,
                    "unchanged": counts.unchanged, "removed": counts.removed, "unreadable": counts.unreadable,
                    "seconds": round(counts.seconds, 3), "path": str(index.path)}
        if as_json:
            click.echo(json.dumps(data))
        else:
            click.echo(f"{data['pages']} published page(s), {data['drafts']} draft(s); read {counts.read}, "
                       f"unchanged {counts.unchanged}, removed {counts.removed}, unreadable {counts.unreadable} "
                       f"in {counts.seconds:.2f}s ({data['path']})")
