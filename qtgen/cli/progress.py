"""A batch run's progress bar and summary table, shared by `qtgen batch` and `qtgen revise --regenerate`."""

from __future__ import annotations

from .context import Ctx


def run_with_progress(obj: Ctx, job, prepared, total: int, skipped: int):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    if obj.quiet or not console.is_terminal:
        return job.run(prepared, notify=obj.info, on_wait=obj.retrying)
    columns = [TextColumn("drafting"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
               TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("", total=total)

        def tick(runner):
            p = runner.progress
            rate = (p.done + p.failed) / max(p.elapsed, 1e-6) * 60
            bar.update(task, completed=p.done + p.failed,
                       description=f"done {p.done} failed {p.failed} skipped {skipped} · {rate:.0f}/min · "
                                   f"{p.tokens_in + p.tokens_out:,} tok · ${p.cost:.4f}"
                                   + (f" · {runner.limiter.throttled}x429" if runner.limiter.throttled else ""))

        return job.run(prepared, tick=tick, notify=obj.info, on_wait=obj.retrying)


def print_summary(obj: Ctx, summary, progress, resume: str = "qtgen batch --resume") -> None:
    from rich.console import Console
    from rich.table import Table

    if obj.quiet:
        return
    table = Table(title=f"run {summary.run_id}: {summary.status}")
    for col in ("done", "failed", "skipped", "invalid", "left", "tokens in", "tokens out", "cost"):
        table.add_column(col, justify="right")
    table.add_row(*(str(summary.counts.get(s, 0)) for s in ("done", "failed", "skipped", "invalid")), str(summary.left),
                  f"{summary.tokens_in:,}", f"{summary.tokens_out:,}", f"${summary.cost:.4f}")
    Console(stderr=True).print(table)
    if progress is not None:
        obj.info(f"this session: {progress.done} drafted, {progress.failed} failed in {progress.elapsed:.1f}s; "
                 f"{progress.throttled} rate-limit answer(s)"
                 + (f"; {progress.held} held by another run" if progress.held else "")
                 + (f"; stopped: {progress.stopped}" if progress.stopped else ""))
    for item in summary.failed[:10]:
        obj.info(f"failed: line {item.line}: {item.question}: {item.error}")
    if summary.status == "running":
        obj.info("another qtgen batch is still drafting questions of this run")
    elif summary.status != "finished":
        obj.info(f"resume with: {resume}")
