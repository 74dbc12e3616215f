"""`qtgen suggest -s SUBJECT`: new questions the site does not answer yet, as a list `qtgen batch` takes."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..context import Ctx, command, effort_option


def register(cli: click.Group) -> None:
    @command(cli)
    @effort_option
    @click.option("-s", "--subject", required=True, help="The subject to write questions for.")
    @click.option("-n", "n", type=click.IntRange(1, 1000), default=50, show_default=True, help="How many questions.")
    @click.option("--topics", type=click.Path(dir_okay=False, path_type=Path),
                  help="Topics to fill, one a line: the model is asked for the least covered first.")
    @click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
                  help="Write the questions to this CSV (question,subject,topic; qtgen batch takes it), never over a file.")
    @click.option("--rounds", type=click.IntRange(1, 20), default=4, show_default=True,
                  help="Ask the model at most this many times.")
    @click.option("--max-cost", type=click.FloatRange(0), help="Never spend more than this many dollars.")
    @click.option("--json", "as_json", is_flag=True, help="The questions, what each filter removed, tokens and cost.")
    @click.pass_obj
    def suggest(obj: Ctx, subject, n, topics, out, rounds, max_cost, as_json):
        """Ask the model for new questions of a subject, given what the subject covers (a sample of its questions and,
        with --topics, the topics least covered), and keep those that are well formed, of the subject, and not asked
        already (published, drafted, rejected or suggested). Prints the CSV (or writes --out)."""
        import math

        from ...llm.backend import open_client, uses_local
        from ...site.index import open_index
        from ...insight import coverage as cov
        from ...insight.suggestion import Suggester, write_csv

        if max_cost is not None and not math.isfinite(max_cost):
            raise click.BadParameter("a number of dollars", param_hint="--max-cost")
        config = obj.config
        config.require_site("suggest reads what a site covers, but there is")
        from ...insight.suggestion import check_out

        if out is not None:
            check_out(out, config)  # before any request is paid for
        wanted = cov.read_topics(topics) if topics is not None else None
        with open_index(config, create=config.drafts.is_dir()) as index:
            covered = cov.coverage(config, index, subject, wanted).topics if wanted else None
            topic_rows = [_Topic(t.topic, len(t.pages)) for t in covered] if covered is not None else None
            suggester = Suggester(config, index, subject, topic_rows)
            if uses_local(config):
                obj.info("note: the offline demo model proposes these: they show how suggest works, not questions "
                         "to publish (configure a server for real suggestions)")
            with open_client(config, notify=obj.info, on_wait=obj.retrying) as client:
                result = suggester.run(client, n, rounds, max_cost, notify=obj.info)
        removed = ", ".join(f"{k} {len(v)}" for k, v in result.removed.items())
        money = f", ${result.cost:.4f}" if result.cost is not None else ""
        obj.info(f"{result.proposed} proposed in {result.rounds} round(s); kept {len(result.accepted)}; removed: "
                 f"{removed}; {result.tokens_in} tokens in, {result.tokens_out} out{money}")
        for note in result.notes:
            obj.info(f"note: {note}")
        if as_json:
            click.echo(json.dumps(result.as_json(), indent=1, ensure_ascii=False))
        elif out is None:
            click.echo(result.csv(), nl=False)
        if out is not None and result.accepted:
            write_csv(out, result.csv(), config)
            obj.info(f"wrote {len(result.accepted)} question(s) to {out} (qtgen batch {out} drafts them)")
        elif out is not None:
            obj.info(f"no question kept: {out} not written")
        if not result.accepted:  # nothing to draft: say why and fail, so a script does not go on with nothing
            why = "the model proposed nothing usable" if result.proposed else "the model proposed no question"
            from ...errors import QtgenError

            raise QtgenError(f"suggest: no question kept ({why} in {result.rounds} round(s)); see the "
                                       "notes above" + ("; the offline demo model rarely writes usable suggestions"
                                                        if uses_local(config) else ""))


class _Topic:
    def __init__(self, topic: str, pages: int):
        self.topic, self.pages = topic, pages
