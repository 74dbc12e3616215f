"""`qtgen review`: the drafts waiting, with status and findings."""

from __future__ import annotations

import json

import click

from ..context import Ctx, command


def register(cli: click.Group) -> None:
    @command(cli)
    @click.option("-s", "--subject", help="Only drafts of this subject.")
    @click.option("--status", type=click.Choice(["ok", "warnings", "errors"]), help="Only drafts with this status.")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable queue.")
    @click.option("--wide", is_flag=True, help="Also the draft's path and its word count.")
    @click.option("--verdict", type=click.Choice(["pass", "revise", "reject", "unjudged"]),
                  help="Only drafts the judge graded so (or not yet, in their present form).")
    @click.option("--lot", help="Only the sampled drafts of this audited lot still waiting for a decision.")
    @click.option("--sort", "order", type=click.Choice(["queue", "risk"]), default="queue", show_default=True,
                  help="risk: rejected by the judge first, then revise, unjudged, passed; a lower score first.")
    @click.pass_obj
    def review(obj: Ctx, subject, status, as_json, wide, verdict, lot, order):
        """List the drafts waiting for review, with validation status and lint findings."""
        from ...site.index import open_index
        from ...publishing.review import queue

        config = obj.config
        if not config.drafts.is_dir():  # a read-only command creates nothing
            obj.info(f"no drafts folder at {config.drafts}" + ("" if config.site_found else
                     " and no site here (no content/learn from this folder upwards)") + ": nothing to review")
            if as_json:
                click.echo("[]")
            return
        from ...judging.verdicts import risk_order, verdicts_of

        with open_index(config, create=False) as index:
            items = queue(config, index, subject=subject, status=status)
        judged = verdicts_of(config, items)
        if lot is not None:
            from ...publishing.lots import status as lot_status

            standing = lot_status(config, lot)
            if standing.defects:  # failed for good: nothing of it waits for a review for the audit's sake
                obj.info(f"lot {lot} failed its audit ({len(standing.defects)} defect(s)): qtgen audit drop {lot} "
                         "gives it up; its drafts are then reviewed one by one")
            waiting = set() if standing.defects else {m.draft for m in standing.pending}
            items = [i for i in items if str(i.path) in waiting]
        if verdict:
            items = [i for i in items if (judged[str(i.path)].verdict if str(i.path) in judged else "unjudged") == verdict]
        if order == "risk":
            items = risk_order(items, judged)
        if as_json:
            click.echo(json.dumps([{**i.as_json(), "judge": _judge_json(judged.get(str(i.path)))} for i in items],
                                  indent=1, ensure_ascii=False))
            return
        from rich.console import Console
        from rich.table import Table

        from ..terminal import text

        console = Console(width=max(160, Console().width) if wide else None)  # --wide is wide, even piped
        table = Table(title=f"{len(items)} draft(s) waiting", show_lines=False, expand=False)
        # at 80 columns every row still shows its question, subject, status and findings
        table.add_column("question", ratio=3, overflow="fold", min_width=20)
        table.add_column("subject", ratio=1, overflow="ellipsis", no_wrap=True, max_width=22)
        table.add_column("status", no_wrap=True)
        table.add_column("findings", justify="right", no_wrap=True)
        table.add_column("judge", no_wrap=True)
        if wide:
            table.add_column("words", justify="right", no_wrap=True)
            table.add_column("draft", overflow="fold")
        style = {"ok": "green", "warnings": "yellow", "errors": "red"}
        for i in items:
            row = [text(i.question) if i.readable else text(f"(unreadable: {i.path.name})"),
                   text(i.subject) if i.readable else "?",
                   f"[{style[i.status]}]{i.status}[/]" + (" [cyan]rev[/]" if i.revises else ""),
                   str(len(i.errors) + len(i.warnings)) + (f" +{len(i.kept)} kept" if i.kept else ""),
                   _judge_cell(judged.get(str(i.path)))]
            if wide:
                row += [str(i.words), text(i.path.relative_to(config.drafts) if i.path.is_relative_to(config.drafts)
                                           else i.path)]
            table.add_row(*row)
        if console.is_terminal and len(items) + 8 > console.height:  # a long queue: one screen at a time
            import os

            os.environ.setdefault("LESS", "-FRX")  # colours kept, the screen left as it was, short output as is
            with console.pager(styles=True):
                console.print(table)
        else:
            console.print(table)
        if items and not wide:
            obj.info("qtgen show DRAFT for a draft's findings; --wide adds paths, --json everything")


def _judge_json(j) -> dict | None:
    if j is None:
        return None
    return {"verdict": j.verdict, "score": j.score, "issues": len(j.issues), "model": j.model}


def _judge_cell(j) -> str:
    if j is None:
        return "[dim]-[/]"
    style = {"pass": "green", "revise": "yellow", "reject": "red"}[j.verdict]
    return f"[{style}]{j.verdict} {j.score}[/]"
