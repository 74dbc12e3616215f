"""`qtgen audit draw|show|publish|drop LOT`: a random sample of judge-passed drafts reviewed, and what it proves."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..context import Ctx, EarlierForm, command, hidden, verbs


def source_options(fn):
    """Where a new lot is drawn from, and the plan of its audit."""
    for option in reversed([
        click.argument("drafts", nargs=-1, metavar="[DRAFT...]"),
        click.option("-s", "--subject", help="Draw the lot from this subject's drafts."),
        click.option("--run", help="Draw the lot from the drafts of this batch run."),
        click.option("--list", "listing", type=click.Path(dir_okay=False, path_type=Path),
                     help="Draw the lot from the drafts named in this file (one a line)."),
        click.option("--confidence", type=click.FloatRange(0.5, 0.999), default=0.95, show_default=True,
                     help="How sure the audit must be of its bound."),
        click.option("--max-defect", type=click.FloatRange(0.001, 0.5), default=0.05, show_default=True,
                     help="The largest share of defective pages to accept in the lot."),
        click.option("--seed", type=int, help="Draw the sample from this seed (to repeat a draw)."),
    ]):
        fn = option(fn)
    return fn


json_option = click.option("--json", "as_json", is_flag=True, help="The lot as JSON.")


def register(cli: click.Group) -> None:
    @verbs(cli, "audit", default="lot")
    def audit():
        """Approval by audited sample: `qtgen audit draw LOT (DRAFT...|--subject S|--run RUN|--list FILE)` draws a
        lot of judge-passed drafts and a random sample of it to review; `show LOT` says what the reviewed sample
        proves; `publish LOT` publishes the rest in one commit once it passed; `drop LOT` gives it up."""

    @command(audit, "lot", cls=EarlierForm)  # the form of earlier releases: `qtgen audit LOT [source] [--drop]`
    @click.argument("lot")
    @source_options
    @json_option
    @hidden("--drop", is_flag=True)
    @click.pass_obj
    def lot_(obj: Ctx, lot, drafts, subject, run, listing, confidence, max_defect, seed, as_json, drop):
        _audit(obj, lot, drafts, subject, run, listing, confidence, max_defect, seed, as_json, drop)

    @command(audit, "draw", short_help="Draw a lot and the sample of it to review.")
    @click.argument("lot")
    @source_options
    @json_option
    @click.pass_obj
    def draw(obj: Ctx, lot, drafts, subject, run, listing, confidence, max_defect, seed, as_json):
        """Draw the lot LOT from the judge-passed drafts named (DRAFT..., --subject, --run or --list), and a random
        sample of it to review (59 pages for 0.95 and 0.05). Review the sampled drafts as usual: approved unchanged,
        a page is sound; edited, regenerated or rejected, a defect."""
        if not (drafts or subject is not None or run is not None or listing is not None):
            raise click.UsageError("draw a lot from DRAFT..., --subject S, --run RUN or --list FILE")
        _audit(obj, lot, drafts, subject, run, listing, confidence, max_defect, seed, as_json, False)

    @command(audit, "show", short_help="How a lot stands, and what its sample proves.")
    @click.argument("lot")
    @json_option
    @click.pass_obj
    def show(obj: Ctx, lot, as_json):
        """How LOT stands: its sample's decisions, and once each has one, the upper bound on the lot's defect rate
        (exit 1 when the audit failed)."""
        _audit(obj, lot, (), None, None, None, 0.95, 0.05, None, as_json, False)

    @command(audit, "drop", short_help="Give a lot up.")
    @click.argument("lot")
    @click.pass_obj
    def drop(obj: Ctx, lot):
        """Give LOT up: its drafts go back to review one by one (or to a new lot); it stays on record as dropped."""
        _audit(obj, lot, (), None, None, None, 0.95, 0.05, None, False, True)

    @command(audit, "publish", short_help="Publish the rest of a lot that passed its audit.")
    @click.argument("lot")
    @click.option("--no-commit", is_flag=True, help="Only place the files in the content tree.")
    @click.pass_obj
    def publish(obj: Ctx, lot, no_commit):
        """Publish the drafts of LOT not in its sample, unread, in one commit recording the audit (once it passed)."""
        from .approve import approve_lot

        approve_lot(obj, lot, not no_commit)


def _audit(obj: Ctx, lot, drafts, subject, run, listing, confidence, max_defect, seed, as_json, drop) -> None:
    """Draw, show or drop a lot, as asked."""
    from ...publishing import lots as audits

    config = obj.config
    if subject is not None and not subject.strip():
        raise click.BadParameter("give a subject", param_hint="--subject")
    drawing = bool(drafts) or subject is not None or run is not None or listing is not None
    if drop:
        if drawing:
            raise click.UsageError("--drop gives up an existing lot: name no drafts")
        status = audits.drop(config, lot)
        obj.info(f"lot {lot} dropped: its {len(status.members)} draft(s) are reviewed one by one, or drawn again")
        return
    if drawing:
        paths, source = audits.lot_drafts(config, list(drafts), subject, run, listing)
        status, notes = audits.open_lot(config, lot, paths, source, confidence=confidence, max_defect=max_defect,
                                        seed=seed)
        for note in notes:
            obj.info(note)
    else:
        status = audits.status(config, lot)
    if as_json:
        click.echo(json.dumps(status.as_json(), indent=1))
    else:
        _show(config, status)
    for note in status.notes:
        obj.info(f"note: {note}")
    if status.passed is False and status.state == audits.OPEN:
        raise SystemExit(1)


def _show(config, s) -> None:
    from ...format.plaintext import one_line
    from ...publishing.lots import OPEN

    def name(draft: str) -> str:
        path = Path(draft)
        return str(path.relative_to(config.drafts)) if path.is_relative_to(config.drafts) else draft

    if s.state != OPEN:
        click.echo(f"lot {s.name} ({s.source}) is {s.state}" + (f" (commit {s.commit[:12]})" if s.commit else "")
                   + (f", by {one_line(s.ended_by)}" if s.ended_by else ""))
    click.echo(f"lot {s.name} ({s.source}): {len(s.members)} judge-passed draft(s); a sample of {len(s.sample)} to "
               f"review (seed {s.seed}); {len(s.sample) - len(s.pending)} decided, {len(s.defects)} defect(s)"
               + (f"; published in {s.commit[:12]}" if s.commit else "")
               + (f"; drawn by {one_line(s.drawn_by)}" if s.drawn_by else ""))
    for m in s.sample:
        click.echo(f"  {m.decision or ('not needed' if s.defects else 'waiting'):14s} {name(m.draft)}"
                   + (f" ({one_line(m.decided_by)})" if m.decision and m.decided_by else ""))
    if s.defects:
        click.echo(f"failed: {len(s.defects)} defect(s) in the sample, and one fails a lot (the zero-defect plan)"
                   + (f"; the {len(s.pending)} sampled draft(s) still waiting need no decision for the audit"
                      if s.pending else "")
                   + (f". qtgen audit drop {s.name} gives the lot up; its drafts are then reviewed one by one "
                      "(qtgen review)" if s.state == OPEN else ""))
        return
    if s.bound is None:
        click.echo(f"once each sampled draft is approved, edited, regenerated or rejected, the audit states the bound "
                   f"({len(s.pending)} waiting)")
    elif s.passed:
        click.echo(f"passed: the lot's defect rate is at most {s.bound:.2%} at {s.confidence:.0%} confidence (asked: "
                   f"{s.max_defect:.2%})" + (f"; qtgen audit publish {s.name} publishes the rest" if s.state == OPEN
                                             else ""))
    else:
        click.echo(f"failed: {len(s.defects)} defect(s) in the sample; upper bound {s.bound:.2%} at {s.confidence:.0%} "
                   f"confidence, over {s.max_defect:.2%}: review the lot's drafts one by one")
