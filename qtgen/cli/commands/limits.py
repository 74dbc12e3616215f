"""`qtgen limits`: the server's rate limits and what remains, from one small request."""

from __future__ import annotations

import json

import click

from ..context import Ctx, command


def register(cli: click.Group) -> None:
    @command(cli)
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable limits.")
    @click.pass_obj
    def limits(obj: Ctx, as_json):
        """Ask the server once and print its request and token limits and what remains."""
        from ...llm.backend import open_client

        with open_client(obj.config, notify=obj.info) as client:
            found = client.limits()
            server = client.server
        data = {"server": server, **found.as_json()}
        if as_json:
            click.echo(json.dumps(data))
            return
        if not found.any:
            click.echo(f"{server}: the server sends no rate-limit headers; batch paces by --rpm/--tpm and 429s")
            return
        for what in ("requests", "tokens"):
            limit, remaining, reset = (data[f"{k}_{what}"] for k in ("limit", "remaining", "reset"))
            if limit is None and remaining is None:
                continue
            of = f" of {limit:,.0f}" if limit is not None else " (the server says what remains, not the limit)"
            click.echo(f"{what:<8} {remaining:,.0f}{of} remaining"
                       + (f", full again in {reset:g}s" if reset is not None else ""))
