"""`qtgen studio [serve]|invite|team|revoke`: the review queue in a browser, for a team."""

from __future__ import annotations

import click

from ..context import Ctx, command, verbs


def register(cli: click.Group) -> None:
    @verbs(cli, "studio", default="serve")
    def studio():
        """The review queue in a browser, for a team: `qtgen studio` serves it; `invite NAME EMAIL --role
        writer|publisher` makes a one-time invitation link; `team` lists the accounts; `revoke NAME` ends one."""

    @command(studio, "serve", short_help="Serve the studio (the default).")
    @click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
    @click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
                  help="Port (0: any free one).")
    @click.option("--no-open", is_flag=True, help="Do not open a browser.")
    @click.option("--allow-remote", is_flag=True, help="Allow a non-loopback --host (serve it behind a TLS proxy: "
                                                      "docs/how-to/team.md).")
    @click.option("--trusted-proxy", "trusted_proxies", multiple=True, metavar="ADDRESS",
                  help="A reverse proxy's address (or network) whose X-Forwarded-Proto/-For are believed: cookies "
                       "are then Secure over its HTTPS. Repeatable.")
    @click.option("--hostname", "names", multiple=True, metavar="NAME",
                  help="A public host name the proxy serves the studio under (with --allow-remote, the only names "
                       "served). Repeatable.")
    @click.pass_obj
    def serve(obj: Ctx, host, port, no_open, allow_remote, trusted_proxies, names):
        """Review drafts in a browser: the site's rendering, search preview, findings, versions; approve,
        reject, regenerate, edit; upload question lists. Prints a one-time login URL for you first (it works
        once; the browser keeps the session); the people you invite log in with their own passwords. Ctrl-C
        stops it."""
        from ...studio.server import serve as serve_studio

        def ready(url: str) -> None:
            click.echo(url)
            obj.info("studio running; the login URL above works once; Ctrl-C stops it")

        try:
            serve_studio(obj.config, host, port, allow_remote=allow_remote, on_ready=ready, open_browser=not no_open,
                         notify=obj.info, trusted_proxies=trusted_proxies, names=names)
        except KeyboardInterrupt:  # Ctrl-C is how a studio is stopped: not an error
            pass
        obj.info("studio stopped")

    @command(studio, "invite", short_help="Invite someone: prints their one-time link.")
    @click.argument("name")
    @click.argument("email")
    @click.option("--role", type=click.Choice(["writer", "publisher"]), required=True,
                  help="writer: drafts, regenerates, edits, rejects; publisher: also approves and publishes lots.")
    @click.option("--url", default="http://127.0.0.1:8765/", show_default=True,
                  help="The studio's address as the invited person reaches it (the proxy's, behind one).")
    @click.pass_obj
    def invite(obj: Ctx, name, email, role, url):
        """Invite NAME (EMAIL) to the studio: prints the invitation URL on a line of its own (it works once, for 72
        hours; its page sets that person's password)."""
        from ...team.accounts import AccountStore
        from ...team.person import local

        if not url.startswith(("http://", "https://")):
            raise click.BadParameter(f"{url}: give the studio's address, http(s)://host:port/", param_hint="--url")
        with AccountStore(obj.config) as store:
            code = store.invite(name, email, role, local(obj.config))
        click.echo(f"{url.rstrip('/')}/invite/{code}")
        obj.info(f"invitation for {name} ({role}); send the link above over a private channel: it works once")

    @command(studio, "team", short_help="List the studio's accounts.")
    @click.pass_obj
    def team(obj: Ctx):
        """List the accounts: name, e-mail, role, sessions open."""
        from ...format.plaintext import one_line
        from ...team.accounts import AccountStore

        with AccountStore(obj.config) as store:
            accounts = store.accounts()
            for a in accounts:
                click.echo(f"{one_line(a.name)}\t{one_line(a.email)}\t{a.role}{' (owner)' if a.owner else ''}\t"
                           f"{store.sessions_of(a.key)} session(s)")
        if not accounts:
            obj.info("no account yet: qtgen studio invite NAME EMAIL --role writer makes one")

    @command(studio, "revoke", short_help="End an account: logged out everywhere at once.")
    @click.argument("name")
    @click.pass_obj
    def revoke(obj: Ctx, name):
        """Revoke NAME's account: its sessions end now and its invitations stop working (invite them again to
        give it back)."""
        from ...team.accounts import AccountStore

        with AccountStore(obj.config) as store:
            account = store.revoke(name)
        obj.info(f"{account.name}: revoked, logged out everywhere")
