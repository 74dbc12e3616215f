"""`qtgen related --refresh PATH...`: recompute related_article1..5 of existing pages."""

from __future__ import annotations

from pathlib import Path

import click

from ..context import Ctx, command


def register(cli: click.Group) -> None:
    @command(cli)
    @click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
    @click.option("--refresh", is_flag=True, required=True, help="Recompute related_article1..5 of existing pages.")
    @click.pass_obj
    def related(obj: Ctx, paths, refresh):
        """Recompute the related articles of existing pages, touching no other byte."""
        from ...format.files import expand
        from ...site.index import open_index
        from ...site.related import refresh_related

        with open_index(obj.config) as index:
            for path in expand(paths):
                changed, count = refresh_related(index, path)
                click.echo(f"{path}: {count} related article(s){'' if changed else ' (unchanged)'}")
