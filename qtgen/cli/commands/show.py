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

        from ...format.plaintext import printable
        from ...site.index import open_index
        from ..terminal import joined, text
        from ...drafts.folder import DraftStore
        from ...publishing.review import assess

        path = DraftStore(obj.config).resolve(draft_name)
        with open_index(obj.config, create=False) as index:
            item = assess(obj.config, path, index)
        console = Console(highlight=False)
        p = item.page
        if p is None:
            console.print(joined(text(path), ": unreadable: ", text(item.errors[0] if item.errors else "")))
            sys.exit(1)
        head = joined("[bold]", text(p.question, "bold"), "\n", text(f"{p.subject} · id {p.id} · {p.date} · {p.url}"))
        if item.revises:
            head.append_text(joined("\n[cyan]revision of[/] ", text(item.revises, "cyan"), " (qtgen diff shows what changes)"))
        console.print(Panel(head))
        console.print(Markdown(printable(p.decoded_answer())))  # rendered, never run: no escape reaches the terminal
        console.print(joined(f"\n[bold]description[/] ({len(p.seo.page_description)} chars): ",
                             text(p.seo.page_description)))
        console.print(joined("[bold]keywords[/]: ", text(p.seo.page_keywords)))
        if p.no_index:
            console.print("[bold]no_index[/]: True (the page asks search engines not to index it; the site must read "
                          "the files' no_index for that to happen: see qtgen duplicates)")
        for n, art in enumerate(p.related, 1):
            console.print(joined(f"[bold]related {n}[/]: ", text(f"{art.title} ({art.subject}) {art.url}")))
        from ...drafts.folder import DraftStore as _Store
        from ...publishing.provenance import describe, of_versions

        versions = _Store(obj.config, migrate=False).history(path).versions()
        current = [v for v in versions if v.path.is_file() and v.path.read_bytes() == item.data][-1:]
        console.print(joined("[bold]made with[/]: ", text(describe(of_versions(obj.config, current)[0] if current else None))))
        if versions and versions[-1].by:  # who made the draft as it stands (an edit, a regeneration, a revert)
            console.print(joined("[bold]last change[/]: ", text(f"{versions[-1].made_by} by {versions[-1].by}, "
                                                                 f"{versions[-1].saved}")))
        console.print(f"[bold]status[/]: {item.status}, {item.words} words")
        for line in item.errors + item.warnings:
            console.print(joined("  - ", text(line)))
        for line in item.kept:
            console.print(joined("  - kept: ", text(line)))
        from ...judging.verdicts import verdicts_of

        j = verdicts_of(obj.config, [item]).get(str(item.path))
        if j is None:
            console.print("[bold]judge[/]: not judged in this form (qtgen judge run NAME)")
            return
        console.print(joined("[bold]judge[/] (", text(j.model), f"): {j.verdict}, {j.score}/100"))
        for name, c in j.criteria.items():
            console.print(joined(f"  {name}: {c['score']}/5 ", text(c["reason"])))
        for issue in j.issues:
            console.print(joined(f"  - {issue.severity}: ", text(f'"{issue.quote}": {issue.problem} (correction: '
                                                                 f'{issue.correction})')))
        if j.dropped_quotes:
            console.print(f"  ({j.dropped_quotes} issue(s) dropped: their quote is not in the answer)")
