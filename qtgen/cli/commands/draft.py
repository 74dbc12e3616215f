"""`qtgen draft QUESTION -s SUBJECT`: one question into drafts/<subject-slug>/<file_name>."""

from __future__ import annotations

import click

from ..context import Ctx, QuestionCommand, command, effort_option


def register(cli: click.Group) -> None:
    @command(cli, cls=QuestionCommand)
    @effort_option
    @click.argument("question")
    @click.option("-s", "--subject", required=True, help="Subject, e.g. 'Economics'.")
    @click.option("--date", type=click.DateTime(formats=["%Y-%m-%d"]), help="Page date (default today).")
    @click.option("--id", "page_id", type=click.IntRange(1, 2**63 - 1),
                  help="Page id (default: one above the highest in use).")
    @click.option("--temperature", type=float, help="Sampling temperature.")
    @click.option("--max-tokens", type=int, help="Cap on the answer's tokens.")
    @click.option("--force", is_flag=True, help="Replace an existing draft of the same question and subject.")
    @click.option("--dry-run", is_flag=True, help="Generate and print the file, write nothing, reserve no id.")
    @click.option("--related/--no-related", default=True, help="Add up to 5 related published pages (default on).")
    @click.option("--allow-similar", is_flag=True, help="Draft even if a page already asks this in other words.")
    @click.option("--new-subject", is_flag=True, help="A subject the site does not have yet, spelled as given.")
    @click.pass_obj
    def draft(obj: Ctx, question, subject, date, page_id, temperature, max_tokens, force, dry_run, related,
              allow_similar, new_subject):
        """Draft one QUESTION into drafts/<subject-slug>/<file_name>."""
        from ...drafting.drafter import draft_question

        config = obj.config.with_overrides(temperature=temperature, max_tokens=max_tokens)
        result = draft_question(config, question, subject, date=date.date() if date else None, page_id=page_id,
                                force=force, dry_run=dry_run, related=related, allow_similar=allow_similar,
                                new_subject=new_subject, notify=obj.info, on_wait=obj.retrying)
        for alert in result.alerts:
            obj.info(f"warning: {alert}")
        for note in result.notes:
            obj.info(f"note: {note}")
        for w in result.warnings:
            obj.info(f"warning: {w.field}: {w.message}")
        for e in result.errors:
            obj.info(f"error: {e.field}: {e.message}")
        c = result.completion
        if dry_run:
            click.echo(result.text)
            obj.info(f"dry run: nothing written, no id reserved (would write {config.drafts}/{_place(config, result.page)})")
        else:
            click.echo(str(result.path))
            if not config.site_found:
                obj.info(f"note: no site here ({config.content} does not exist): the draft went to "
                         f"{result.path.resolve()}; approve it from inside a site, or pass --content PATH")
        status = "valid" if not result.warnings else f"valid with {len(result.warnings)} warning(s)"
        if result.errors:
            status = (f"{'would be ' if dry_run else ''}kept for review with {len(result.errors)} error(s) (the answer "
                      "is kept; fix them with qtgen edit, or reject it)")
        obj.info(f"{status}; id {result.page.id}; {c.usage.total} tokens ({c.usage.prompt_tokens} in, "
                 f"{c.usage.completion_tokens} out); model {c.model}; {c.latency:.1f}s")


def _place(config, page) -> str:
    from ...format.slug import slug

    return f"{slug(page.subject, config.slug_style)}/{page.file_name}"
