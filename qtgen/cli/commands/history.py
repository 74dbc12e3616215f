"""`qtgen history DRAFT`: every version of a draft, numbered, with time and what made it."""

from __future__ import annotations

import json

import click

from ..context import Ctx, command


def register(cli: click.Group) -> None:
    @command(cli)
    @click.argument("draft_name", metavar="DRAFT")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable list.")
    @click.pass_obj
    def history(obj: Ctx, draft_name, as_json):
        """List the versions of a draft (made by draft, regenerate and edit)."""
        from ...format.plaintext import one_line
        from ...publishing.provenance import describe, of_versions
        from ..terminal import wrapped
        from ...publishing.review import history_of

        versions = history_of(obj.config, draft_name).versions()
        records = of_versions(obj.config, versions)
        rows = [{"version": v.number, "saved": v.saved, "made_by": v.made_by, "by": v.by, "feedback": v.feedback,
                 "path": str(v.path), "provenance": record} for v, record in zip(versions, records)]
        if as_json:
            click.echo(json.dumps(rows, indent=1, ensure_ascii=False))
            return
        if not rows:
            obj.info("no earlier version: the draft is as it was first written")
        for r in rows:
            click.echo(wrapped(f"{r['version']:>3}  {r['saved']}  {r['made_by']}"
                               + (f" by {one_line(r['by'])}" if r["by"] else "")
                               + (f": {one_line(r['feedback'])}" if r["feedback"] else ""), 5))
            click.echo(wrapped(f"     made with: {describe(r['provenance'])}", 16))
