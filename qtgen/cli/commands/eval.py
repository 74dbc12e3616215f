"""`qtgen eval --variant a:prompts/ --variant b:prompts-new/`: compare prompts or models on the same questions."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..context import Ctx, command, effort_option


def register(cli: click.Group) -> None:
    @command(cli, name="eval")
    @effort_option
    @click.option("--variant", "variants", multiple=True, metavar="NAME:SPEC", required=True,
                  help="A way of drafting: NAME:FOLDER (prompt templates), NAME:model=M, NAME:temperature=T, or "
                       "several joined by commas; repeat for each variant.")
    @click.option("--sample", "n", type=click.IntRange(1, 10_000),
                  help="How many published questions to draw at random (default 30; with --questions: all of them).")
    @click.option("-s", "--subject", help="Draw only this subject's questions.")
    @click.option("--questions", type=click.Path(dir_okay=False, path_type=Path),
                  help="Use these questions (a list as qtgen batch reads it) instead of the site's.")
    @click.option("--seed", type=int, default=1, show_default=True, help="Draw another sample with another seed.")
    @click.option("--judge", "with_judge", is_flag=True,
                  help="Judge every page too (default: when judge_model or [judge] is configured).")
    @click.option("--max-cost", type=click.FloatRange(0), help="Never spend more than this many dollars drafting.")
    @click.option("--json", "as_json", is_flag=True, help="The table and every page's figures as JSON.")
    @click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path),
                  help="Write a report page: the table, then each question's answers side by side, as the site shows them.")
    @click.pass_obj
    def eval_(obj: Ctx, variants, n, subject, questions, seed, with_judge, max_cost, as_json, html_out):
        """Draft the same questions with each variant, without touching the drafts queue, and compare: lint errors
        and warnings, quality-gate hits, the judge's score and verdicts, words, description fit, tokens, cost and
        latency per page. Answers are kept: running again costs nothing, and a new variant costs only itself."""
        from ...site.index import open_index
        from ...insight import evaluation as ev

        config = obj.config
        chosen = [ev.Variant.parse(v) for v in variants]
        if html_out is not None:
            _check_report_path(config, html_out)  # before anything is paid for
        if questions is not None:
            sampled = ev.from_list(questions, subject, n)
        else:
            with open_index(config, create=config.drafts.is_dir()) as index:
                sampled = ev.sample(config, index, n or 30, subject, seed)
        judge = with_judge or bool(config.judge_model or config.judge)
        outcomes = ev.evaluate(config, sampled, chosen, judge=judge, notify=obj.info, on_wait=obj.retrying,
                               max_cost=max_cost)
        rows = ev.table(outcomes, chosen)
        if html_out is not None:
            from ...format.files import write_atomic
            from ...insight.eval_report import report_html

            write_atomic(html_out, report_html(outcomes, chosen, sampled, rows), overwrite=True)
            obj.info(f"report: {html_out}")
        if as_json:
            click.echo(json.dumps({"variants": [{"name": v.name, "spec": v.describe()} for v in chosen],
                                   "table": [{"metric": label, **dict(zip([v.name for v in chosen], cells))}
                                             for label, cells in rows],
                                   "pages": [o.as_json() for o in outcomes]}, indent=1, ensure_ascii=False))
            if any(not any(o.variant == v.name and not o.failed for o in outcomes) for v in chosen):
                raise SystemExit(1)
            return
        width = max(len(label) for label, _ in rows) + 2
        cols = [max(len(v.name), *(len(c[i]) for _, c in rows)) + 2 for i, v in enumerate(chosen)]
        click.echo(f"{len(sampled)} question(s)" + (f" of {subject}" if subject else "")
                   + "; " + "; ".join(f"{v.name}: {v.describe()}" for v in chosen))
        click.echo("per page".ljust(width) + "".join(v.name.rjust(w) for v, w in zip(chosen, cols)))
        for label, cells in rows:
            click.echo(label.ljust(width) + "".join(c.rjust(w) for c, w in zip(cells, cols)))
        for o in outcomes:
            if o.failed:
                obj.info(f"{o.variant}: {o.question[:60]!r} failed: {o.failed}")
        dead = [v.name for v in chosen if not any(o.variant == v.name and not o.failed for o in outcomes)]
        if dead:
            obj.info(f"no page at all for variant(s) {', '.join(dead)}: their figures mean nothing")
            raise SystemExit(1)


def _check_report_path(config, path: Path) -> None:
    import os

    from ...format.files import inside

    target = path.resolve()
    if path.suffix.lower() not in (".html", ".htm"):
        raise click.BadParameter(f"{path}: name an .html file", param_hint="--html")
    if inside(target, config.content.resolve()) or inside(target, config.drafts.resolve()):
        raise click.BadParameter(f"{path} lies inside the content tree or the drafts; write the report elsewhere",
                                 param_hint="--html")
    if not target.parent.is_dir() or not os.access(target.parent, os.W_OK):
        raise click.BadParameter(f"{path}: {target.parent} is not a folder qtgen can write in", param_hint="--html")
