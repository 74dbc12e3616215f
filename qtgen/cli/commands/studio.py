"""`qtgen studio`: the review queue in a browser."""

from __future__ import annotations

import click

from ..context import Ctx, command


def register(cli: click.Group) -> None:
    @command(cli)
    @click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
    @click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
                  help="Port (0: any free one).")
    @click.option("--no-open", is_flag=True, help="Do not open a browser.")
    @click.option("--allow-remote", is_flag=True, help="Allow a non-loopback --host (anyone on that network "
                                                      "with the URL can publish pages).")
    @click.pass_obj
    def studio(obj: Ctx, host, port, no_open, allow_remote):
        """Review drafts in a browser: the site's rendering, search preview, findings, versions; approve,
        reject, regenerate, edit. Prints a one-time login URL first (it works once; the browser keeps the
        session); Ctrl-C stops it."""
        from ...studio.server import serve

        def ready(url: str) -> None:
            click.echo(url)
            obj.info("studio running; the login URL above works once; Ctrl-C stops it")

        try:
            serve(obj.config, host, port, allow_remote=allow_remote, on_ready=ready, open_browser=not no_open,
                  notify=obj.info)
        except KeyboardInterrupt:  # Ctrl-C is how a studio is stopped: not an error
            pass
        obj.info("studio stopped")
