"""`qtgen edit DRAFT`: $EDITOR on the decoded answer and SEO fields."""

from __future__ import annotations

import click

from ..context import Ctx, command


def register(cli: click.Group) -> None:
    @command(cli)
    @click.argument("draft_name", metavar="DRAFT")
    @click.pass_obj
    def edit(obj: Ctx, draft_name):
        """Open $EDITOR on the decoded answer and SEO fields; saved back in the exact format if valid."""
        from ...publishing.review import edit as edit_draft

        result = edit_draft(obj.config, draft_name)
        if result.outcome == "saved":
            click.echo(str(result.path))
        else:
            obj.info("edit cancelled; nothing saved" if result.outcome == "cancelled" else "no change")
