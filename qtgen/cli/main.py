"""The `qtgen` command: the group, its global options and error handling; each command is a module of
`qtgen.cli.commands` that parses, calls the library and presents.

Exit codes: 0 success, 1 failure (a model error, a validation error), 2 bad usage or input,
130 interrupted (Ctrl-C) or 143 terminated (SIGTERM) with work left.
Heavy imports (openai, pydantic, jinja2) happen inside commands so that `--help` starts fast.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import click

from .. import __version__
from .context import Ctx

# The signal that interrupted this process (SIGINT or SIGTERM), for the exit code.
interrupted_by: list[int] = []


def exit_code_of_interrupt() -> int:
    return 128 + (interrupted_by[-1] if interrupted_by else signal.SIGINT)


def fail(message: str, code: int, ctx_obj: Ctx | None = None) -> None:
    from ..llm.secret import SecretMask

    config = ctx_obj.loaded_config if ctx_obj is not None else None
    mask = SecretMask(config.api_key if config else os.environ.get("OPENAI_API_KEY"),
                      config.base_url if config else os.environ.get("OPENAI_BASE_URL"))
    from ..format.plaintext import one_line

    click.echo(f"qtgen: error: {one_line(mask(message))}", err=True)
    sys.exit(code)


class Group(click.Group):
    """Turns our errors into one line and an exit code instead of a traceback."""

    def invoke(self, ctx):
        from ..errors import QtgenError

        try:
            return super().invoke(ctx)
        except QtgenError as exc:
            fail(str(exc), exc.exit_code, ctx.obj)
        except KeyboardInterrupt:
            fail("interrupted" if exit_code_of_interrupt() == 130 else "terminated", exit_code_of_interrupt(), ctx.obj)
        except BrokenPipeError:
            sys.stderr.close()
            sys.exit(1)
        except click.exceptions.NoSuchOption as exc:
            if exc.ctx is not None and exc.ctx.command.name in ("draft", "prompt", "similar"):
                exc.message += " (a question that starts with '-' goes after --: qtgen draft -s SUBJECT -- QUESTION)"
            raise
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except PermissionError as exc:  # the system refused: the file or folder, and that no change went through it
            where = exc.filename or "a file"
            fail(f"{where}: permission denied; check the owner and mode of that file or folder", 1, ctx.obj)
        except Exception as exc:  # a bug of ours: still one line, the traceback on request
            if os.environ.get("QTGEN_DEBUG"):
                raise
            fail(f"internal error: {type(exc).__name__}: {exc} (set QTGEN_DEBUG=1 for the traceback)", 1, ctx.obj)


class LazyGroup(Group):
    """Loads a command's module only when that command runs; `--help` lists them from a table."""

    def list_commands(self, ctx):
        from .commands import COMMANDS

        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        import importlib

        from .commands import COMMANDS

        if name not in COMMANDS:
            return None
        if name not in self.commands:
            importlib.import_module(f"qtgen.cli.commands.{name}").register(self)
            self.commands[name].short_help = COMMANDS[name]
        return self.commands[name]

    def format_commands(self, ctx, formatter):
        from .commands import COMMANDS

        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name]) for name in sorted(COMMANDS)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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




def _on_signal(signum, frame):
    """SIGTERM (and SIGINT) unwind like Ctrl-C, so servers we started are stopped and temp files removed."""
    interrupted_by.append(signum)
    raise KeyboardInterrupt()


def main() -> None:
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        cli(prog_name="qtgen")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        _exit(code)
    _exit(0)


def _exit(code: int) -> None:
    """Exit; when the embedded V8 (KaTeX) was started, skip its teardown, which can hang under load."""
    katex = sys.modules.get("qtgen.site.katex")  # never imported just to ask

    if katex is not None and katex.started():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    main()
