"""`qtgen validate PATH...`: every violation of the site's format, with file, field and reason."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..context import Ctx, command


def register(cli: click.Group) -> None:
    @command(cli)
    @click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
    @click.option("--roundtrip", is_flag=True, help="Also re-emit each file and report any byte that differs.")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
    @click.option("--errors-only", is_flag=True, help="Do not list warnings.")
    @click.pass_obj
    def validate(obj: Ctx, paths, roundtrip, as_json, errors_only):
        """Check page files or folders against the site's format; exit 1 on any error."""
        from ...format.validate import validate_paths

        report = validate_paths(paths, obj.config, roundtrip=roundtrip)
        if as_json:
            click.echo(json.dumps(report.as_json(), indent=1, ensure_ascii=False))
        else:
            shown = report.errors if errors_only else report.findings
            if shown:
                click.echo("\n".join(f.line() for f in shown))
            obj.info(f"{report.files} file(s): {len(report.errors)} error(s), {len(report.warnings)} warning(s)"
                     + ("; round trip checked" if roundtrip else ""))
        sys.exit(1 if report.errors else 0)
