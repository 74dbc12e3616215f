"""`qtgen related refresh PATH...`: recompute related_article1..5 of existing pages."""

from __future__ import annotations

from pathlib import Path

import click

from ..context import Ctx, command, hidden, verbs


def register(cli: click.Group) -> None:
    @verbs(cli, "related", default="refresh")
    def related():
        """The related articles of published pages: `qtgen related refresh PATH...` recomputes them."""

    @command(related, "refresh", short_help="Recompute the related articles of pages.")
    @click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
    @hidden("--refresh", is_flag=True)  # the form of the release before: `qtgen related --refresh PATH...`
    @click.pass_obj
    def refresh(obj: Ctx, paths, refresh):
        """Recompute related_article1..5 of existing pages (files or folders), touching no other byte."""
        from ...format.files import expand
        from ...site.index import open_index
        from ...site.related import refresh_related

        with open_index(obj.config) as index:
            for path in expand(paths):
                changed, count = refresh_related(index, path)
                click.echo(f"{path}: {count} related article(s){'' if changed else ' (unchanged)'}")
