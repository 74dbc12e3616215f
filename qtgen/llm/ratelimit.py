"""A client-side limiter shared by every worker of a batch: requests and tokens per minute.

Requests are spaced evenly at the configured rate so a run sits just under the provider's limit
instead of bouncing off it. A 429 pauses every request not yet sent, those already waiting in
`acquire` included (a waiting worker re-checks the pause before it goes), and lowers the rate, which
then recovers step by step as requests succeed.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

DEFAULT_429_PAUSE = 1.0  # seconds, when a 429 says nothing of when to come back


class RateLimiter:
    def __init__(self, rpm: float | None = None, tpm: float | None = None, tokens_per_request: int = 1500,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] | None = None):
        self.rpm = rpm
        self.tpm = tpm
        self.tokens_per_request = tokens_per_request
        self.factor = 1.0  # lowered by 429s, recovers on success
        self._clock = clock
        self._cond = threading.Condition()
        self._sleep = sleep or self._wait
        self._next = clock()
        self._paused_until = 0.0
        self._tokens = float(tpm or 0)
        self._tokens_at = clock()
        self.throttled = 0

    def _interval(self) -> float:
        return 60.0 / (self.rpm * self.factor) if self.rpm else 0.0

    def _wait(self, seconds: float) -> None:
        """Sleep, but wake early when a 429 changes the schedule."""
        with self._cond:
            self._cond.wait(timeout=seconds)

    def _ready_in(self, now: float) -> float:
        """Seconds until one request may go (0: take it now). Called under the lock."""
        if now < self._paused_until:
            return self._paused_until - now
        if now < self._next:
            return self._next - now
        if self.tpm:
            self._tokens = min(self.tpm, self._tokens + (now - self._tokens_at) * self.tpm / 60.0)
            self._tokens_at = now
            if self._tokens < self.tokens_per_request:
                return (self.tokens_per_request - self._tokens) * 60.0 / self.tpm
        return 0.0

    def acquire(self) -> None:
        """Block until this worker may send one request; a pause set meanwhile is honoured."""
        while True:
            with self._cond:
                now = self._clock()
                delay = self._ready_in(now)
                if delay <= 0:
                    self._next = now + self._interval()
                    if self.tpm:
                        self._tokens -= self.tokens_per_request
                    return
            self._sleep(min(delay, 1.0))

    def used(self, tokens: int) -> None:
        """Correct the token estimate with what a request really used."""
        if self.tpm:
            with self._cond:
                self._tokens += self.tokens_per_request - tokens

    def rate_limited(self, wait: float | None) -> None:
        """A 429: every request not yet sent waits `wait` seconds, and the rate drops by a fifth."""
        with self._cond:
            self.throttled += 1
            pause = DEFAULT_429_PAUSE if wait is None else max(wait, 0.0)
            self._paused_until = max(self._paused_until, self._clock() + pause)
            self.factor = max(0.2, self.factor * 0.8)
            self._cond.notify_all()

    def succeeded(self) -> None:
        with self._cond:
            self.factor = min(1.0, self.factor * 1.05)

    @property
    def paused_until(self) -> float:
        return self._paused_until
