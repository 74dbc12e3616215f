"""`qtgen regenerate DRAFT --feedback ...`: ask the model again, keeping every earlier version."""

from __future__ import annotations

import click

from ..context import Ctx, command, effort_option


def register(cli: click.Group) -> None:
    @command(cli)
    @effort_option
    @click.argument("draft_name", metavar="DRAFT")
    @click.option("--feedback", help="What the reviewer wants changed.")
    @click.option("--from-judge", is_flag=True, help="Send the issues the judge found (after --feedback, if given).")
    @click.pass_obj
    def regenerate(obj: Ctx, draft_name, feedback, from_judge):
        """Ask the model again with the previous answer and FEEDBACK; keeps id, slug, date and related."""
        from ...publishing.review import regenerate as regenerate_draft

        if not feedback and not from_judge:
            raise click.UsageError("say what should change with --feedback, or send the judge's issues with --from-judge")
        result = regenerate_draft(obj.config, draft_name, feedback or "", notify=obj.info, on_wait=obj.retrying,
                                  from_judge=from_judge)
        for note in result.notes:
            obj.info(f"note: {note}")
        click.echo(str(result.path))
        obj.info(f"regenerated; earlier versions kept (qtgen history {draft_name}, qtgen diff {draft_name}); "
                 f"{result.completion.usage.total} tokens; model {result.completion.model}")
