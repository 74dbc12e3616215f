"""What every command shares: the loaded config, quiet mode, and the options any command takes."""

from __future__ import annotations

import re
from pathlib import Path

import click


class Ctx:
    def __init__(self, config_file: Path | None, quiet: bool, overrides: dict):
        self.config_file = config_file
        self.quiet = quiet
        self.overrides = overrides
        self._config = None

    @property
    def config(self):
        if self._config is None:
            from ..config import load

            config = load(self.config_file).with_overrides(**self.overrides)
            from ..checks.lint import check_settings

            check_settings(config)
            self._config = config
            self._recover(config)
        return self._config

    def _recover(self, config) -> None:
        """An approval a killed qtgen left half done is finished (or undone) before anything else, saying which."""
        from ..errors import QtgenError
        from ..publishing.recovery import recover

        try:
            for message in recover(config):
                click.echo(f"qtgen: {message}", err=True)
        except QtgenError as exc:
            click.echo(f"qtgen: warning: {exc}", err=True)

    @property
    def loaded_config(self):
        """The config if a command loaded it (for masking its key in a last error line)."""
        return self._config

    def info(self, message: str) -> None:
        """A line for the user on stderr, as text: no control character (no terminal escape) gets through."""
        if not self.quiet:
            from ..format.plaintext import printable

            click.echo(printable(message), err=True)

    def retrying(self, seconds: float, why: Exception) -> None:
        self.info(f"retrying in {seconds:.1f}s: {why}")


def _quiet(ctx: click.Context, param, value: bool) -> None:
    if value and ctx.obj is not None:
        ctx.obj.quiet = True


quiet_option = click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=_quiet, is_eager=True,
                            help="Print only results and errors.")


def _effort(ctx: click.Context, param, value: str | None) -> None:
    if value is not None and ctx.obj is not None:
        ctx.obj.overrides["reasoning_effort"] = value


def _effort_option(hidden: bool = False):
    return click.option(
        "--reasoning-effort", type=click.Choice(["none", "minimal", "low", "medium", "high", "xhigh", "max", "default"]),
        expose_value=False, callback=_effort, is_eager=True, hidden=hidden,
        help="Reasoning models (gpt-5, gpt-6, o-series): how hard to think, within room added to max_tokens "
             "(config reasoning_effort; default low; 'default': the model's own).")


effort_option = _effort_option()
hidden_effort_option = _effort_option(hidden=True)  # for a verb whose earlier form asked a model


def verbs(group: click.Group, name: str, default: str, **kwargs):
    """A command whose verbs are subcommands (`qtgen batch run|resume|cancel|export|import`). Anything that names no
    verb goes to the `default` one, so the forms of earlier releases (`qtgen batch FILE --resume`) keep working."""
    from click_default_group import DefaultGroup

    return group.group(name, cls=DefaultGroup, default=default, default_if_no_args=True, **kwargs)


class _AsItsGroup(click.Context):
    """A hidden default verb's context: usage and error hints name the group (`qtgen audit`), not the verb."""

    @property
    def command_path(self) -> str:
        return self.parent.command_path if self.parent is not None else super().command_path


class EarlierForm(click.Command):
    """A hidden verb that keeps a command's form of the release before (`qtgen audit LOT --drop`)."""

    context_class = _AsItsGroup

    def __init__(self, *args, **kwargs):
        kwargs["hidden"] = True
        super().__init__(*args, **kwargs)


def hidden(*param_decls, **attrs):
    """An option kept from an earlier release's form (a verb that was a flag): it works, and help no longer lists it."""
    return click.option(*param_decls, hidden=True, **attrs)


def given(ctx: click.Context, names) -> dict:
    """The options of `names` the user typed (not left at their defaults)."""
    from click.core import ParameterSource

    return {k: ctx.params[k] for k in names if ctx.get_parameter_source(k) == ParameterSource.COMMANDLINE}


def command(group: click.Group, *args, **kwargs):
    """A subcommand that also takes -q/--quiet after its name."""
    def decorate(fn):
        return group.command(*args, **kwargs)(quiet_option(fn))
    return decorate


_OPTION_LIKE = re.compile(r"^(--[A-Za-z][\w-]*(=.*)?|-[A-Za-z]+)$", re.S)


class QuestionCommand(click.Command):
    """Takes a QUESTION that starts with '-' (such as "-1 times -1?") as the question, not an option;
    the value of an option (`-s "-1 Algebra"`, `--id -3`) stays that option's value."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            return super().parse_args(ctx, args)
        takes_value = {name for p in self.params if isinstance(p, click.Option) and not p.is_flag and not p.count
                       for name in p.opts}
        kept, loose, i = [], [], 0
        while i < len(args):
            arg = args[i]
            if arg in takes_value:
                kept += args[i: i + 2]
                i += 2
                continue
            if arg.startswith("-") and arg != "-" and not _OPTION_LIKE.match(arg):
                loose.append(arg)
            else:
                kept.append(arg)
            i += 1
        return super().parse_args(ctx, kept + (["--", *loose] if loose else []))
