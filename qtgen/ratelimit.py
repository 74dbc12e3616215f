"""A client-side limiter shared by every worker of a batch: requests and tokens per minute.

Requests are spaced evenly at the configured rate so a run sits just under the provider's limit
instead of bouncing off it; a 429 pauses the whole run for the time the server asked and lowers the
rate, which then recovers step by step as requests succeed.
"""

from __future__ import annotations

import threading
import time


class RateLimiter:
    def __init__(self, rpm: float | None = None, tpm: float | None = None, tokens_per_request: int = 1500,
                 clock=time.monotonic, sleep=time.sleep):
        self.rpm = rpm
        self.tpm = tpm
        self.tokens_per_request = tokens_per_request
        self.factor = 1.0  # lowered by 429s, recovers on success
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._next = clock()
        self._paused_until = 0.0
        self._tokens = float(tpm or 0)
        self._tokens_at = clock()
        self.throttled = 0

    def _interval(self) -> float:
        return 60.0 / (self.rpm * self.factor) if self.rpm else 0.0

    def acquire(self) -> None:
        """Block until this worker may send one request."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next, self._paused_until)
            self._next = start + self._interval()
            if self.tpm:
                self._tokens = min(self.tpm, self._tokens + (start - self._tokens_at) * self.tpm / 60.0)
                self._tokens_at = start
                if self._tokens < self.tokens_per_request:
                    wait = (self.tokens_per_request - self._tokens) * 60.0 / self.tpm
                    start += wait
                    self._tokens_at = start
                    self._tokens = self.tokens_per_request
                    self._next = max(self._next, start + self._interval())
                self._tokens -= self.tokens_per_request
        delay = start - self._clock()
        if delay > 0:
            self._sleep(delay)

    def used(self, tokens: int) -> None:
        """Correct the token estimate with what a request really used."""
        if self.tpm:
            with self._lock:
                self._tokens += self.tokens_per_request - tokens

    def rate_limited(self, wait: float) -> None:
        """A 429: everyone waits `wait` seconds, and the rate drops by a fifth."""
        with self._lock:
            self.throttled += 1
            self._paused_until = max(self._paused_until, self._clock() + max(wait, 0.0))
            self.factor = max(0.2, self.factor * 0.8)

    def succeeded(self) -> None:
        with self._lock:
            self.factor = min(1.0, self.factor * 1.05)
