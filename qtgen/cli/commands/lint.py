"""`qtgen lint PATH...`: content lint with rule ids and levels."""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path

import click

from ..context import Ctx, command


def register(cli: click.Group) -> None:
    @command(cli)
    @click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable findings.")
    @click.option("--no-index", is_flag=True, help="Skip the duplicate-question rule (needs the site index).")
    @click.pass_obj
    def lint(obj: Ctx, paths, as_json, no_index):
        """Content lint of pages: length, shape, chatter, broken math, HTML, template text, SEO, duplicates.

        Exit 1 if any finding is an error.
        """
        from ...site.index import open_index
        from ...checks.findings import Assessments
        from ...checks.lint import ERROR, lint_paths

        config = obj.config
        # findings are kept by each file's bytes where there is a drafts folder (a read-only command creates none)
        with (nullcontext(None) if no_index else open_index(config, create=False)) as index, \
                (Assessments.opened(config) if config.drafts.is_dir() else nullcontext(None)) as store:
            count, findings = lint_paths(list(paths), config, index, store)
        errors = sum(1 for f in findings if f.level == ERROR)
        if as_json:
            click.echo(json.dumps({"files": count, "errors": errors, "findings": [asdict(f) for f in findings]},
                                  indent=1, ensure_ascii=False))
        else:
            if findings:
                click.echo("\n".join(f.line() for f in findings))
            obj.info(f"{count} file(s): {errors} error(s), {len(findings) - errors} warning(s)")
        sys.exit(1 if errors else 0)
