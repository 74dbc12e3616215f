"""`qtgen revise copy|regenerate|duplicates`: revisions of published pages in the review queue."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..context import Ctx, command, effort_option, hidden, hidden_effort_option, verbs
from ..progress import exit_if_interrupted, print_summary, run_with_progress


def choice_options(fn):
    """Which published pages."""
    for option in reversed([
        click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path)),
        click.option("--rule", "rules", multiple=True, help="Only pages with this lint finding (QT004, chatter...); "
                                                            "repeatable."),
        click.option("--limit", type=click.IntRange(min=1), help="At most N pages."),
        click.option("--made-with", "made_with", multiple=True, metavar="KEY=VALUE",
                     help="Only pages approved as made with model=NAME, prompt=HASH (a prefix) or before=YYYY-MM-DD "
                          "(qtgen provenance shows them); repeatable, all must hold. Without PATH: the whole site."),
    ]):
        fn = option(fn)
    return fn


def register(cli: click.Group) -> None:
    @verbs(cli, "revise", default="copy")
    def revise():
        """Put revisions of published pages in the review queue: `qtgen revise copy PAGE...` (or just `qtgen revise
        PAGE...`) to edit them, `regenerate PAGE...` for a new answer from the model, `duplicates CLUSTER` to mark a
        duplicate cluster's extra pages no_index. `qtgen approve` then replaces each published file, in one commit."""

    @command(revise, "copy", short_help="Revisions that start as the published text (the default verb).")
    @hidden_effort_option
    @choice_options
    @hidden("--regenerate", is_flag=True)
    @hidden("--feedback")
    @hidden("-c", "--concurrency", default=16, type=click.IntRange(1, 256))
    @hidden("--rpm", type=click.FloatRange(min=0.1))
    @hidden("--tpm", type=click.FloatRange(min=1))
    @hidden("--report", type=click.Path(dir_okay=False, path_type=Path))
    @hidden("--duplicates", "cluster", metavar="CLUSTER")
    @hidden("--min-score", type=click.FloatRange(50, 100))
    @hidden("--keep", type=click.Choice(["linked", "oldest"]), default="linked")
    @hidden("--uncertain", is_flag=True)
    @click.pass_obj
    def copy(obj: Ctx, **options):
        """Put revisions of published pages (files or folders) in the review queue, each starting as the published
        text, to be edited."""
        _revise(obj, **options)

    @command(revise, "regenerate", short_help="Revisions with a new answer from the model.")
    @effort_option
    @choice_options
    @click.option("--feedback", help="What the reviewer wants changed.")
    @click.option("-c", "--concurrency", default=16, show_default=True, type=click.IntRange(1, 256),
                  help="At most this many requests in flight.")
    @click.option("--rpm", type=click.FloatRange(min=0.1), help="Never more requests per minute.")
    @click.option("--tpm", type=click.FloatRange(min=1), help="Never more tokens per minute.")
    @click.option("--report", type=click.Path(dir_okay=False, path_type=Path), help="Write one JSON line per page.")
    @click.pass_obj
    def regenerate(obj: Ctx, **options):
        """The model writes a new answer for each published page, with the page's answer and findings (through the
        batch machinery: pacing, ledger, resume by running the same command again)."""
        _revise(obj, regenerate=True, cluster=None, min_score=None, keep="linked", uncertain=False, **options)

    @command(revise, "duplicates", short_help="Mark a duplicate cluster's extra pages no_index.")
    @click.argument("cluster")
    @click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
    @click.option("--min-score", type=click.FloatRange(50, 100), help="As given to qtgen duplicates.")
    @click.option("--keep", type=click.Choice(["linked", "oldest"]), default="linked", show_default=True,
                  help="As given to qtgen duplicates.")
    @click.option("--uncertain", is_flag=True, help="Mark the cluster's uncertain pages too.")
    @click.pass_obj
    def duplicates(obj: Ctx, cluster, paths, min_score, keep, uncertain):
        """Mark the extra pages of CLUSTER (an id from qtgen duplicates, over the same PATHs) no_index, as revisions
        for review."""
        _revise(obj, paths, (), None, False, None, 16, None, None, None, cluster, min_score, keep, uncertain, ())


def _revise(obj: Ctx, paths, rules, limit, regenerate, feedback, concurrency, rpm, tpm, report, cluster, min_score,
            keep, uncertain, made_with) -> None:
    """Revisions made as asked; the forms of earlier releases included."""
    from ...drafting import revision as revising

    if feedback and not regenerate:
        raise click.UsageError("--feedback goes with --regenerate")
    if cluster is not None and (regenerate or rules or limit or report):
        raise click.UsageError("--duplicates takes no --regenerate, --rule, --limit or --report")
    if cluster is None and (min_score is not None or keep != "linked" or uncertain):
        raise click.UsageError("--min-score, --keep and --uncertain go with --duplicates")
    if cluster is not None and made_with:
        raise click.UsageError("--duplicates takes no --made-with")
    if cluster is None and not paths and not made_with:
        raise click.UsageError("name the published pages (files or folders), or --made-with KEY=VALUE (qtgen revise "
                               "duplicates CLUSTER marks a duplicate cluster)")
    config = obj.config
    config.require_site("revise works on published pages, but there is")  # before anything is opened
    if made_with:
        from ...publishing.provenance import made_with_paths, parse_made_with

        wanted = parse_made_with(list(made_with))
        paths = made_with_paths(config, list(paths) or [config.content], wanted)
        obj.info(f"{len(paths)} published page(s) made with {', '.join(f'{k}={v}' for k, v in wanted.items())}")
        if not paths:
            obj.info("no page to revise")
            return
    if cluster is not None:
        from ...site.index import open_index
        from ...drafting import site_duplicates as dup

        from ...drafting.near_duplicates import DuplicateCheck

        check = DuplicateCheck.open(config)  # the same word on uncertain pages as qtgen duplicates had
        try:
            with open_index(config) as index:
                found = dup.find(config, index, list(paths) or None, min_score, keep,
                                 check.same if check.enabled else None)
        finally:
            check.close()
        chosen = dup.chosen(found, cluster)
        result = dup.mark(config, chosen, uncertain)
        for line in result.skipped:
            obj.info(line)
        for path in result.made:
            click.echo(str(path))
        obj.info(f"{len(result.made)} revision(s) marking no_index waiting for review (keeping "
                 f"{chosen.keeper.path})" if result.made else "nothing marked")
        if result.made:
            obj.info("note: " + found.note)
        return
    if not regenerate:
        from ...site.index import open_index

        skipped: list[str] = []
        with open_index(config) as index:
            made = revising.copy(config, list(paths), list(rules), limit, index, skipped)
        for line in skipped:
            obj.info(line)
        for path in made:
            click.echo(str(path))
        obj.info(f"{len(made)} revision(s) waiting for review" if made else "no page to revise")
        return
    from ...batch.run import Batch
    from ...batch.options import Options

    options = Options(concurrency=concurrency, rpm=rpm, tpm=tpm, feedback=feedback, rules=tuple(rules))
    with Batch(config) as job:
        skipped: list[str] = []
        candidates = revising.choose(config, list(paths), list(rules), limit, job.index, skipped)
        for line in skipped:
            obj.info(line)
        if not candidates:
            obj.info("no page to revise")
            return
        label = ",".join(sorted(rules)) or "pages"
        prepared = job.prepare_revisions(candidates, options, label)
        before = job.summary(prepared.run_id, "running")
        obj.info(f"run {prepared.run_id}{' (resumed)' if prepared.resumed else ''}: {before.left} page(s) to revise, "
                 f"{before.counts.get('done', 0)} done, {before.counts.get('skipped', 0)} skipped")
        progress = None
        try:
            progress = run_with_progress(obj, job, prepared, before.left, before.counts.get("skipped", 0))
        finally:
            status = job.close_run(prepared.run_id)
        if report:
            job.write_report(prepared.run_id, report)
        summary = job.summary(prepared.run_id, status)
        for item in job.ledger.items(prepared.run_id, ("done",)):
            click.echo(item.path)
    print_summary(obj, summary, progress, resume="run the same qtgen revise command again")
    exit_if_interrupted(obj, summary, progress, "the same qtgen revise command, run again")
    sys.exit(1 if summary.failed else 0)
