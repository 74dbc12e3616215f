"""`qtgen audit LOT`: draw a random sample of judge-passed drafts, and say what it proves once it is reviewed."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..context import Ctx, command


def register(cli: click.Group) -> None:
    @command(cli)
    @click.argument("lot")
    @click.argument("drafts", nargs=-1, metavar="[DRAFT...]")
    @click.option("-s", "--subject", help="Draw the lot from this subject's drafts.")
    @click.option("--run", help="Draw the lot from the drafts of this batch run.")
    @click.option("--list", "listing", type=click.Path(dir_okay=False, path_type=Path),
                  help="Draw the lot from the drafts named in this file (one a line).")
    @click.option("--confidence", type=click.FloatRange(0.5, 0.999), default=0.95, show_default=True,
                  help="How sure the audit must be of its bound.")
    @click.option("--max-defect", type=click.FloatRange(0.001, 0.5), default=0.05, show_default=True,
                  help="The largest share of defective pages to accept in the lot.")
    @click.option("--seed", type=int, help="Draw the sample from this seed (to repeat a draw).")
    @click.option("--json", "as_json", is_flag=True, help="The lot as JSON.")
    @click.option("--drop", is_flag=True, help="Give the lot up: its drafts go back to review one by one (or a new lot).")
    @click.pass_obj
    def audit(obj: Ctx, lot, drafts, subject, run, listing, confidence, max_defect, seed, as_json, drop):
        """Approval by audited sample. With drafts (DRAFT..., --subject, --run or --list), draw the lot LOT from those
        the judge passed, and a random sample of it to review (59 pages for 0.95 and 0.05); without, show how LOT
        stands. Review the sampled drafts as usual: approved unchanged, a page is sound; edited, regenerated or
        rejected, a defect. Once each has a decision, the audit states the upper bound on the lot's defect rate;
        if it is under --max-defect, qtgen approve --lot LOT publishes the rest in one commit."""
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
    def name(draft: str) -> str:
        path = Path(draft)
        return str(path.relative_to(config.drafts)) if path.is_relative_to(config.drafts) else draft

    if s.state != "open":
        click.echo(f"lot {s.name} ({s.source}) is {s.state}" + (f" (commit {s.commit[:12]})" if s.commit else ""))
    click.echo(f"lot {s.name} ({s.source}): {len(s.members)} judge-passed draft(s); a sample of {len(s.sample)} to "
               f"review (seed {s.seed}); {len(s.sample) - len(s.pending)} decided, {len(s.defects)} defect(s)"
               + (f"; published in {s.commit[:12]}" if s.commit else ""))
    for m in s.sample:
        click.echo(f"  {m.decision or ('not needed' if s.defects else 'waiting'):14s} {name(m.draft)}")
    if s.defects:
        click.echo(f"failed: {len(s.defects)} defect(s) in the sample, and one fails a lot (the zero-defect plan)"
                   + (f"; the {len(s.pending)} sampled draft(s) still waiting need no decision for the audit"
                      if s.pending else "")
                   + (f". qtgen audit {s.name} --drop gives the lot up; its drafts are then reviewed one by one "
                      "(qtgen review)" if s.state == "open" else ""))
        return
    if s.bound is None:
        click.echo(f"once each sampled draft is approved, edited, regenerated or rejected, the audit states the bound "
                   f"({len(s.pending)} waiting)")
    elif s.passed:
        click.echo(f"passed: the lot's defect rate is at most {s.bound:.2%} at {s.confidence:.0%} confidence (asked: "
                   f"{s.max_defect:.2%})" + (f"; qtgen approve --lot {s.name} publishes the rest" if s.state == "open"
                                             else ""))
    else:
        click.echo(f"failed: {len(s.defects)} defect(s) in the sample; upper bound {s.bound:.2%} at {s.confidence:.0%} "
                   f"confidence, over {s.max_defect:.2%}: review the lot's drafts one by one")
