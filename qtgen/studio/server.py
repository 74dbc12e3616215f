"""Serving the studio: a socket bound before uvicorn starts, so port 0 works and the printed URL is right."""

from __future__ import annotations

import ipaddress
import socket
from typing import Callable

from ..config import Config
from ..errors import InputError
from .app import LOOPBACK_NAMES, Studio, create_app, new_token


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
          notify: Callable[[str], None] = lambda message: None) -> None:
    """Run the studio until Ctrl-C; `on_ready` gets a one-time login URL first (the browser, if opened, gets
    another: each sets the session cookie once and is worthless afterwards)."""
    import uvicorn

    if not is_loopback(host) and not allow_remote:
        raise InputError(f"--host {host}: not a loopback address; the studio publishes pages, so binding it "
                         "to a network needs --allow-remote")
    token = new_token()
    sock = bind(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    studio = Studio(config, token)
    hosts = (LOOPBACK_NAMES | {host}) if is_loopback(host) else None  # bound to a network: its names are unknown
    app = create_app(config, token, hosts=hosts, studio=studio)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
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
