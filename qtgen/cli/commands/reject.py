"""`qtgen reject DRAFT --reason ...`: move a draft to drafts/rejected/<subject-slug>/."""

from __future__ import annotations

import click

from ..context import Ctx, command


def register(cli: click.Group) -> None:
    @command(cli)
    @click.argument("draft_name", metavar="DRAFT")
    @click.option("--reason", required=True, help="Why it is rejected (kept beside the file).")
    @click.pass_obj
    def reject(obj: Ctx, draft_name, reason):
        """Move a draft to drafts/rejected/<subject-slug>/ with the reason; drafting it again needs --force."""
        from ...publishing.review import reject as reject_draft

        click.echo(str(reject_draft(obj.config, draft_name, reason)))
