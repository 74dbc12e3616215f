"""A batch run's progress bar and summary table, shared by `qtgen batch` and `qtgen revise regenerate`."""

from __future__ import annotations

from .context import Ctx


def run_with_progress(obj: Ctx, job, prepared, total: int, skipped: int):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    if obj.quiet or not console.is_terminal:
        said = [""]

        def say(runner):  # a wait on the server's budget, said once per reason (no bar to show it on)
            why = runner.limiter.waiting.split(": ", 1)[-1] if runner.limiter.waiting else ""
            if why and why != said[0]:
                obj.info(runner.limiter.waiting)
            said[0] = why

        return job.run(prepared, tick=say, notify=obj.info, on_wait=obj.retrying)
    columns = [TextColumn("drafting"), BarColumn(bar_width=None if console.width >= 110 else 12), MofNCompleteColumn(),
               TextColumn("{task.description}"), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("", total=total)

        def tick(runner):
            p = runner.progress
            rate = (p.done + p.failed) / max(p.elapsed, 1e-6) * 60
            parts = [f"done {p.done}", f"failed {p.failed}" if p.failed else "",
                     f"skipped {skipped}" if skipped else "", f"{rate:.0f}/min", f"${p.cost:.4f}",
                     f"{runner.limiter.throttled}x429" if runner.limiter.throttled else "",
                     runner.limiter.waiting or ""]
            if console.width >= 110:  # the tokens too, where there is room: at 80 columns the line stays one line
                parts.insert(4, f"{p.tokens_in + p.tokens_out:,} tok")
            bar.update(task, completed=p.done + p.failed, description=" · ".join(x for x in parts if x))

        return job.run(prepared, tick=tick, notify=obj.info, on_wait=obj.retrying)


def print_summary(obj: Ctx, summary, progress, resume: str = "qtgen batch resume") -> None:
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
    if progress is not None and hasattr(progress, "batches_sent"):
        obj.info(f"this session: {progress.requests_sent} request(s) sent in {progress.batches_sent} batch(es); "
                 f"{progress.done} drafted, {progress.failed} failed in {progress.elapsed:.1f}s"
                 + (f"; {progress.submitted} still at the provider in {progress.batches_open} batch(es)"
                    if progress.submitted else "")
                 + (f"; {progress.waiting}" if progress.waiting else "")
                 + (f"; stopped: {progress.stopped}" if progress.stopped else ""))
    elif progress is not None:
        obj.info(f"this session: {progress.done} drafted, {progress.failed} failed in {progress.elapsed:.1f}s; "
                 f"{progress.throttled} rate-limit answer(s)"
                 + (f"; {progress.held} held by another run" if progress.held else "")
                 + (f"; stopped: {progress.stopped}" if progress.stopped else ""))
    if summary.similar:
        obj.info(f"skipped as near-duplicates: {len(summary.similar)} (each asks what another question asks; "
                 "--allow-similar drafts them)")
        for item in summary.similar[:10]:
            obj.info(f"  line {item.line}: {item.question!r}: {item.error}")
    for item in summary.invalid[:10]:
        obj.info(f"not drafted: line {item.line}: {item.question}: {item.error}")
    for item in summary.failed[:10]:
        obj.info(f"failed: line {item.line}: {item.question}: {item.error}")
    if summary.status == "running":
        obj.info("another qtgen batch is still drafting questions of this run")
    elif summary.status not in ("finished", "submitted"):
        obj.info(f"resume with: {resume}")


def follow_batches(obj: Ctx, lane, run_id: str, wait: bool):
    """A Batch API run: sent and collected once, or followed with a progress bar until done (--wait)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if not wait or obj.quiet or not console.is_terminal:
        last = [None]

        def say(lane) -> None:
            p = lane.progress
            line = (f"batches open {p.batches_open}: {p.submitted} at the provider, {p.done} drafted, "
                    f"{p.failed} failed, {p.pending} to send")
            if wait and line != last[0]:
                obj.info(line)
                last[0] = line

        return lane.run(run_id, wait=wait, tick=say)
    columns = [TextColumn("batch api"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
               TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("", total=None)

        def tick(lane) -> None:
            p = lane.progress
            bar.update(task, completed=p.done + p.failed, total=p.done + p.failed + p.submitted + p.pending,
                       description=f"{p.batches_open} batch(es) open · done {p.done} failed {p.failed} · "
                                   f"${p.cost:.4f}" + (f" · {p.waiting}" if p.waiting else ""))

        return lane.run(run_id, wait=True, tick=tick)


def exit_if_interrupted(obj: Ctx, summary, progress, resume: str = "qtgen batch resume") -> None:
    """A run stopped by Ctrl-C (or SIGTERM) says so as it is and exits 130 (143), even with nothing left."""
    import sys

    from .main import exit_code_of_interrupt

    if progress is None or not progress.interrupted:
        return
    obj.info(f"stopped by {'Ctrl-C' if exit_code_of_interrupt() == 130 else 'SIGTERM'}: "
             + (f"{summary.left} left for `{resume}`" if summary.left else "nothing was left; the run is finished"))
    sys.exit(exit_code_of_interrupt())
