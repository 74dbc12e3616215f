"""Which model server a command talks to: OpenAI, a configured compatible server, or the local model.

A configured key or base URL always wins; without either, the built-in offline model is started
(if `qtgen[local]` is installed) for the whole command and stopped when it ends.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Callable, Iterator

from ..config import OPENAI_URL, Config, uses_local  # noqa: F401 - uses_local: part of this module's API
from ..errors import QtgenError
from .client import ChatClient, ClientSettings

if TYPE_CHECKING:
    from .ratelimit import RateLimiter

NO_BACKEND = (
    "no model configured: set OPENAI_API_KEY (OpenAI) or OPENAI_BASE_URL (any OpenAI-compatible server), "
    "or install the offline demo model with: pip install 'qtgen[local]'"
)


def remote_settings(config: Config) -> ClientSettings:
    return ClientSettings(
        base_url=config.base_url or OPENAI_URL,
        api_key=config.api_key,
        model=config.model,
        temperature=config.temperature,
        max_tokens=config.max_tokens,
        timeout=config.timeout,
        retries=config.retries,
        retry_wait=config.retry_wait,
        retry_wait_max=config.retry_wait_max,
        structured=config.structured is not False,
        reasoning_effort=None if config.reasoning_effort == "default" else config.reasoning_effort,
        azure_endpoint=config.azure_endpoint,
        api_version=config.api_version if config.azure_endpoint else None,
        model_of=dict(config.deployments),
    )


@contextlib.contextmanager
def open_client(config: Config, notify: Callable[[str], None] = lambda m: None,
                on_wait: Callable[[float, Exception], None] | None = None,
                limiter: "RateLimiter | None" = None) -> Iterator[ChatClient]:
    """A ChatClient for this command; starts and always stops the local server when that is used."""
    if not uses_local(config):
        yield ChatClient(remote_settings(config), on_wait=on_wait, limiter=limiter, notify=notify)
        return
    from . import local_model

    if not local_model.available(config):
        raise QtgenError(NO_BACKEND)
    with local_model.serve(config, notify) as settings:
        yield ChatClient(settings, on_wait=on_wait, limiter=limiter, notify=notify)
