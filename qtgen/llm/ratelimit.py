"""Pacing requests just under the provider's limit: learned from its rate-limit headers, shared by every
worker of a run and by every qtgen process using the same server and key.

OpenAI (and gateways that copy it) sends on every answer `x-ratelimit-limit-requests`,
`x-ratelimit-remaining-requests`, `x-ratelimit-reset-requests` and the same three for tokens. The
limiter starts gently (one request until the first answer says what the limits are), then spreads the
remaining budget of each window evenly over the time to its reset, counting tokens as the provider does
(prompt tokens plus `max_tokens`). A 429 pauses every request not yet sent (those already waiting in
`acquire` included) and lowers the pace, which recovers as requests succeed. How many requests are in
flight adapts too: enough to keep the pace at the current latency, fewer after errors, never more than
`-c`. `--rpm`/`--tpm` stay as upper bounds; a server without the headers is paced by them and by 429s.

The budget lives in a small lock-protected JSON file in the cache folder, keyed by the server, the
model and a hash of the key (never the key), so two runs at once share it instead of doubling the 429s.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import QtgenError
from ..locks import open_lock_file

MAX_PAUSE = 600.0  # the longest a 429 pauses everyone, whatever the server asks
DEFAULT_429_PAUSE = 1.0  # seconds, when a 429 says nothing of when to come back
ROLL_SLACK = 0.02  # seconds past a window's reset before its budget is taken as renewed
MAX_RESET = 3600.0  # a reset further away than this is not a pacing window
MAX_WAIT = 600.0  # a stored schedule further ahead than this is stale (a clock change, a bad header)
PROBE_AFTER = 120.0  # waiting this long on a budget that still allows nothing: forget it, one request re-learns it
SAY_AFTER = 2.0  # a wait on the budget longer than this is said on the progress line
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: str | None) -> float | None:
    """OpenAI's reset durations: "1s", "6m0s", "59.9s", "20ms", "1h2m3s" (a bare number is seconds)."""
    if value is None:
        return None
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
        return None
    return sum(float(n) * _UNITS[u] for n, u in parts)


class Cancelled(Exception):
    """A request that was not sent because the run is stopping."""


@dataclass
class Limits:
    """What one answer's headers said, for requests and for tokens."""

    limit_requests: float | None = None
    remaining_requests: float | None = None
    reset_requests: float | None = None
    limit_tokens: float | None = None
    remaining_tokens: float | None = None
    reset_tokens: float | None = None

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.limit_requests, self.limit_tokens, self.remaining_requests,
                                           self.remaining_tokens))

    def as_json(self) -> dict:
        return asdict(self)


def read_limits(headers: Any) -> Limits:
    if headers is None:
        return Limits()

    def number(name: str) -> float | None:
        try:
            value = headers.get(name)
            out = None if value in (None, "") else float(value)
        except (TypeError, ValueError):
            return None
        return out if out is not None and math.isfinite(out) and 0 <= out < 1e12 else None

    def reset(name: str) -> float | None:
        value = parse_duration(headers.get(name))
        # an epoch timestamp or days: not a window qtgen can pace by (a 429 still pauses)
        return value if value is not None and value <= MAX_RESET else None

    def triple(kind: str) -> tuple:
        limit = number(f"x-ratelimit-limit-{kind}")
        remaining = number(f"x-ratelimit-remaining-{kind}")
        if limit is None and remaining is not None:
            # Azure OpenAI sends only what remains, of a budget that renews each minute: the most seen is the limit
            return None, remaining, reset(f"x-ratelimit-reset-{kind}")
        if not limit:  # a limit of 0 would stop all traffic for ever: a gateway's placeholder, not a limit
            return None, None, None
        return limit, remaining, reset(f"x-ratelimit-reset-{kind}")

    return Limits(*triple("requests"), *triple("tokens"))


AZURE_WINDOW = 60.0  # seconds: Azure OpenAI's quotas are per minute


def retry_wait(headers: Any) -> float | None:
    """When a 429 says the budget is back: Azure's `x-rate-limit-reset-tokens` (seconds), if sent."""
    if headers is None:
        return None
    value = parse_duration(headers.get("x-rate-limit-reset-tokens"))
    return value if value is not None and value <= MAX_RESET else None


@dataclass
class Window:
    """One of the provider's budgets (requests or tokens) as far as we know it."""

    limit: float | None = None
    remaining: float | None = None
    reset_at: float | None = None
    length: float | None = None  # the longest reset seen: the window's length

    @property
    def known(self) -> bool:
        return self.limit is not None and self.remaining is not None and self.reset_at is not None

    def roll(self, now: float) -> None:
        """A window whose reset has passed starts again with its whole budget."""
        if not self.known or now < self.reset_at + ROLL_SLACK:
            return
        length = self.length or 1.0
        if now - self.reset_at > 10 * length:
            self.reset_at = now + length
        while self.reset_at + ROLL_SLACK <= now:
            self.reset_at += length
        self.remaining = self.limit

    def observe(self, limit: float | None, remaining: float | None, reset: float | None, now: float) -> None:
        if limit is None or remaining is None or reset is None or limit <= 0:
            return
        reset_at = now + reset
        self.length = max(self.length or 0.0, reset, 0.001)
        self.limit = limit
        if self.reset_at is None or self.remaining is None or reset_at > self.reset_at + self.length / 2:
            self.remaining, self.reset_at = remaining, reset_at  # a window we had not seen yet
        elif reset_at + ROLL_SLACK < now or reset_at < self.reset_at - self.length / 2:
            return  # an answer from a window that has ended
        else:
            self.remaining = min(self.remaining, remaining)  # the same window: others may have spent some
            self.reset_at = reset_at

    def forget(self) -> None:
        self.limit = self.remaining = self.reset_at = None

    def wait(self, now: float, cost: float, factor: float) -> float:
        """Seconds until `cost` may be spent, spreading what remains evenly up to the reset."""
        if not self.known:
            return 0.0
        if self.limit < cost:  # a whole window could never pay for it: not a budget to wait for
            return 0.0
        if self.remaining < cost:
            return max(0.0, self.reset_at + ROLL_SLACK - now)
        return 0.0

    def interval(self, now: float, cost: float, factor: float) -> float:
        """The gap to leave after spending `cost` now, so the rest lasts until the reset."""
        if not self.known or cost <= 0:
            return 0.0
        left = max(self.reset_at - now, 0.0)
        fits = self.remaining / cost
        return left / max(fits * factor, 1.0) if fits >= 1 else left


@dataclass
class Budget:
    """The pace shared by every worker and process using one server and key."""

    requests: Window = field(default_factory=Window)
    tokens: Window = field(default_factory=Window)
    next_at: float = 0.0
    paused_until: float = 0.0
    factor: float = 1.0
    headerless: bool = False

    @property
    def learned(self) -> bool:
        return self.requests.known or self.tokens.known

    @classmethod
    def from_json(cls, data) -> "Budget":
        """A budget read back, or a fresh one if the file holds anything else."""
        def window(value) -> Window:
            if not isinstance(value, dict):
                return Window()
            fields = {}
            for key in ("limit", "remaining", "reset_at", "length"):
                v = value.get(key)
                fields[key] = float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None
            if fields["limit"] is not None and fields["limit"] <= 0:
                return Window()  # a budget that allows nothing (written by an older qtgen): unknown
            return Window(**fields)

        if not isinstance(data, dict):
            return cls()
        try:
            budget = cls(window(data.get("requests")), window(data.get("tokens")), float(data.get("next_at", 0.0)),
                         float(data.get("paused_until", 0.0)), float(data.get("factor", 1.0)),
                         bool(data.get("headerless", False)))
        except (TypeError, ValueError):
            return cls()
        if not all(math.isfinite(x) for x in (budget.next_at, budget.paused_until, budget.factor)):
            return cls()
        budget.factor = min(1.0, max(0.2, budget.factor))
        return budget


class LocalStore:
    """A budget for this process alone."""

    def __init__(self) -> None:
        self.budget = Budget()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def update(self) -> Iterator[Budget]:
        with self._lock:
            yield self.budget


class FileStore:
    """A budget shared across processes: a JSON file read and written under an exclusive lock."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._fallback = Budget()

    @contextlib.contextmanager
    def update(self) -> Iterator[Budget]:
        with self._lock:
            try:  # never through a symlink or a hard link: the budget is written into this file
                fh = open_lock_file(self.path)
            except (OSError, QtgenError):  # the cache is unusable: pace this process alone rather than fail
                yield self._fallback
                return
            with fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    fh.seek(0)
                    try:
                        budget = Budget.from_json(json.loads(fh.read() or "{}"))
                    except ValueError:
                        budget = Budget()
                    before = asdict(budget)
                    yield budget
                    after = asdict(budget)
                    if after != before:
                        fh.seek(0)
                        fh.truncate()
                        fh.write(json.dumps(after))
                        fh.flush()
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)


def shared_store(server: str, api_key: str | None, cache_dir: Path | None = None) -> FileStore:
    """The budget file for a server (URL without credentials, and model) and a key, named by hashes only."""
    base = cache_dir or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qtgen"
    key_hash = hashlib.sha256((api_key or "").encode()).hexdigest()
    name = hashlib.sha256(f"{server}\n{key_hash}".encode()).hexdigest()[:24]
    return FileStore(base / "limits" / f"{name}.json")


class RateLimiter:
    def __init__(self, rpm: float | None = None, tpm: float | None = None, tokens_per_request: int = 1500,
                 concurrency: int | None = None, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] | None = None, store: LocalStore | FileStore | None = None):
        self.rpm = rpm
        self.tpm = tpm
        self.tokens_per_request = tokens_per_request
        self.concurrency = concurrency  # None: no cap of our own (one request at a time until limits are known)
        self.factor = 1.0  # our own pace under --rpm, lowered by 429s, recovers on success
        self._clock = clock
        self._cond = threading.Condition()
        self._sleep = sleep or self._wait
        self.store = store or LocalStore()
        self._next = clock()
        self._tokens = float(tpm or 0)
        self._tokens_at = clock()
        self.in_flight = 0
        self.cap = 1 if concurrency else None
        self._latency: float | None = None
        self.throttled = 0
        self.paused_until = 0.0
        self.cancelled = False
        self.waiting = ""  # what a worker waits for now, for the progress line ("" when nothing)
        self._waiting_since: float | None = None

    # -- waiting -------------------------------------------------------------------------------
    def _wait(self, seconds: float) -> None:
        """Sleep, but wake early when a 429 or a finished request changes the schedule."""
        with self._cond:
            self._cond.wait(timeout=seconds)

    def _user_wait(self, now: float, tokens: float) -> float:
        """Seconds until --rpm/--tpm allow one more request (the caller holds the lock)."""
        if now < self.paused_until:
            return self.paused_until - now
        if now < self._next:
            return self._next - now
        if self.tpm:
            self._tokens = min(self.tpm, self._tokens + (now - self._tokens_at) * self.tpm / 60.0)
            self._tokens_at = now
            if self._tokens < tokens:
                return (tokens - self._tokens) * 60.0 / self.tpm
        return 0.0

    def _cap(self, budget: Budget) -> int | None:
        """How many requests may be in flight: one until the limits are known, then enough for the pace."""
        if self.concurrency is None:
            return None
        if budget.headerless:
            return self.cap or self.concurrency
        if not budget.learned:
            return 1
        return self.cap or self.concurrency

    def cancel(self) -> None:
        """Stop: every worker waiting in `acquire` (and any later) raises Cancelled instead of sending."""
        with self._cond:
            self.cancelled = True
            self._cond.notify_all()

    def acquire(self, tokens: float | None = None) -> None:
        """Block until this worker may send one request costing `tokens` (prompt + max_tokens)."""
        cost = float(tokens if tokens is not None else self.tokens_per_request)
        while True:
            if self.cancelled:
                raise Cancelled("the run is stopping; not sent")
            with self._cond:
                now = self._clock()
                delay = self._user_wait(now, cost)
                if delay <= 0:
                    with self.store.update() as budget:
                        if budget.next_at - now > MAX_WAIT or budget.paused_until - now > MAX_WAIT:
                            budget.next_at = budget.paused_until = now  # stale: not a pace to keep
                        for window in (budget.requests, budget.tokens):
                            if window.reset_at is not None and window.reset_at - now > MAX_RESET:
                                window.reset_at, window.remaining = None, None
                        budget.requests.roll(now)
                        budget.tokens.roll(now)
                        windows = max(budget.requests.wait(now, 1, budget.factor),
                                      budget.tokens.wait(now, cost, budget.factor))
                        if windows > 0 and self._waiting_since is not None and now - self._waiting_since > PROBE_AFTER:
                            # still nothing allowed after a long wait: the stored budget is stale or wrong;
                            # forget it, and the next answer's headers say what the server allows now
                            budget.requests.forget()
                            budget.tokens.forget()
                            windows = 0.0
                        delay = max(budget.paused_until - now, budget.next_at - now, windows)
                        cap = self._cap(budget)
                        if delay <= 0 and (cap is None or self.in_flight < cap):
                            self._spend(budget, now, cost)
                            self.waiting, self._waiting_since = "", None
                            return
                        if delay > SAY_AFTER:
                            why = ("paused after a 429" if budget.paused_until - now >= delay else
                                   "the server's request budget is spent" if budget.requests.wait(now, 1, 1.0) >= delay
                                   else "the server's token budget is spent" if windows >= delay
                                   else "pacing to the server's limits")
                            self.waiting = f"waiting {delay:.0f}s: {why}"
                        if self._waiting_since is None:
                            self._waiting_since = now
                if delay <= 0:
                    self._cond.wait(timeout=0.25)  # at the cap: until a request finishes
                    continue
            self._sleep(min(delay, 1.0))

    def _spend(self, budget: Budget, now: float, cost: float) -> None:
        gap = max(budget.requests.interval(now, 1, budget.factor), budget.tokens.interval(now, cost, budget.factor))
        if budget.requests.known:
            budget.requests.remaining -= 1
        if budget.tokens.known:
            budget.tokens.remaining -= cost
        budget.next_at = max(budget.next_at, now + gap)
        self._next = now + (60.0 / (self.rpm * self.factor) if self.rpm else 0.0)
        if self.tpm:
            self._tokens -= cost
        self.in_flight += 1

    # -- what the server said ------------------------------------------------------------------
    def observe(self, headers: Any) -> Limits:
        """Learn from an answer's rate-limit headers (success or error alike)."""
        limits = read_limits(headers)
        now = self._clock()
        with self._cond, self.store.update() as budget:
            if limits.any:
                budget.headerless = False
                for window, limit, remaining, reset in (
                        (budget.requests, limits.limit_requests, limits.remaining_requests, limits.reset_requests),
                        (budget.tokens, limits.limit_tokens, limits.remaining_tokens, limits.reset_tokens)):
                    if limit is None and remaining is not None:  # Azure: remaining only, of a per-minute budget
                        limit = max(window.limit or 0.0, remaining)
                        reset = reset if reset is not None else (
                            max(0.0, window.reset_at - now) if window.known and window.reset_at > now else AZURE_WINDOW)
                    window.observe(limit, remaining, reset, now)
            elif not budget.learned:
                budget.headerless = True
            self._cond.notify_all()
        return limits

    def release(self, latency: float | None = None, ok: bool = True) -> None:
        """A request this process sent has finished; adapt how many may be in flight."""
        with self._cond:
            self.in_flight = max(0, self.in_flight - 1)
            if latency is not None and ok:
                self._latency = latency if self._latency is None else 0.8 * self._latency + 0.2 * latency
            if self.concurrency is not None:
                with self.store.update() as budget:
                    if ok:
                        self.cap = min(self.concurrency, max(self._wanted(budget), 1))
                    else:  # errors: fewer in flight
                        self.cap = max(1, (self.cap or self.concurrency) // 2)
            self._cond.notify_all()

    def _wanted(self, budget: Budget) -> int:
        """In flight needed to keep the pace at the current latency, with a little room."""
        if budget.headerless or not budget.learned:
            return self.concurrency or 1
        rates = []
        for window, per in ((budget.requests, 1.0), (budget.tokens, float(self.tokens_per_request))):
            if window.known and window.length:
                rates.append(window.limit / per / window.length)
        if self.rpm:
            rates.append(self.rpm / 60.0)
        rate = min(rates) if rates else 1.0
        return math.ceil(rate * budget.factor * (self._latency or 1.0) * 1.5) + 1

    def used(self, tokens: int) -> None:
        """Correct the --tpm estimate with what a request really used."""
        if self.tpm:
            with self._cond:
                self._tokens += self.tokens_per_request - tokens

    def rate_limited(self, wait: float | None, headers: Any = None) -> None:
        """A 429: every request not yet sent, here and in other processes, waits; the pace drops a fifth."""
        limits = read_limits(headers)
        if wait is None:
            wait = retry_wait(headers)
        if wait is None:
            resets = [r for r in (limits.reset_requests, limits.reset_tokens) if r]
            wait = min(resets) if resets else DEFAULT_429_PAUSE
        wait = min(wait, MAX_PAUSE) if wait == wait else DEFAULT_429_PAUSE  # never inf, never NaN
        now = self._clock()
        with self._cond:
            self.throttled += 1
            self.paused_until = max(self.paused_until, now + max(wait, 0.0))
            self.factor = max(0.2, self.factor * 0.8)
            with self.store.update() as budget:
                budget.paused_until = max(budget.paused_until, now + max(wait, 0.0))
                budget.factor = max(0.2, budget.factor * 0.8)
            if self.concurrency is not None:
                self.cap = max(1, (self.cap or self.concurrency) // 2)
            self._cond.notify_all()

    def succeeded(self) -> None:
        with self._cond:
            self.factor = min(1.0, self.factor * 1.05)
            with self.store.update() as budget:
                budget.factor = min(1.0, budget.factor * 1.05)
