"""`qtgen prompt QUESTION -s SUBJECT`: the rendered prompt, without calling any model."""

from __future__ import annotations

import json

import click

from ..context import Ctx, QuestionCommand, command


def register(cli: click.Group) -> None:
    @command(cli, cls=QuestionCommand)
    @click.argument("question")
    @click.option("-s", "--subject", required=True, help="Subject, e.g. 'Economics'.")
    @click.option("--json", "as_json", is_flag=True, help="Print the chat messages as JSON.")
    @click.pass_obj
    def prompt(obj: Ctx, question, subject, as_json):
        """Print the rendered prompt for QUESTION without calling any model."""
        from ...drafting.drafter import build_prompt, plan

        config = obj.config
        rendered = build_prompt(config, plan(config, question, subject, force=True),
                                structured=config.structured is not False)
        if as_json:
            click.echo(json.dumps(rendered.messages(), indent=2, ensure_ascii=False))
        else:
            click.echo(f"--- system ({rendered.sources[0]})\n{rendered.system}\n"
                       f"--- user ({rendered.sources[1]})\n{rendered.user}")
