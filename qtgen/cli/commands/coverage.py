"""`qtgen coverage [-s SUBJECT] [--topics FILE]`: pages per subject, and the topics of a list with no page."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..context import Ctx, command


def register(cli: click.Group) -> None:
    @command(cli)
    @click.option("-s", "--subject", help="Only this subject.")
    @click.option("--topics", type=click.Path(dir_okay=False, path_type=Path),
                  help="Topics to find pages for, one a line (a syllabus): the pages covering each, and those with none.")
    @click.option("--json", "as_json", is_flag=True, help="Everything as JSON.")
    @click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path),
                  help="Write a page with charts: pages per subject, per topic, topics with no page in red.")
    @click.pass_obj
    def coverage(obj: Ctx, subject, topics, as_json, html_out):
        """Where the site is thin: pages per subject (published, drafted, rejected) and, with --topics, the pages that
        cover each topic (by the site's own similarity) and the topics no page covers."""
        from ...site.index import open_index
        from ...insight import coverage as cov

        config = obj.config
        config.require_site("coverage counts a site's pages, but there is")
        wanted = cov.read_topics(topics) if topics is not None else None
        with open_index(config, create=config.drafts.is_dir()) as index:
            report = cov.coverage(config, index, subject, wanted)
        if html_out is not None:
            from ...format.files import inside, write_atomic
            from ...insight.coverage_report import report_html

            target = html_out.resolve()
            if html_out.suffix.lower() not in (".html", ".htm"):
                raise click.BadParameter(f"{html_out}: name an .html file", param_hint="--html")
            if inside(target, config.content.resolve()) or inside(target, config.drafts.resolve()):
                raise click.BadParameter(f"{html_out} lies inside the content tree or the drafts; write the report "
                                         "elsewhere", param_hint="--html")
            write_atomic(html_out, report_html(report), overwrite=True)
            obj.info(f"report: {html_out}")
        if as_json:
            click.echo(json.dumps(report.as_json(), indent=1, ensure_ascii=False))
            return
        width = max([len("subject")] + [len(s.subject) for s in report.subjects]) + 2
        click.echo("subject".ljust(width) + "published".rjust(10) + "drafted".rjust(9) + "rejected".rjust(10))
        for s in report.subjects:
            click.echo(s.subject.ljust(width) + f"{s.published:10d}{s.drafted:9d}{s.rejected:10d}")
        if len(report.subjects) > 1:
            click.echo("total".ljust(width) + f"{sum(s.published for s in report.subjects):10d}"
                       f"{sum(s.drafted for s in report.subjects):9d}{sum(s.rejected for s in report.subjects):10d}")
        if report.topics is not None:
            click.echo("")
            tw = max(len(t.topic) for t in report.topics) + 2
            for t in report.topics:
                click.echo(t.topic.ljust(tw) + (f"{len(t.pages):5d} page(s)" if t.pages else "   no page"))
            obj.info(f"{len(report.uncovered)} of {len(report.topics)} topic(s) have no page"
                     + (" (qtgen suggest --topics FILE asks for questions on them first)" if report.uncovered else ""))
