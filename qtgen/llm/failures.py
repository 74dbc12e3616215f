"""What a server's failure means, for every request qtgen sends (chat completions, files, batches): the one mapping
of what is worth another attempt and what stops a run, and the one retry loop.

- Retried: 429 (honouring Retry-After, and telling a shared rate limiter), 408, 409, 5xx, timeouts and dropped
  connections. An exhausted quota (`insufficient_quota`) is never retried: no retry brings credit back.
- Every message a server sends is masked (the key, credentials in a URL) before it is shown or kept.
- Retries are ours (tenacity; the SDK's are off so they don't stack), with exponential backoff and jitter.
"""

from __future__ import annotations

import random
import time
from typing import Any, Callable

from ..errors import LLMError
from .reply.fields import Retryable, Unparseable, shorten
from .reply.usage import Usage


class QuotaExhausted(LLMError):
    """The account's quota is used up (429 `insufficient_quota`): nothing more can be sent until it is topped up."""


class ModelRefused(LLMError):
    """The model declined, was stopped by a content filter, or spent its whole budget: asking again changes
    nothing."""


def retry_after(headers: Any) -> float | None:
    """Seconds the server asked us to wait (`retry-after-ms` or `retry-after`), if it said."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def detail_of(exc, mask) -> str:
    """The server's message, on one line, with every secret masked."""
    body = getattr(exc, "body", None)
    msg = None
    if isinstance(body, dict):
        err = body.get("error")
        msg = err.get("message") if isinstance(err, dict) else body.get("message")
    return shorten(mask(msg or getattr(exc, "message", None) or str(exc)))


def is_quota(exc) -> bool:
    """Whether a 429 says the account's quota is used up (not a rate limit)."""
    body = getattr(exc, "body", None)
    err = body.get("error", body) if isinstance(body, dict) else {}
    err = err if isinstance(err, dict) else {}
    return "insufficient_quota" in (str(err.get("code")), str(err.get("type")), str(getattr(exc, "code", "")))


def transient(exc, *, where: str, mask, timeout: float, wait_max: float, limiter=None,
              conflicts: bool = True) -> Exception | None:
    """The one mapping of an SDK error to what qtgen does next: Retryable (worth another attempt, with the wait the
    server asked for), QuotaExhausted (stop at once), or None (the caller says what was refused). A 409 is retried
    for a chat request (as the SDK does: a lock contention) but not with `conflicts=False` (a file or batch call,
    where 409 says the batch is in a state that refuses the call, which no retry changes)."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return Retryable(f"no answer within {timeout:g}s (timeout)")
    if isinstance(exc, openai.APIConnectionError):
        return Retryable(mask(f"connection failed: {exc.__cause__ or exc}"))
    if not isinstance(exc, openai.APIStatusError):
        return None
    status, detail = exc.status_code, detail_of(exc, mask)
    if status == 429 and is_quota(exc):
        return QuotaExhausted(f"{where}: the account's quota is exhausted (429 insufficient_quota): {detail}; add "
                              "credit or raise the limit, then run again")
    if status == 429:
        from .ratelimit import retry_wait

        wait = retry_after(exc.response.headers)
        wait = wait if wait is not None else retry_wait(exc.response.headers)
        if wait is not None:  # a server asking for hours (or inf) waits at most wait_max, like a retry
            wait = min(float(wait), wait_max) if wait == wait else None
        if limiter is not None:  # every request not yet sent waits, on the last attempt too
            limiter.rate_limited(wait, exc.response.headers)
        return Retryable(f"rate limited (429): {detail}", wait, 429)
    if status == 408 or (status == 409 and conflicts) or status >= 500:  # as the SDK itself retries
        return Retryable(f"server error ({status}): {detail}", retry_after(exc.response.headers), status)
    return None


def retried(attempt: Callable[[], Any], settings, on_wait: Callable[[float, Exception], None] | None = None
            ) -> tuple[Any, int, Usage]:
    """The one retry loop: attempt() until it succeeds, retrying Retryable failures with backoff (or the wait the
    server asked for); (its result, attempts, the usage of the attempts that failed). LLMError once the retries are
    spent, carrying that usage; any other failure at once."""
    from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt

    def wait(state) -> float:
        asked = getattr(state.outcome.exception(), "wait", None)
        if asked is not None:
            return min(settings.retry_wait_max, max(asked, 0.0))
        base = settings.retry_wait * (2 ** (state.attempt_number - 1))
        return min(settings.retry_wait_max, base) * (0.5 + random.random() / 2)

    def before_sleep(state) -> None:
        if on_wait is not None:
            on_wait(state.upcoming_sleep, state.outcome.exception())

    attempts, failed = 0, Usage()
    retrying = Retrying(retry=retry_if_exception_type(Retryable), stop=stop_after_attempt(settings.retries + 1),
                        wait=wait, before_sleep=before_sleep, reraise=False)
    try:
        for state in retrying:
            with state:
                attempts += 1
                try:
                    result = attempt()
                except (Retryable, LLMError) as exc:
                    failed = failed + (getattr(exc, "usage", None) or Usage())
                    raise
    except RetryError as exc:
        last = exc.last_attempt.exception()
        what = "the model's output was unusable" if isinstance(last, Unparseable) else "the request failed"
        raise LLMError(f"{what} after {attempts} attempts: {last}", usage=failed) from None
    except LLMError as exc:
        exc.usage = failed
        raise
    return result, attempts, failed
