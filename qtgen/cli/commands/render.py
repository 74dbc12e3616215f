"""`qtgen render PAGE...`: the answer's HTML as the site renders it (math by the real KaTeX)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..context import Ctx, command


def register(cli: click.Group) -> None:
    @command(cli)
    @click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
    @click.option("--full", is_flag=True, help="A standalone page: title, meta tags, question, answer, related.")
    @click.option("--json", "as_json", is_flag=True, help="One JSON object per page and line: path, html, errors.")
    @click.option("--out", type=click.Path(file_okay=False, path_type=Path),
                  help="Write <name>.html files into this folder instead of printing.")
    @click.pass_obj
    def render(obj: Ctx, paths, full, as_json, out):
        """Render pages as the site does (react-markdown, remark-math, remark-gfm, rehype-katex); exit 1 on a KaTeX error."""
        from ...errors import ParseError
        from ...format.files import expand, write_atomic
        from ...format.reader import read
        from ...site.pagehtml import page_document, page_title
        from ...site.render import render_answer

        failed = errors = 0
        for path in expand(paths):
            try:
                page = read(path)
            except ParseError as exc:
                obj.info(f"skipped: {exc}")
                failed += 1
                continue
            rendered = render_answer(page.answer)
            errors += len(rendered.errors)
            html = page_document(page, rendered) if full else rendered.html
            if as_json:
                click.echo(json.dumps({"path": str(path), "title": page_title(page), "html": html,
                                       "errors": rendered.errors, "warnings": rendered.warnings,
                                       "math": len(rendered.math)}, ensure_ascii=False))
            elif out is not None:
                target = out / path.parent.name / (path.stem + ".html")  # the same question under two subjects
                write_atomic(target, html, overwrite=True)
                click.echo(str(target))
            else:
                click.echo(html)
            for message in rendered.errors:
                obj.info(f"{path}: KaTeX error: {message}")
        sys.exit(1 if failed or errors else 0)
