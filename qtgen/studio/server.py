"""Serving the studio: a socket bound before uvicorn starts, so port 0 works and the printed URL is right."""

from __future__ import annotations

import ipaddress
import socket
from typing import Callable

from ..config import Config
from ..errors import InputError
from .app import LOOPBACK_NAMES, Studio, create_app


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InputError(f"--host {host} --port {port}: cannot listen there ({exc.strerror})") from None
    sock.listen(128)
    return sock


READY_WAIT = 30.0  # seconds the studio may take to warm up before it gives its address anyway


def serve(config: Config, host: str = "127.0.0.1", port: int = 8765, *, allow_remote: bool = False,
          on_ready: Callable[[str], None] = print, open_browser: bool = True,
          notify: Callable[[str], None] = lambda message: None, trusted_proxies: tuple[str, ...] = (),
          names: tuple[str, ...] = ()) -> None:
    """Run the studio until Ctrl-C; `on_ready` gets a one-time login URL first (the browser, if opened, gets
    another: each sets the session cookie once and is worthless afterwards).

    Behind a TLS reverse proxy: `trusted_proxies` are the addresses whose X-Forwarded-Proto and X-Forwarded-For are
    believed (so cookies are Secure and login limits count the real client), `names` the public host names the
    proxy serves the studio under (with --allow-remote, the only names then served)."""
    import uvicorn

    if not is_loopback(host) and not allow_remote:
        raise InputError(f"--host {host}: not a loopback address; the studio publishes pages, so binding it "
                         "to a network needs --allow-remote")
    for address in trusted_proxies:
        try:
            ipaddress.ip_network(address, strict=False)
        except ValueError:
            raise InputError(f"--trusted-proxy {address}: not an IP address or network") from None
    for name in names:
        if not name or any(c in name for c in "/:@ \t") or len(name) > 253:
            raise InputError(f"--hostname {name}: not a host name (give the name alone, without a port)")
    sock = bind(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    studio = Studio(config)
    if is_loopback(host):
        hosts = LOOPBACK_NAMES | {host}
    else:  # bound to a network: its names are unknown, unless given
        hosts = frozenset() if names else None
    app = create_app(config, hosts=hosts, names=frozenset(names), studio=studio)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                           proxy_headers=bool(trusted_proxies),
                                           forwarded_allow_ips=",".join(trusted_proxies) or None))
    base = f"http://{shown}:{bound}/"
    studio.warm()  # the first page ready when the browser opens (however long the warm-up, not over READY_WAIT)
    if not studio.ready(timeout=1.0):
        notify("reading the site index and the review queue before the first page...")
        studio.ready(timeout=READY_WAIT - 1.0)
    on_ready(f"{base}?login={studio.new_login()}")  # each login URL works once: the cookie keeps the session
    if open_browser:
        import webbrowser

        webbrowser.open(f"{base}?login={studio.new_login()}")
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
