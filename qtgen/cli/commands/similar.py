"""`qtgen similar QUESTION`: published or drafted questions that ask the same in other words."""

from __future__ import annotations

import json

import click

from ..context import Ctx, QuestionCommand, command


def register(cli: click.Group) -> None:
    @command(cli, cls=QuestionCommand)
    @click.argument("question")
    @click.option("-n", "--limit", default=5, show_default=True, help="How many matches.")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable matches.")
    @click.pass_obj
    def similar(obj: Ctx, question, limit, as_json):
        """Show published or drafted questions that ask QUESTION in other words, with a 0-100 score."""
        from ...format.text import normalise_question
        from ...site.index import open_index

        q = normalise_question(question)
        with open_index(obj.config, create=False) as index:
            matches = index.similar(q, limit=limit)
        rows = [{"score": round(m.score, 1), "question": m.entry.question, "subject": m.entry.subject,
                 "source": m.entry.source, "url": m.entry.url, "path": m.entry.path} for m in matches]
        if as_json:
            click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
            return
        for r in rows:
            click.echo(f"{r['score']:5.1f}  {r['question']}  [{r['subject']}, {r['source']}]  {r['url']}")
        if not rows:
            obj.info("no similar question found")
