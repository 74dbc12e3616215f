"""`qtgen approve DRAFT...`: publish drafts in one commit of exactly those files."""

from __future__ import annotations

import click

from ..context import Ctx, command, hidden


def register(cli: click.Group) -> None:
    @command(cli)
    @click.argument("drafts", nargs=-1, metavar="DRAFT...")
    @click.option("--all-clean", is_flag=True, help="Approve every draft with no error and no warning.")
    @click.option("--allow-warnings", is_flag=True, help="Approve drafts that have warnings (never errors).")
    @click.option("--no-commit", is_flag=True, help="Only place the files in the content tree.")
    @hidden("--lot")  # an earlier release's form of `qtgen audit publish LOT`
    @click.option("--override", metavar="REASON",
                  help="Publish past the judge gate ([judge] required / min_score); the commit message records why.")
    @click.pass_obj
    def approve(obj: Ctx, drafts, all_clean, allow_warnings, no_commit, lot, override):
        """Publish drafts: validate, lint, move into the content tree and commit them, all in one commit."""
        from ...site.index import open_index
        from ...publishing.review import approve_names

        if lot is not None:
            if drafts or all_clean or override is not None or allow_warnings:
                raise click.UsageError("--lot publishes the lot's own clean, judge-passed drafts: it takes no drafts, "
                                       "--all-clean, --override or --allow-warnings")
            return approve_lot(obj, lot, not no_commit)
        if not drafts and not all_clean:
            raise click.UsageError("name the drafts to approve, or use --all-clean (qtgen audit publish LOT publishes a lot)")
        obj.config.require_site("approve publishes into a site, but there is")  # before anything is opened
        with open_index(obj.config) as index:
            result = approve_names(obj.config, list(drafts), all_clean=all_clean, index=index,
                                   allow_warnings=allow_warnings, commit=not no_commit, notify=obj.info,
                                   override=override)
            if result is None:
                obj.info("nothing to approve")
                return
            index.refresh()
        for line in result.recovered:
            obj.info(line)
        for path in result.placed:
            click.echo(str(path))
        if result.placed:
            obj.info(f"approved {len(result.placed)} draft(s)"
                     + (f" in commit {result.commit[:12]}" if result.commit else " (not committed)"))
        if all_clean and result.left:
            errors = [i for i in result.left if i.status == "errors"]
            warned = [i for i in result.left if i.status == "warnings"]
            held = [i for i in result.left if str(i.path) in result.left_why]
            first = result.left[0]
            why = (first.errors + first.warnings + [result.left_why.get(str(first.path), "?")])[0]
            obj.info(f"left {len(result.left)} draft(s) waiting: {len(errors)} with errors, {len(warned)} with "
                     f"warnings" + (f", {len(held)} held by the judge gate, an open lot or as unchanged "
                                    "revisions" if held else "")
                     + f" (first: {first.path.name}: {why}); qtgen review lists them")
        elif all_clean and not result.placed:
            obj.info("nothing to approve")


def approve_lot(obj: Ctx, lot: str, commit: bool) -> None:
    """`qtgen audit publish LOT` (and the earlier `qtgen approve --lot LOT`)."""
    from ...site.index import open_index
    from ...publishing.lot_approval import approve_lot

    obj.config.require_site("approve publishes into a site, but there is")
    with open_index(obj.config) as index:
        result, held = approve_lot(obj.config, lot, index=index, commit=commit, notify=obj.info)
        index.refresh()
    for path in result.placed:
        click.echo(str(path))
    for line in held:
        obj.info(f"held back: {line}")
    obj.info(f"lot {lot}: published {len(result.placed)} draft(s) unread"
             + (f" in commit {result.commit[:12]}" if result.commit else " (not committed)"))
