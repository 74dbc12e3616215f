"""`qtgen schema`: the page model as JSON Schema."""

from __future__ import annotations

import json

import click

from ..context import Ctx, command


def register(cli: click.Group) -> None:
    @command(cli)
    @click.pass_obj
    def schema(obj: Ctx):
        """Print the page model as JSON Schema."""
        from ...format.page import json_schema

        click.echo(json.dumps(json_schema(), indent=2))
