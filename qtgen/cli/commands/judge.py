"""`qtgen judge run|poll|calibrate`: a second model grades drafts; each grade is kept with the draft's bytes."""

from __future__ import annotations

import json

import click

from ..context import Ctx, command, effort_option, hidden, verbs


def register(cli: click.Group) -> None:
    @verbs(cli, "judge", default="run")
    def judge():
        """Grade drafts with a second model: `qtgen judge run DRAFT...|--all` (or just `qtgen judge DRAFT...`),
        `poll` for Batch API grades, `calibrate` against the reviewers' decisions."""

    @command(judge, "run", short_help="Grade drafts (the default verb).")
    @effort_option
    @click.argument("drafts", nargs=-1, metavar="DRAFT...")
    @click.option("--all", "every", is_flag=True, help="Every draft waiting for review.")
    @click.option("--model", help="The judge model (default: judge_model, else the drafting model).")
    @click.option("--json", "as_json", is_flag=True, help="One JSON object per draft and line.")
    @click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True,
                  help="Requests in flight at once (under the server's rate limit).")
    @click.option("--max-cost", type=click.FloatRange(0), help="Stop sending once this many dollars are spent.")
    @click.option("--allow-weak-judge", is_flag=True, help="Judge with the offline model (too small to judge well).")
    @click.option("--force", is_flag=True, help="Ask again even where a grade is kept (after a bad reply or a server "
                                                "change); the new grade replaces it.")
    @click.option("--via", type=click.Choice(["online", "batch-api"]), default="online", show_default=True,
                  help="batch-api: send the drafts in one Batch API batch, at its price (half the online one).")
    @click.option("--wait", is_flag=True, help="With --via batch-api: follow the batch until its grades are in.")
    @hidden("--poll", is_flag=True)
    @hidden("--calibrate", is_flag=True)
    @hidden("--target", type=click.FloatRange(0, 1), default=0.05)
    @click.pass_obj
    def run(obj: Ctx, **options):
        """Grade drafts against the rubric in prompts/judge.j2: correctness (each error quoted from the answer, with
        a correction), whether it answers the question, completeness, clarity and safety; a verdict (pass, revise or
        reject) and a score (0-100) follow from them. An unchanged draft is never judged twice."""
        _judge(obj, **options)

    @command(judge, "poll", short_help="Collect the grades of Batch API batches that have ended.")
    @click.option("--model", help="The judge model the batches were sent for (default: judge_model).")
    @click.option("--json", "as_json", is_flag=True, help="One JSON object per draft and line.")
    @click.option("--wait", is_flag=True, help="Follow the open batches until their grades are in.")
    @click.option("--allow-weak-judge", is_flag=True, hidden=True)
    @click.pass_obj
    def poll(obj: Ctx, model, as_json, wait, allow_weak_judge):
        """Collect the grades of the judge's Batch API batches that have ended (with --wait, until all have)."""
        _judge(obj, drafts=(), every=False, model=model, as_json=as_json, concurrency=4, max_cost=None,
               allow_weak_judge=allow_weak_judge, force=False, via="online", wait=wait, poll=True, calibrate=False,
               target=0.05)

    @command(judge, "calibrate", short_help="Compare the judge's verdicts with the reviewers' decisions.")
    @click.option("--json", "as_json", is_flag=True, help="The comparison as JSON.")
    @click.option("--target", type=click.FloatRange(0, 1), default=0.05, show_default=True,
                  help="The share of human-rejected drafts min_score should keep under.")
    @click.pass_obj
    def calibrate(obj: Ctx, as_json, target):
        """How the judge's verdicts compare with the reviewers' decisions so far, and the min_score they suggest
        (asks no model)."""
        _calibration(obj, as_json, target)


def _judge(obj: Ctx, drafts, every, model, as_json, concurrency, max_cost, allow_weak_judge, force, via, wait, poll,
           calibrate, target) -> None:
    """Grade drafts (or collect Batch API grades), printing each grade; the forms of earlier releases included."""
    from ...llm.backend import open_client
    from ...judging.judge import Judge, drafts_to_judge

    import math

    if calibrate:
        if drafts or every or poll or via != "online" or wait:
            raise click.UsageError("--calibrate reads the decisions kept so far: it takes no drafts, --poll, "
                                   "--via or --wait")
        return _calibration(obj, as_json, target)
    if not drafts and not every and not poll:
        raise click.UsageError("name the drafts to judge, or use --all (qtgen judge poll collects Batch API grades)")
    if wait and via != "batch-api" and not poll:
        raise click.UsageError("--wait goes with --via batch-api (qtgen judge poll --wait follows batches already sent)")
    if model is not None and not model.strip():
        raise click.BadParameter("name a model", param_hint="--model")
    if max_cost is not None and not math.isfinite(max_cost):
        raise click.BadParameter("a number of dollars", param_hint="--max-cost")
    config = obj.config
    judge_ = Judge.open(config, model, allow_weak=allow_weak_judge)
    judge_.force = force
    if max_cost is not None:
        from ...llm.pricing import cap_of

        cap_of(config, max_cost, "batch-api" if via == "batch-api" else "online", judge_.model)
    if via == "batch-api" or poll:
        return _batch_api(obj, judge_, list(drafts), every, as_json, max_cost, wait, poll)
    items, unreadable = drafts_to_judge(config, list(drafts), every)
    for line in unreadable:
        obj.info(line)
    if not items:
        obj.info("nothing to judge")
        return
    failed: list[str] = []
    seen: dict[str, str] = {}  # an issue printed once is counted for the drafts after
    with open_client(judge_.settings_config(), notify=obj.info, on_wait=obj.retrying) as client:
        for j in judge_.judge_many(items, client=client, concurrency=concurrency, max_cost=max_cost,
                                   on_error=lambda name, why: failed.append(f"{name}: {why}")):
            if as_json:
                click.echo(json.dumps(j.as_json(), ensure_ascii=False))
            else:
                click.echo(_line(config, j, seen))
    judge_.close()
    for line in failed:
        obj.info(line)
    obj.info(judge_.summary())
    if failed:
        raise SystemExit(1)


def _batch_api(obj: Ctx, judge_, drafts: list[str], every: bool, as_json: bool, max_cost, wait: bool,
               poll: bool) -> None:
    import time

    from ...llm.backend import uses_local
    from ...llm.client import ChatClient
    from ...judging.judge import drafts_to_judge
    from ...judging.batch_api import JudgeLane

    config = obj.config
    if uses_local(config):
        raise click.UsageError("--via batch-api: the Batch API needs a server (OPENAI_API_KEY or OPENAI_BASE_URL)")
    from ...llm.backend import remote_settings

    lane = JudgeLane(judge_, ChatClient(remote_settings(judge_.settings_config()), on_wait=obj.retrying), obj.info)
    if drafts or every:
        items, unreadable = drafts_to_judge(config, drafts, every)
        for line in unreadable:
            obj.info(line)
        sent, kept, batch_id = lane.send(items, max_cost)
        obj.info(f"sent {sent} draft(s) to be judged in batch {batch_id}; {kept} graded already" if batch_id else
                 f"nothing to send: {kept} draft(s) graded already, the rest waiting in open batches")
    seen: dict[str, str] = {}  # an issue printed once is counted for the drafts after
    while True:
        for j in lane.collect():
            click.echo(json.dumps(j.as_json(), ensure_ascii=False) if as_json else _line(config, j, seen))
        left = lane.open_batches()
        if not left or not wait:
            break
        time.sleep(config.batch_api_poll)
    for line in lane.failed:
        obj.info(line)
    if left:
        obj.info(f"{len(left)} batch(es) still running ({', '.join(left)}); qtgen judge poll collects their grades")
    obj.info(judge_.summary())
    judge_.close()
    if lane.failed:
        raise SystemExit(1)


def _calibration(obj: Ctx, as_json: bool, target: float) -> None:
    from ...judging.calibration import DECISIONS, calibrate
    from ...judging.rubric import VERDICTS

    cal = calibrate(obj.config, target)
    if as_json:
        click.echo(json.dumps(cal.as_json(), indent=1))
    else:
        click.echo(f"{cal.judged} decision(s) on judged drafts ({cal.unjudged} on drafts never judged, not counted)")
        click.echo("judge | human".ljust(14) + "".join(f"{d:>14s}" for d in DECISIONS))
        for v in VERDICTS:
            click.echo(f"{v:14s}" + "".join(f"{cal.matrix[v][d]:14d}" for d in DECISIONS))
        click.echo("Cohen's kappa: " + ("-" if cal.kappa is None else f"{cal.kappa:.3f}")
                   + " (decisions read as pass = approve, revise = edit+approve or regenerate, reject = reject)")
        click.echo("judge-passed drafts approved unchanged: "
                   + ("-" if cal.passed_unchanged is None else f"{cal.passed_unchanged:.1%}"))
        if cal.min_score is None:
            click.echo(f"min_score: no threshold keeps human-rejected drafts under {target:.1%}")
        else:
            click.echo(f"min_score = {cal.min_score} keeps human-rejected drafts at {cal.rejected_share:.1%} (target "
                       f"{target:.1%}) of the {cal.let_through} judged draft(s) it lets through")
    for note in cal.notes:
        obj.info(f"note: {note}")


def _line(config, j, seen: dict | None = None) -> str:
    """A grade: verdict, score and draft, then each issue (wrapped to the terminal). With `seen` (problem ->
    the first draft it was printed for), an issue printed before for another draft is counted, not repeated."""
    from pathlib import Path

    from ...format.plaintext import one_line
    from ..terminal import wrapped

    path = Path(j.path)
    name = str(path.relative_to(config.drafts)) if path.is_relative_to(config.drafts) else j.path
    kept = " (kept)" if j.cached else ""
    lines = [f"{j.verdict:6s} {j.score:3d}  {one_line(name)}{kept}"]
    repeated = 0
    for issue in j.issues:
        key = f"{issue.severity}: {issue.problem} ({issue.correction})"
        if seen is not None and key in seen and seen[key] != name:
            repeated += 1
            continue
        if seen is not None:
            seen.setdefault(key, name)
        lines.append(wrapped("       " + one_line(f"{issue.severity}: \"{issue.quote[:80]}\": {issue.problem} "
                                                f"({issue.correction})"), 9))
    if repeated:  # the same problem in many drafts (a batch on one topic): said once, counted after
        lines.append(f"       {'and ' if len(lines) > 1 else ''}{repeated} issue(s) printed above for another draft")
    if j.dropped_quotes:
        lines.append(f"       {j.dropped_quotes} issue(s) dropped: their quote is not in the answer")
    return "\n".join(lines)
