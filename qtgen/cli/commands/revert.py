"""`qtgen revert DRAFT [--to N]`: restore an earlier version of a draft."""

from __future__ import annotations

import click

from ..context import Ctx, command


def register(cli: click.Group) -> None:
    @command(cli)
    @click.argument("draft_name", metavar="DRAFT")
    @click.option("--to", "to", type=click.IntRange(min=1), help="The version to restore (see qtgen history).")
    @click.pass_obj
    def revert(obj: Ctx, draft_name, to):
        """Restore an earlier version (default: the one before the current) as a new version; nothing is lost."""
        from ...publishing.review import revert as revert_draft

        path, number = revert_draft(obj.config, draft_name, to)
        click.echo(str(path))
        obj.info(f"restored version {number} (qtgen history {draft_name} lists every version)")
