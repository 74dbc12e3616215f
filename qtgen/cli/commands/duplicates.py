"""`qtgen duplicates [PATH...]`: the site's published pages that ask the same thing, in clusters."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from ..context import Ctx, command


def register(cli: click.Group) -> None:
    @command(cli)
    @click.argument("paths", nargs=-1, type=click.Path(exists=True, file_okay=False, path_type=Path))
    @click.option("--min-score", type=click.FloatRange(50, 100),
                  help="Join questions scoring at least this (50-100; default: similar_threshold, 80).")
    @click.option("--keep", type=click.Choice(["linked", "oldest"]), default="linked", show_default=True,
                  help="Which question a cluster keeps: the most linked by related articles (then the oldest), "
                       "or the oldest.")
    @click.option("--all", "show_all", is_flag=True,
                  help="Also list each question the site puts under several subjects on purpose.")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable clusters, counts and the site note.")
    @click.pass_obj
    def duplicates(obj: Ctx, paths, min_score, keep, show_all, as_json):
        """Group published pages (below PATH, default the whole content tree) that ask the same thing into
        clusters: per cluster the page to keep and the pages to mark no_index.

        The same question under several subjects is the site's own design: shown as one intended group, nothing
        to do. `qtgen revise duplicates CLUSTER` turns a cluster's marks into revisions for review; no page is
        ever deleted.
        """
        from ...site.index import open_index
        from ...drafting import site_duplicates as dup

        config = obj.config
        config.require_site("duplicates reads the published pages, but there is")
        from ...drafting.near_duplicates import DuplicateCheck

        check = DuplicateCheck.open(config)
        try:
            with open_index(config, create=False) as index:  # a read-only command creates nothing
                report = dup.find(config, index, list(paths) or None, min_score, keep,
                                  check.same if check.enabled else None)
        finally:
            if check.summary():
                obj.info(check.summary())
            check.close()
        if as_json:
            click.echo(json.dumps(report.as_json(), ensure_ascii=False, indent=1))
            return
        root = config.content

        def name(path: str) -> str:
            return os.path.relpath(path, root)

        shown = report.clusters if show_all else report.rewordings
        for cluster in shown:
            click.echo(f"{cluster.id}  {cluster.kind}, {len(cluster.members)} pages: keep {name(cluster.keeper.path)} "
                       f"({cluster.why})")
            for m in cluster.members:
                score = "" if m.score is None else f"{m.score:5.1f}  "
                click.echo(f"    {m.action:<20} {score}{m.question}  [{m.subject}]  {name(m.path)}")
        c = report.counts()
        obj.info(f"{c['pages']} published page(s) at score {c['min_score']:g}: {c['rewording_clusters']} cluster(s) of "
                 f"rewordings ({c['pages_in_rewording_clusters']} pages; {c['to_mark_no_index']} to mark no_index, "
                 f"{c['uncertain']} uncertain, {c['already_no_index']} marked already); {c['same_question_groups']} "
                 "question(s) under several "
                 f"subjects on purpose ({c['pages_in_same_question_groups']} pages"
                 + (")" if show_all else "; --all lists them)"))
        if report.rewordings:
            obj.info("qtgen revise duplicates CLUSTER puts a cluster's no_index marks in the review queue")
            if not check.enabled and c["uncertain"]:
                obj.info(f"{c['uncertain']} page(s) scoring up to {config.similar_band[1]:g} are listed as uncertain, not "
                         "marked: read them (qtgen revise duplicates CLUSTER --uncertain marks them too), or set "
                         "similar_check = true and the model judges each one")
            obj.info("note: " + report.note)
