"""`qtgen fix PAGE...`: exact repairs of published pages, as revisions a person still approves."""

from __future__ import annotations

from pathlib import Path

import click

from ..context import Ctx, command


def register(cli: click.Group) -> None:
    @command(cli)
    @click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
    @click.option("--rule", "rules", multiple=True, help="Only pages with this lint finding; repeatable.")
    @click.option("--limit", type=click.IntRange(min=1), help="At most N pages.")
    @click.option("--dry-run", is_flag=True, help="Print the diffs; write nothing.")
    @click.pass_obj
    def fix(obj: Ctx, paths, rules, limit, dry_run):
        """Repair what has an exact fix: currency dollars escaped as \\$ (QT012), LaTeX commands starting
        with \\n replaced by the symbols KaTeX renders the same (QT006), an over-long description cut to 70..117
        characters at a sentence end, else a clause, else a word (QT009), repeated keywords removed. Each
        repaired page becomes a revision in the review queue (approve it to publish); --dry-run prints the
        diffs instead."""
        from ...drafting import revision as revise

        skipped: list[str] = []
        fixes = revise.fix(obj.config, list(paths), rules=list(rules), limit=limit, dry_run=dry_run, skipped=skipped)
        for line in skipped:
            obj.info(line)
        for f in fixes:
            if dry_run:
                click.echo(f.diff)
            else:
                click.echo(str(f.draft))
            obj.info(f"{f.published}: {'; '.join(f.changes)}")
        verb = "would repair" if dry_run else "repaired"
        obj.info(f"{verb} {len(fixes)} page(s)" + ("" if dry_run else "; review them with qtgen review / studio"))
