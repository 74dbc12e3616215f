"""`qtgen provenance PAGE...`: what made published pages, read back from the site's git history."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..context import Ctx, command


def register(cli: click.Group) -> None:
    @command(cli)
    @click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
    @click.option("--json", "as_json", is_flag=True, help="One JSON object per page and line.")
    @click.option("--only", type=click.Choice(["known", "unknown", "edited"]),
                  help="Only pages qtgen made, pages it did not, or pages edited by hand since they were approved.")
    @click.option("--all", "every", is_flag=True, help="List unknown pages too (by default they are counted).")
    @click.pass_obj
    def provenance(obj: Ctx, paths, as_json, only, every):
        """What made each published page (files or folders of the content tree): the model and server, the prompt
        (hash and templates) and the judge's grade, from the trailers of the commit that approved it; "unknown"
        for pages qtgen did not make."""
        from ...format.files import expand, inside
        from ...publishing.provenance import read_made

        config = obj.config
        config.require_site("provenance reads a site's history, but there is")
        pages = []
        for path in expand(list(paths)):
            if not inside(path, config.content):
                raise click.BadParameter(f"{path}: not a page of the content tree {config.content}")
            pages.append(str(path.resolve().relative_to(config.content.resolve())))
        made = read_made(config, check_edits=True)
        shown = unknown = edited = 0
        listed_one = len(paths) == len(pages) and all(p.is_file() for p in paths)  # files named one by one
        for page in pages:
            m = made.get(page)
            kind = "unknown" if m is None else ("edited" if m.edited else "known")
            unknown += kind == "unknown"
            edited += kind == "edited"
            if only is not None and kind != only and not (only == "known" and kind == "edited"):
                continue
            if as_json:
                click.echo(json.dumps(m.as_json() if m else {"page": page, "known": False}, ensure_ascii=False))
            elif m is None:
                if every or only == "unknown" or listed_one:
                    click.echo(f"{page}: unknown (not approved through qtgen, or before it recorded provenance)")
                    shown += 1
            else:
                click.echo(f"{page}: {m.model or 'no model (edited or fixed by hand)'}"
                           + (f" at {m.server} ({m.lane})" if m.model else "")
                           + (f"; prompt {m.prompt} ({m.templates})" if m.prompt else "")
                           + (f"; judge {m.judge}" if m.judge else "") + f"; commit {m.commit[:12]} {m.date[:10]}"
                           + (f"; approved by {m.reviewed_by}" if m.reviewed_by else "")
                           + ("; EDITED since: the page's bytes are not those approved, so the model and grade above "
                              "describe an earlier text" if m.edited else ""))
                shown += 1
        known = len(pages) - unknown
        obj.info(f"{len(pages)} page(s): {known} made through qtgen ({edited} edited by hand since), {unknown} unknown"
                 + ("" if every or as_json or only or listed_one or not unknown else " (--all lists them, "
                                                                                    "--only filters)"))
