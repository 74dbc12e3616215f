"""Math typeset by the real KaTeX 0.16.21 (vendored from its npm package with its licence, `vendor/katex`),
run in an embedded V8 (mini-racer), exactly as the site's rehype-katex 7.0.1 calls it: first with
`throwOnError: true`; on an error, its message is the page's error and the math is typeset again with
`strict: "ignore", throwOnError: false` (KaTeX's own red error text); if even that fails, a
`span.katex-error` holding the TeX, as rehype-katex builds it. Warnings KaTeX prints in its default
strict mode ("warn"), such as Unicode it cannot typeset in math, are kept for the lint.
"""

from __future__ import annotations

import atexit
import html
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

VENDOR = Path(__file__).resolve().parent / "vendor" / "katex"
VERSION = "0.16.21"

_SHIM = """
var __qtgenWarnings = [];
var console = {warn: function () { __qtgenWarnings.push(Array.prototype.join.call(arguments, ' ')); },
               log: function () {}, error: function () {}};
function qtgenRender(value, displayMode) {
  __qtgenWarnings = [];
  try {
    return {html: katex.renderToString(value, {displayMode: displayMode, throwOnError: true}),
            error: null, name: null, warnings: __qtgenWarnings};
  } catch (error) {
    var warnings = __qtgenWarnings, out = null;
    try {
      out = katex.renderToString(value, {displayMode: displayMode, strict: 'ignore', throwOnError: false});
    } catch (again) {
      out = null;
    }
    return {html: out, error: String(error && error.message || error), name: String(error && error.name || 'Error'),
            full: String(error), warnings: warnings};
  }
}
"""


@dataclass
class Math:
    """One math span as the site shows it."""

    tex: str
    display: bool
    html: str
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


class Katex:
    """A V8 context holding KaTeX; thread-safe (one call at a time)."""

    def __init__(self) -> None:
        from py_mini_racer import MiniRacer

        self._ctx = MiniRacer()
        self._ctx.eval(_SHIM)
        self._ctx.eval((VENDOR / "katex.min.js").read_text(encoding="utf-8"))
        self._lock = threading.Lock()

    def render(self, tex: str, display: bool) -> Math:
        with self._lock:
            out = self._ctx.call("qtgenRender", tex, display)
        warnings = [str(w) for w in (out.get("warnings") or [])]
        if out.get("html") is not None:
            return Math(tex, display, str(out["html"]), out.get("error"), warnings)
        title = html.escape(str(out.get("full") or out.get("error")), quote=True)
        fallback = f'<span class="katex-error" title="{title}" style="color:#cc0000">{html.escape(tex, quote=False)}</span>'
        return Math(tex, display, fallback, out.get("error"), warnings)


_engine: Katex | None = None
_engine_lock = threading.Lock()


def engine() -> Katex:
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = _started_apart()
            atexit.register(_shutdown)
        return _engine


def _started_apart() -> Katex:
    """KaTeX started from a thread with no event loop running: mini-racer then runs its own loop, instead of
    borrowing the caller's (the studio's server, a notebook), which would break it once that loop closes."""
    box: dict = {}

    def start() -> None:
        try:
            box["engine"] = Katex()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=start, name="qtgen-katex-start", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["engine"]


def started() -> bool:
    return _engine is not None


def _shutdown() -> None:
    """Close V8 while the interpreter is whole: closed by the garbage collector at exit, it can hang."""
    global _engine
    with _engine_lock:
        if _engine is not None:
            try:
                _engine._ctx.close()
            except Exception:  # noqa: BLE001 - at exit, nothing is left to tell
                pass
            _engine = None


@lru_cache(maxsize=4096)
def typeset(tex: str, display: bool) -> Math:
    return engine().render(tex, display)
