"""Tokens a request used, as the server counted them: one reader for every reply (online, Batch API, structured).

`completion_tokens` includes the reasoning tokens (billed as output); `cached_tokens` is the part of the prompt read
from the provider's prompt cache (billed at the cached rate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0  # of completion_tokens
    cached_tokens: int = 0  # of prompt_tokens

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens,
                     self.reasoning_tokens + other.reasoning_tokens, self.cached_tokens + other.cached_tokens)

    def as_json(self) -> dict:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "reasoning_tokens": self.reasoning_tokens, "cached_tokens": self.cached_tokens}


def tokens(value: Any) -> int:
    """A server's token count as a sane integer (0 to a trillion): none, negative or absurd ones are clamped."""
    try:
        return max(0, min(int(value or 0), 10**12))
    except (TypeError, ValueError, OverflowError):
        return 0


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def read_usage(usage: Any) -> Usage:
    """The usage of a reply (the SDK's object or the JSON dict of a Batch API line); zeros where it says nothing."""
    if usage is None:
        return Usage()
    prompt, completion = tokens(_get(usage, "prompt_tokens")), tokens(_get(usage, "completion_tokens"))
    reasoning = tokens(_get(_get(usage, "completion_tokens_details"), "reasoning_tokens"))
    cached = tokens(_get(_get(usage, "prompt_tokens_details"), "cached_tokens"))
    return Usage(prompt, completion, min(reasoning, completion), min(cached, prompt))
