"""Math typeset by the real KaTeX 0.16.21 (vendored from its npm package with its licence, `vendor/katex`),
run in an embedded V8 (mini-racer), exactly as the site's rehype-katex 7.0.1 calls it: first with
`throwOnError: true`; on an error, its message is the page's error and the math is typeset again with
`strict: "ignore", throwOnError: false` (KaTeX's own red error text); if even that fails, a
`span.katex-error` holding the TeX, as rehype-katex builds it. Warnings KaTeX prints in its default
strict mode ("warn"), such as Unicode it cannot typeset in math, are kept for the lint.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import html
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

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
function qtgenRenderMany(items) {
  return items.map(function (item) { return qtgenRender(item[0], item[1]); });
}
// what qtgenRender finds, without the markup: renderToString is renderToDomTree(...).toMarkup()
function qtgenCheckMany(items) {
  return items.map(function (item) {
    if (item[0].length > 1000) {  // deep enough to overflow V8's stack in toMarkup alone: typeset it whole
      var whole = qtgenRender(item[0], item[1]);
      return [whole.error, whole.warnings];
    }
    __qtgenWarnings = [];
    try {
      katex.__renderToDomTree(item[0], {displayMode: item[1], throwOnError: true});
      return [null, __qtgenWarnings];
    } catch (error) {
      return [String(error && error.message || error), __qtgenWarnings];
    }
  });
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


@dataclass(frozen=True)
class Checked:
    """What KaTeX says of a span, without its markup: the error of a span it cannot typeset, and its warnings."""

    error: str | None
    warnings: list[str]


class Katex:
    """KaTeX in a V8 context that one thread of its own owns: thread-safe (calls wait their turn on that thread).

    mini-racer 0.14 binds a context to the asyncio loop running where it is made, and 0.13 to none. The context is
    made, used and closed only inside a loop this class runs in its own thread, so no caller's loop (the studio's
    server, a notebook, `asyncio.run`) can take it away by closing, and every call runs on the loop it is bound to
    (under 0.14 that is mini-racer's synchronous path; under 0.13 there is nothing to bind)."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="qtgen-katex", daemon=True)
        self._thread.start()
        try:
            self._ctx = self._on_own_thread(self._start)
        except BaseException:
            self._stop_loop()
            raise

    # -- the owning thread ------------------------------------------------------------------------
    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    @staticmethod
    def _start():
        from py_mini_racer import MiniRacer

        ctx = MiniRacer()
        ctx.eval(_SHIM)
        ctx.eval((VENDOR / "katex.min.js").read_text(encoding="utf-8"))
        return ctx

    def _on_own_thread(self, fn, *args):
        """fn(*args) run on the owning thread's loop; its result, or its exception raised here."""
        if threading.current_thread() is self._thread:
            return fn(*args)
        done: concurrent.futures.Future = concurrent.futures.Future()

        def job() -> None:
            if not done.set_running_or_notify_cancel():
                return
            try:
                done.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                done.set_exception(exc)

        try:
            self._loop.call_soon_threadsafe(job)
        except RuntimeError:  # the loop was closed (at exit)
            raise RuntimeError("KaTeX was stopped (the interpreter is exiting)") from None
        return done.result()

    def _call(self, name: str, items: list):
        return self._on_own_thread(lambda: self._ctx.call(name, items))

    def close(self) -> None:
        """Close V8 on its own thread, then end that thread (idempotent)."""
        if self._loop.is_closed():
            return
        try:
            self._on_own_thread(self._ctx.close)
        except Exception:  # noqa: BLE001 - closing is best effort
            pass
        self._stop_loop()

    def _stop_loop(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._loop.stop)
        except RuntimeError:
            return
        self._thread.join(timeout=10)

    # -- typesetting -------------------------------------------------------------------------------
    def render(self, tex: str, display: bool) -> Math:
        return self.render_many([(tex, display)])[0]

    def render_many(self, items: list[tuple[str, bool]]) -> list[Math]:
        """Each (tex, display) typeset, in one call into V8 (a call costs about half a millisecond whatever it
        carries: many spans at once cost little more than their typesetting)."""
        if not items:
            return []
        outs = self._call("qtgenRenderMany", [[tex, bool(display)] for tex, display in items])
        return [self._math(tex, display, out) for (tex, display), out in zip(items, outs)]

    def check_many(self, items: list[tuple[str, bool]]) -> list[Checked]:
        """What `render_many` finds of each (its error and warnings), without building the markup: a third of
        the work."""
        if not items:
            return []
        outs = self._call("qtgenCheckMany", [[tex, bool(display)] for tex, display in items])
        return [Checked(None if error is None else str(error), [str(w) for w in (warnings or [])])
                for error, warnings in outs]

    @staticmethod
    def _math(tex: str, display: bool, out) -> Math:
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
            _engine = Katex()
            atexit.register(_shutdown)
        return _engine


def started() -> bool:
    return _engine is not None


def _shutdown() -> None:
    """Close V8 while the interpreter is whole: closed by the garbage collector at exit, it can hang or crash."""
    global _engine
    with _engine_lock:
        if _engine is not None:
            _engine.close()
            _engine = None


_CACHE_SIZE = 8192
_cache: OrderedDict[tuple[str, bool], Math] = OrderedDict()  # the spans typeset last (many pages share a formula)
_cache_lock = threading.Lock()
_AT_ONCE = 256  # spans carried by one call into V8


_checked: OrderedDict[tuple[str, bool], Checked] = OrderedDict()


def check_many(items: Iterable[tuple[str, bool]]) -> list[Checked]:
    """`typeset_many`'s error and warnings of each (tex, display), for a lint that needs no markup."""

    def typeset_lately(key):
        math = _cache.get(key)
        return None if math is None else Checked(math.error, math.warnings)

    return _kept(_checked, items, lambda part: engine().check_many(part), typeset_lately)


def typeset(tex: str, display: bool) -> Math:
    return typeset_many([(tex, display)])[0]


def typeset_many(items: Iterable[tuple[str, bool]]) -> list[Math]:
    """Each (tex, display) typeset: those not typeset lately in as few calls into V8 as their number allows."""
    return _kept(_cache, items, lambda part: engine().render_many(part))


def _kept(cache: OrderedDict, items: Iterable[tuple[str, bool]], compute, elsewhere=lambda key: None) -> list:
    """Each item's value from `cache` (or found `elsewhere`), the others computed _AT_ONCE at a time and kept; the
    cache holds the _CACHE_SIZE used last."""
    items = [(tex, bool(display)) for tex, display in items]
    found: dict = {}
    with _cache_lock:
        for key in items:
            if key in cache:
                cache.move_to_end(key)
                found[key] = cache[key]
            elif (value := elsewhere(key)) is not None:
                found[key] = value
    missing = list(dict.fromkeys(key for key in items if key not in found))
    for start in range(0, len(missing), _AT_ONCE):
        part = missing[start:start + _AT_ONCE]
        done = compute(part)
        with _cache_lock:
            for key, value in zip(part, done):
                found[key] = cache[key] = value
            while len(cache) > _CACHE_SIZE:
                cache.popitem(last=False)
    return [found[key] for key in items]
