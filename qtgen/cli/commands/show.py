"""`qtgen show DRAFT`: a draft as a reader sees it, with SEO fields and findings."""

from __future__ import annotations

import sys

import click

from ..context import Ctx, command


def register(cli: click.Group) -> None:
    @command(cli)
    @click.argument("draft_name", metavar="DRAFT")
    @click.pass_obj
    def show(obj: Ctx, draft_name):
        """Show a draft as a reader sees it, with its SEO fields, url and lint findings."""
        from rich.console import Console
        from rich.markdown import Markdown
        from rich.panel import Panel

        from ...site.index import open_index
        from ...work.drafts import DraftStore
        from ...work.review import assess

        path = DraftStore(obj.config).resolve(draft_name)
        with open_index(obj.config, create=False) as index:
            item = assess(obj.config, path, index)
        console = Console()
        p = item.page
        if p is None:
            console.print(f"{path}: unreadable: {item.errors[0] if item.errors else ''}", markup=False)
            sys.exit(1)
        console.print(Panel(f"[bold]{p.question}[/]\n{p.subject} · id {p.id} · {p.date} · {p.url}"
                            + (f"\n[cyan]revision of {item.revises}[/] (qtgen diff shows what changes)" if item.revises else "")))
        console.print(Markdown(p.decoded_answer()))
        console.print(f"\n[bold]description[/] ({len(p.seo.page_description)} chars): {p.seo.page_description}")
        console.print(f"[bold]keywords[/]: {p.seo.page_keywords}")
        if p.no_index:
            console.print("[bold]no_index[/]: True (the page asks search engines not to index it; the site must read "
                          "the files' no_index for that to happen: see qtgen duplicates)")
        for n, art in enumerate(p.related, 1):
            console.print(f"[bold]related {n}[/]: {art.title} ({art.subject}) {art.url}")
        from ...work.drafts import DraftStore as _Store
        from ...work.provenance import describe, of_versions

        versions = _Store(obj.config, migrate=False).history(path).versions()
        current = [v for v in versions if v.path.is_file() and v.path.read_bytes() == item.data][-1:]
        from rich.markup import escape

        console.print("[bold]made with[/]: " + escape(describe(of_versions(obj.config, current)[0] if current else None)),
                      highlight=False)
        console.print(f"[bold]status[/]: {item.status}, {item.words} words")
        for line in item.errors + item.warnings:
            console.print(f"  - {line}", markup=False)
        for line in item.kept:
            console.print(f"  - kept: {line}", markup=False)
        from ...work.judge import verdicts_of

        j = verdicts_of(obj.config, [item]).get(str(item.path))
        if j is None:
            console.print("[bold]judge[/]: not judged in this form (qtgen judge NAME)")
            return
        console.print(f"[bold]judge[/] ({j.model}): {j.verdict}, {j.score}/100")
        for name, c in j.criteria.items():
            console.print(f"  {name}: {c['score']}/5 {c['reason']}", markup=False)
        for issue in j.issues:
            console.print(f"  - {issue.severity}: \"{issue.quote}\": {issue.problem} (correction: {issue.correction})",
                          markup=False)
        if j.dropped_quotes:
            console.print(f"  ({j.dropped_quotes} issue(s) dropped: their quote is not in the answer)", markup=False)
