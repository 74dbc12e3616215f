"""`qtgen init`: set up a site folder for qtgen."""

from __future__ import annotations

from pathlib import Path

import click

from ..context import Ctx, command


def register(cli: click.Group) -> None:
    @command(cli)
    @click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
    @click.pass_obj
    def init(obj: Ctx, folder):
        """Write a commented qtgen.toml at the site's root (FOLDER, or the git top level holding content/learn,
        or here) and add drafts/ to the site's .gitignore."""
        from ...config import site_root
        from ...drafts.scaffold import init_site

        root = (folder or site_root(Path.cwd())).resolve()
        for line in init_site(root):
            click.echo(line)
