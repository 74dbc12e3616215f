"""The `qtgen` command: parses arguments and prints; the work is done by the library modules.

Exit codes: 0 success, 1 failure (a model error, a validation error), 2 bad usage or input.
Heavy imports (openai, pydantic, jinja2) happen inside commands so that `--help` starts fast.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click

from . import __version__


class Ctx:
    def __init__(self, config_file, quiet, overrides):
        self.config_file = config_file
        self.quiet = quiet
        self.overrides = overrides
        self._config = None

    @property
    def config(self):
        if self._config is None:
            from .config import load

            self._config = load(self.config_file).with_overrides(**self.overrides)
        return self._config

    def info(self, message: str) -> None:
        if not self.quiet:
            click.echo(message, err=True)


def _fail(message: str, code: int, secret: str | None = None) -> None:
    if secret:
        message = message.replace(secret, "***")
    click.echo(f"qtgen: error: {message}", err=True)
    sys.exit(code)


class Group(click.Group):
    """Turns our errors into one line and an exit code instead of a traceback."""

    def invoke(self, ctx):
        from .errors import QtgenError

        try:
            return super().invoke(ctx)
        except QtgenError as exc:
            obj = ctx.obj
            secret = obj._config.api_key if obj is not None and obj._config is not None else None
            _fail(str(exc), exc.exit_code, secret or os.environ.get("OPENAI_API_KEY"))
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except BrokenPipeError:
            sys.stderr.close()
            sys.exit(1)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # a bug of ours: still one line, the traceback on request
            if os.environ.get("QTGEN_DEBUG"):
                raise
            _fail(f"internal error: {type(exc).__name__}: {exc} (set QTGEN_DEBUG=1 for the traceback)", 1,
                  os.environ.get("OPENAI_API_KEY"))


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="qtgen")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Config file (default: nearest qtgen.toml or pyproject.toml [tool.qtgen]).")
@click.option("-q", "--quiet", is_flag=True, help="Print only results and errors.")
@click.option("--model", help="Model name (overrides QTGEN_MODEL and the config).")
@click.option("--base-url", help="OpenAI-compatible server URL (overrides OPENAI_BASE_URL).")
@click.option("--drafts", "drafts_dir", type=click.Path(file_okay=False, path_type=Path), help="Drafts folder.")
@click.option("--content", "content_dir", type=click.Path(file_okay=False, path_type=Path),
              help="The site's content tree (default content/learn).")
@click.option("--prompts", "prompts_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of prompt templates overriding the defaults.")
@click.pass_context
def cli(ctx, config_file, quiet, model, base_url, drafts_dir, content_dir, prompts_dir):
    """qtgen: turn questions into site-exact QuickTakes Q&A drafts, review them, publish them."""
    ctx.obj = Ctx(config_file, quiet, dict(model=model, base_url=base_url, drafts_dir=drafts_dir,
                                           content_dir=content_dir, prompts_dir=prompts_dir))


@cli.command()
@click.argument("question")
@click.option("-s", "--subject", required=True, help="Subject, e.g. 'Economics'.")
@click.option("--date", type=click.DateTime(formats=["%Y-%m-%d"]), help="Page date (default today).")
@click.option("--id", "page_id", type=int, help="Page id (default: one above the highest in use).")
@click.option("--temperature", type=float, help="Sampling temperature.")
@click.option("--max-tokens", type=int, help="Cap on the answer's tokens.")
@click.option("--force", is_flag=True, help="Replace an existing draft of the same question and subject.")
@click.option("--dry-run", is_flag=True, help="Generate and print the file, write nothing.")
@click.option("--related/--no-related", default=True, help="Add up to 5 related published pages (default on).")
@click.option("--allow-similar", is_flag=True, help="Draft even if a page already asks this in other words.")
@click.pass_obj
def draft(obj: Ctx, question, subject, date, page_id, temperature, max_tokens, force, dry_run, related, allow_similar):
    """Draft one QUESTION into drafts/<file_name>."""
    from . import draft as drafting
    from .backend import open_client
    from .index import open_index

    config = obj.config.with_overrides(temperature=temperature, max_tokens=max_tokens)
    p = drafting.plan(config, question, subject, force=force)  # bad input fails before any server starts
    with open_index(config) as index:
        if not allow_similar:
            drafting.check_similar(index, p, config.similar_threshold)
        with open_client(config, notify=obj.info,
                         on_wait=lambda secs, why: obj.info(f"retrying in {secs:.1f}s: {why}")) as client:
            result = drafting.draft(config, client, p, date=date.date() if date else None, page_id=page_id,
                                    force=force, dry_run=dry_run, index=index, related=related)
    for note in result.notes:
        obj.info(f"note: {note}")
    warnings = [f for f in result.findings if f.level == "warning"]
    for w in warnings:
        obj.info(f"warning: {w.field}: {w.message}")
    c = result.completion
    if dry_run:
        click.echo(result.text)
        obj.info(f"dry run: nothing written (would write {config.drafts / result.page.file_name})")
    else:
        click.echo(str(result.path))
    status = "valid" if not warnings else f"valid with {len(warnings)} warning(s)"
    obj.info(f"{status}; id {result.page.id}; {c.usage.total} tokens ({c.usage.prompt_tokens} in, "
             f"{c.usage.completion_tokens} out); model {c.model}; {c.latency:.1f}s")


@cli.command()
@click.argument("question")
@click.option("-s", "--subject", required=True, help="Subject, e.g. 'Economics'.")
@click.option("--json", "as_json", is_flag=True, help="Print the chat messages as JSON.")
@click.pass_obj
def prompt(obj: Ctx, question, subject, as_json):
    """Print the rendered prompt for QUESTION without calling any model."""
    from . import draft as drafting

    config = obj.config
    p = drafting.plan(config, question, subject, force=True)
    rendered = drafting.build_prompt(config, p)
    if as_json:
        click.echo(json.dumps(rendered.messages(), indent=2, ensure_ascii=False))
    else:
        click.echo(f"--- system ({rendered.sources[0]})\n{rendered.system}\n--- user ({rendered.sources[1]})\n{rendered.user}")


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--roundtrip", is_flag=True, help="Also re-emit each file and report any byte that differs.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@click.option("--errors-only", is_flag=True, help="Do not list warnings.")
@click.pass_obj
def validate(obj: Ctx, paths, roundtrip, as_json, errors_only):
    """Check page files or folders against the site's format; exit 1 on any error."""
    from .validate import validate_paths

    report = validate_paths(paths, obj.config, roundtrip=roundtrip)
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=1, ensure_ascii=False))
    else:
        shown = report.errors if errors_only else report.findings
        if shown:
            click.echo("\n".join(f.line() for f in shown))
        obj.info(f"{report.files} file(s): {len(report.errors)} error(s), {len(report.warnings)} warning(s)"
                 + ("; round trip checked" if roundtrip else ""))
    sys.exit(1 if report.errors else 0)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable findings.")
@click.option("--no-index", is_flag=True, help="Skip the duplicate-question rule (needs the site index).")
@click.pass_obj
def lint(obj: Ctx, paths, as_json, no_index):
    """Content lint of pages: length, shape, chatter, broken math, HTML, template text, SEO, duplicates.

    Exit 1 if any finding is an error.
    """
    from dataclasses import asdict

    from .lint import ERROR, lint_paths

    def run(index=None):
        return lint_paths(list(paths), obj.config, index)

    if no_index:
        count, findings = run()
    else:
        from .index import open_index

        with open_index(obj.config) as index:
            count, findings = run(index)
    errors = sum(1 for f in findings if f.level == ERROR)
    if as_json:
        click.echo(json.dumps({"files": count, "errors": errors, "findings": [asdict(f) for f in findings]},
                              indent=1, ensure_ascii=False))
    else:
        if findings:
            click.echo("\n".join(f.line() for f in findings))
        obj.info(f"{count} file(s): {errors} error(s), {len(findings) - errors} warning(s)")
    sys.exit(1 if errors else 0)


@cli.command("index")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable counts.")
@click.pass_obj
def index_cmd(obj: Ctx, as_json):
    """Build or refresh the index of the content tree and drafts (re-reads only changed files)."""
    from .index import open_index

    with open_index(obj.config, refresh=False) as index:
        counts = index.refresh()
        totals = index.count()
        data = {"pages": totals.get("content", 0), "drafts": totals.get("draft", 0), "read": counts.read,
                "unchanged": counts.unchanged, "removed": counts.removed, "unreadable": counts.unreadable,
                "seconds": round(counts.seconds, 3), "path": str(index.path)}
    if as_json:
        click.echo(json.dumps(data))
    else:
        click.echo(f"{data['pages']} published page(s), {data['drafts']} draft(s); read {counts.read}, "
                   f"unchanged {counts.unchanged}, removed {counts.removed}, unreadable {counts.unreadable} "
                   f"in {counts.seconds:.2f}s ({index.path})")


@cli.command()
@click.argument("question")
@click.option("-n", "--limit", default=5, show_default=True, help="How many matches.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable matches.")
@click.pass_obj
def similar(obj: Ctx, question, limit, as_json):
    """Show published or drafted questions that ask QUESTION in other words, with a 0-100 score."""
    from .index import open_index
    from .text import normalise_question

    q = normalise_question(question)
    with open_index(obj.config) as index:
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


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--refresh", is_flag=True, required=True, help="Recompute related_article1..5 of existing pages.")
@click.pass_obj
def related(obj: Ctx, paths, refresh):
    """Recompute the related articles of existing pages, touching no other byte."""
    from .index import open_index
    from .relate import refresh_related
    from .validate import expand

    with open_index(obj.config) as index:
        for path in expand(paths):
            changed, count = refresh_related(index, path)
            click.echo(f"{path}: {count} related article(s){'' if changed else ' (unchanged)'}")


@cli.command()
@click.argument("questions", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("-s", "--subject", help="Subject for a plain-text list (or rows without one).")
@click.option("-c", "--concurrency", default=4, show_default=True, type=click.IntRange(1, 256),
              help="Requests in flight at once.")
@click.option("--rpm", type=click.FloatRange(min=0.1), help="Stay under this many requests per minute.")
@click.option("--tpm", type=click.FloatRange(min=1), help="Stay under this many tokens per minute.")
@click.option("--limit", type=click.IntRange(min=0), help="Draft at most N questions now; the rest stay resumable.")
@click.option("--max-cost", type=click.FloatRange(min=0), help="Stop starting new questions past this many dollars.")
@click.option("--strict", is_flag=True, help="Send nothing if any line of the list is bad.")
@click.option("--allow-similar", is_flag=True, help="Draft questions that published pages already ask in other words.")
@click.option("--related/--no-related", default=True, help="Add related published pages (default on).")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), help="Write one JSON line per question.")
@click.option("--resume", is_flag=True, help="Resume the latest unfinished run (QUESTIONS may be left out).")
@click.pass_obj
def batch(obj: Ctx, questions, subject, concurrency, rpm, tpm, limit, max_cost, strict, allow_similar, related,
          report, resume):
    """Draft every question of a CSV, TSV, JSONL or text file, under the rate limit, resumably.

    Rerunning the same command (or --resume) drafts only what is left.
    """
    from . import batch as batching
    from .backend import open_client
    from .index import open_index
    from .ledger import Ledger
    from .ratelimit import RateLimiter

    config = obj.config
    options = batching.Options(subject, concurrency, rpm, tpm, limit, max_cost, strict, allow_similar, related)
    with Ledger(batching.ledger_path(config)) as ledger, open_index(config) as index:
        if questions is None:
            latest = ledger.latest_unfinished() if resume else None
            if latest is None:
                raise click.UsageError("give the QUESTIONS file" + (" (no unfinished run to resume)" if resume else ""))
            questions = Path(latest[1])
        prepared = batching.prepare(config, questions, options, ledger, index)
        for bad in prepared.bad:
            obj.info(f"bad line: {bad.text()}")
        counts = ledger.counts(prepared.run_id)
        left = sum(counts.get(s, 0) for s in ("pending", "running", "failed"))
        obj.info(f"run {prepared.run_id}{' (resumed)' if prepared.resumed else ''}: {left} to draft, "
                 f"{counts.get('done', 0)} done, {counts.get('skipped', 0)} skipped, {len(prepared.bad)} bad line(s)")
        limiter = RateLimiter(rpm, tpm, tokens_per_request=config.max_tokens + 600)
        progress = None
        if left:
            runner = None
            with open_client(config, notify=obj.info, before_request=limiter.acquire,
                             on_wait=lambda secs, exc: runner.on_wait(secs, exc)) as client:
                runner = batching.Runner(config, ledger, index, client, limiter, options)
                progress = _run_with_progress(obj, runner, prepared.run_id, min(left, limit if limit is not None else left),
                                              counts.get("skipped", 0))
        status = ledger.close_run(prepared.run_id)
        items = ledger.items(prepared.run_id)
        if report:
            from .writer import write_atomic

            lines = [json.dumps(i.report(), ensure_ascii=False) for i in items]
            write_atomic(report, "\n".join(lines) + ("\n" if lines else ""), overwrite=True)
        _summary(obj, config, ledger, prepared.run_id, progress, status)
    failed = any(i.state == "failed" for i in items)
    sys.exit(1 if failed or prepared.bad else 0)


def _run_with_progress(obj: Ctx, runner, run_id: str, total: int, skipped: int):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    if obj.quiet or not console.is_terminal:
        return runner.run(run_id)
    columns = [TextColumn("drafting"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
               TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("", total=total)

        def tick():
            p = runner.progress
            elapsed = max(time.monotonic() - p.started, 1e-6)
            rate = (p.done + p.failed) / elapsed * 60
            bar.update(task, completed=p.done + p.failed,
                       description=f"done {p.done} failed {p.failed} skipped {skipped} · {rate:.0f}/min · "
                                   f"{p.tokens_in + p.tokens_out:,} tok · ${p.cost:.4f}"
                                   + (f" · {runner.limiter.throttled}x429" if runner.limiter.throttled else ""))

        result = runner.run(run_id, tick)
        tick()
        return result


def _summary(obj: Ctx, config, ledger, run_id: str, progress, status: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from .batch import cost

    if obj.quiet:
        return
    counts = ledger.counts(run_id)
    tokens_in, tokens_out = ledger.totals(run_id)
    spent = sum(cost(config, i.model or "", i.tokens_in, i.tokens_out) for i in ledger.items(run_id, ("done",)))
    table = Table(title=f"run {run_id}: {status}")
    for col in ("done", "failed", "skipped", "invalid", "left", "tokens in", "tokens out", "cost"):
        table.add_column(col, justify="right")
    left = sum(counts.get(s, 0) for s in ("pending", "running", "failed"))
    table.add_row(*(str(counts.get(s, 0)) for s in ("done", "failed", "skipped", "invalid")), str(left),
                  f"{tokens_in:,}", f"{tokens_out:,}", f"${spent:.4f}")
    console = Console(stderr=True)
    console.print(table)
    if progress is not None:
        elapsed = time.monotonic() - progress.started
        obj.info(f"this session: {progress.done} drafted, {progress.failed} failed in {elapsed:.1f}s; "
                 f"{progress.throttled} rate-limit answer(s)" + (f"; stopped: {progress.stopped}" if progress.stopped else ""))
    for item in ledger.items(run_id, ("failed",))[:10]:
        obj.info(f"failed: line {item.line}: {item.question}: {item.error}")
    if status != "finished":
        obj.info("resume with: qtgen batch --resume")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable list.")
@click.pass_obj
def runs(obj: Ctx, as_json):
    """List past batch runs with their counts."""
    from .batch import ledger_path
    from .ledger import Ledger

    path = ledger_path(obj.config)
    rows = []
    if path.exists():
        with Ledger(path) as ledger:
            rows = ledger.runs()
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    if not rows:
        obj.info("no batch runs yet")
        return
    for r in rows:
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["started"]))
        counts = ", ".join(f"{r.get(s, 0)} {s}" for s in ("done", "failed", "skipped", "invalid", "pending"))
        click.echo(f"{r['run']}  {started}  {r['status']:<8}  {counts}  {r['input']}")


def _open_index(obj: Ctx, use: bool = True):
    from contextlib import nullcontext

    from .index import open_index

    return open_index(obj.config) if use else nullcontext(None)


@cli.command()
@click.option("-s", "--subject", help="Only drafts of this subject.")
@click.option("--status", type=click.Choice(["ok", "warnings", "errors"]), help="Only drafts with this status.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable queue.")
@click.pass_obj
def review(obj: Ctx, subject, status, as_json):
    """List the drafts waiting for review, with validation status and lint findings."""
    from .review import queue

    with _open_index(obj) as index:
        items = queue(obj.config, index, subject=subject, status=status)
    if as_json:
        click.echo(json.dumps([i.as_json() for i in items], indent=1, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(items)} draft(s) waiting", show_lines=False)
    for col in ("file", "subject", "question", "words", "status", "lint"):
        table.add_column(col, overflow="fold")
    style = {"ok": "green", "warnings": "yellow", "errors": "red"}
    for i in items:
        p = i.page
        table.add_row(i.path.name, p.subject if p else "?", p.question if p else "(unreadable)", str(i.words),
                      f"[{style[i.status]}]{i.status}[/]", str(len(i.findings)))
    Console().print(table)


@cli.command()
@click.argument("draft_name", metavar="DRAFT")
@click.pass_obj
def show(obj: Ctx, draft_name):
    """Show a draft as a reader sees it, with its SEO fields, url and lint findings."""
    from rich.console import Console
    from rich.markdown import Markdown
    from rich.panel import Panel

    from .review import assess, resolve

    path = resolve(obj.config, draft_name)
    with _open_index(obj) as index:
        item = assess(obj.config, path, index)
    console = Console()
    p = item.page
    if p is None:
        console.print(f"{path}: unreadable: {item.errors[0] if item.errors else ''}")
        sys.exit(1)
    console.print(Panel(f"[bold]{p.question}[/]\n{p.subject} · id {p.id} · {p.date} · {p.url}"))
    console.print(Markdown(p.decoded_answer()))
    console.print(f"\n[bold]description[/] ({len(p.seo.page_description)} chars): {p.seo.page_description}")
    console.print(f"[bold]keywords[/]: {p.seo.page_keywords}")
    for n, art in enumerate(p.related, 1):
        console.print(f"[bold]related {n}[/]: {art.title} ({art.subject}) {art.url}")
    console.print(f"[bold]status[/]: {item.status}, {item.words} words")
    for line in item.errors + item.warnings:
        console.print(f"  - {line}", markup=False)


@cli.command()
@click.argument("drafts", nargs=-1, metavar="DRAFT...")
@click.option("--all-clean", is_flag=True, help="Approve every draft with no error and no warning.")
@click.option("--allow-warnings", is_flag=True, help="Approve drafts that have warnings (never errors).")
@click.option("--no-commit", is_flag=True, help="Only place the files in the content tree.")
@click.pass_obj
def approve(obj: Ctx, drafts, all_clean, allow_warnings, no_commit):
    """Publish drafts: validate, lint, move into the content tree and commit them, all in one commit."""
    from .review import OK, approve as do_approve, queue, resolve

    if not drafts and not all_clean:
        raise click.UsageError("name the drafts to approve, or use --all-clean")
    with _open_index(obj) as index:
        paths = [resolve(obj.config, d) for d in drafts]
        if all_clean:
            paths += [i.path for i in queue(obj.config, index, status=OK) if i.path not in paths]
        if not paths:
            obj.info("nothing to approve")
            return
        result = do_approve(obj.config, paths, index=index, allow_warnings=allow_warnings, commit=not no_commit)
        index.refresh()
    for path in result.placed:
        click.echo(str(path))
    obj.info(f"approved {len(result.placed)} draft(s)" + (f" in commit {result.commit[:12]}" if result.commit else
                                                          " (not committed)"))


@cli.command()
@click.argument("draft_name", metavar="DRAFT")
@click.option("--reason", required=True, help="Why it is rejected (kept beside the file).")
@click.pass_obj
def reject(obj: Ctx, draft_name, reason):
    """Move a draft to drafts/rejected/ with the reason; a later draft of it needs --force."""
    from .review import reject as do_reject, resolve

    target = do_reject(obj.config, resolve(obj.config, draft_name), reason)
    click.echo(str(target))


@cli.command()
@click.argument("draft_name", metavar="DRAFT")
@click.option("--feedback", required=True, help="What the reviewer wants changed.")
@click.pass_obj
def regenerate(obj: Ctx, draft_name, feedback):
    """Ask the model again with the previous answer and FEEDBACK; keeps id, slug, date and related."""
    from . import draft as drafting
    from .backend import open_client
    from .prompts import Prompts
    from .reader import read
    from .review import regenerated, resolve, save_checked
    from .text import clean_line

    config = obj.config
    path = resolve(config, draft_name)
    page = read(path)
    feedback = clean_line(feedback)
    if not feedback:
        raise click.UsageError("--feedback: say what should change")
    p = drafting.plan(config, page.question, page.subject, force=True)
    prompt = Prompts(config.prompts).build(
        question=p.question, subject=p.subject, subject_slug=p.subject_slug,
        settings=drafting.prompt_settings(config), user_template="regenerate.j2",
        extra={"feedback": feedback, "previous_answer": page.decoded_answer()})
    with open_client(config, notify=obj.info, on_wait=lambda s, why: obj.info(f"retrying in {s:.1f}s: {why}")) as client:
        completion = client.complete(prompt.messages())
    new, notes = regenerated(config, page, completion)
    save_checked(config, path, new)
    for note in notes:
        obj.info(f"note: {note}")
    click.echo(str(path))
    obj.info(f"regenerated; previous version kept (qtgen diff {path.name}); {completion.usage.total} tokens; "
             f"model {completion.model}")


@cli.command()
@click.argument("draft_name", metavar="DRAFT")
@click.pass_obj
def diff(obj: Ctx, draft_name):
    """Show what changed since the previous version of a draft (after regenerate or edit)."""
    from .review import diff as do_diff, resolve

    out = do_diff(obj.config, resolve(obj.config, draft_name))
    click.echo(out if out else "no change")


@cli.command()
@click.argument("draft_name", metavar="DRAFT")
@click.pass_obj
def edit(obj: Ctx, draft_name):
    """Open $EDITOR on the decoded answer and SEO fields; saved back in the exact format if valid."""
    import subprocess
    import tempfile

    from .reader import read
    from .review import env_editor, from_editable, resolve, save_checked, to_editable

    path = resolve(obj.config, draft_name)
    page = read(path)
    with tempfile.TemporaryDirectory(prefix="qtgen-edit-") as tmp:
        work = Path(tmp) / (path.stem + ".edit.md")
        work.write_text(to_editable(page), encoding="utf-8")
        try:
            rc = subprocess.call([*env_editor(), str(work)])
        except FileNotFoundError:
            raise click.UsageError(f"editor {env_editor()[0]!r} not found: set EDITOR") from None
        if rc != 0:
            raise click.ClickException(f"editor exited with {rc}; nothing saved")
        new = from_editable(page, work.read_text(encoding="utf-8"))
    if new is None:
        obj.info("edit cancelled; nothing saved")
        return
    if new == page:
        obj.info("no change")
        return
    save_checked(obj.config, path, new)
    click.echo(str(path))


@cli.command()
@click.pass_obj
def schema(obj: Ctx):
    """Print the page model as JSON Schema."""
    from .page import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


def main() -> None:
    import signal

    # SIGTERM unwinds like Ctrl-C, so that servers we started are stopped and temp files removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: (_ for _ in ()).throw(KeyboardInterrupt()))
    cli(prog_name="qtgen")


if __name__ == "__main__":
    main()
