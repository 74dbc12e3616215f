"""The reference pages of `docs/`, generated from qtgen itself: every command and subcommand from the click commands'
own help, every setting from its definition in `qtgen.config` (the same definitions that check its range), every
lint rule from the rules' table. `docs/reference/*.md` hold these in cog blocks; `cog -r docs/reference/*.md`
writes them again, and the test suite fails when a page is stale.

    [[[cog from qtgen.cli.reference import commands; cog.out(commands()) ]]]
"""

from __future__ import annotations

WIDTH = 100  # the help is wrapped at this width, whatever the terminal that generates it
HELP = ["-h", "--help"]  # as qtgen's own context settings say


def _help(command, name: str, parent):
    """(its context, its help text) at a fixed width."""
    import click

    ctx = click.Context(command, info_name=name, parent=parent, terminal_width=WIDTH, max_content_width=WIDTH,
                        help_option_names=HELP)
    return ctx, command.get_help(ctx)


def commands() -> str:
    """`qtgen --help`, then each command's help, and each verb's under its command, as Markdown."""
    import click

    from .main import cli

    root = click.Context(cli, info_name="qtgen", terminal_width=WIDTH, max_content_width=WIDTH, help_option_names=HELP)
    out = ["## qtgen\n\n", "```\n" + cli.get_help(root) + "\n```\n"]
    for name in cli.list_commands(root):
        command = cli.get_command(root, name)
        if command is None or command.hidden:
            continue
        ctx, text = _help(command, name, root)
        out += [f"\n## qtgen {name}\n\n", "```\n" + text + "\n```\n"]
        if isinstance(command, click.Group):
            for verb in sorted(command.commands, key=lambda v: (v != command.default_cmd_name, v)):
                sub = command.commands[verb]
                if sub.hidden:
                    continue
                _, text = _help(sub, verb, ctx)
                out += [f"\n### qtgen {name} {verb}\n\n", "```\n" + text + "\n```\n"]
    return "".join(out)


def _cell(text: str) -> str:
    """Text for one cell of a Markdown table."""
    return text.replace("|", "\\|")


def _shown(value) -> str:
    from pathlib import Path

    if value is None:
        return "(none)"
    if isinstance(value, Path):
        return f"`\"{value}\"`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f"`\"{value}\"`"
    if isinstance(value, tuple):
        return "`[" + ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value) + "]`"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`"


def _range(meta: dict) -> str:
    low, high = meta.get("low"), meta.get("high")

    def bound(b) -> str:
        return f"`{b}`" if isinstance(b, str) else (f"{b:g}" if isinstance(b, float) else f"{b:,}")

    if low is None and high is None:
        return ""
    if high is None:
        return f"at least {bound(low)}"
    if low is None:
        return f"at most {bound(high)}"
    return f"{bound(low)} to {bound(high)}"


def configuration() -> str:
    """A table of every setting: its default, its range and what it does."""
    import dataclasses

    from ..config import ENV, settings

    env = {}
    for variable, key in ENV.items():
        env.setdefault(key, []).append(f"`{variable}`")
    rows = ["| setting | default | range | what it does |", "| --- | --- | --- | --- |"]
    for f in settings():
        if f.default is not dataclasses.MISSING:
            default = _shown(f.default)
        else:
            default = "(empty)"
        doc = f.metadata.get("doc", "")
        if f.name in env:
            doc += f" Environment: {', '.join(env[f.name])}."
        rows.append(f"| `{f.name}` | {default} | {_range(f.metadata)} | {_cell(doc)} |")
    return "\n".join(rows) + "\n"


def lint_rules() -> str:
    """A table of every lint rule: its id, name, level and what it finds."""
    from ..checks.lint import DUPLICATE, RULES

    rules = sorted([*RULES, DUPLICATE], key=lambda r: r.id)
    rows = ["| rule | name | level | what it finds |", "| --- | --- | --- | --- |"]
    rows += [f"| {r.id} | `{r.name}` | {r.level} | {_cell(r.doc)} |" for r in rules]
    return "\n".join(rows) + "\n"
