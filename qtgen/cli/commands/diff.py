"""`qtgen diff DRAFT [--against N]`: what changed since an earlier version."""

from __future__ import annotations

import click

from ..context import Ctx, command


def register(cli: click.Group) -> None:
    @command(cli)
    @click.argument("draft_name", metavar="DRAFT")
    @click.option("--against", type=click.IntRange(min=1), help="Compare with version N (see qtgen history).")
    @click.pass_obj
    def diff(obj: Ctx, draft_name, against):
        """Show what changed since the previous version of a draft (or version N)."""
        from ...publishing.review import diff as diff_draft

        out = diff_draft(obj.config, draft_name, against)
        click.echo(out if out else "no change")
