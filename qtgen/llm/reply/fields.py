"""Replies read: the JSON object in a model's reply (bare, fenced or wrapped in chatter), a reply cut off inside its
last string closed, the page fields under the names models drift to."""

from __future__ import annotations

import json
import re
from typing import Any


class Retryable(Exception):
    """A failure worth another attempt; carries the wait the server asked for, if any."""

    def __init__(self, message: str, wait: float | None = None, status: int | None = None, usage=None):
        super().__init__(message)
        self.wait = wait
        self.status = status
        self.usage = usage  # what the attempt was billed, if a reply came (qtgen.llm.reply.usage.Usage)


class Unparseable(Retryable):
    """The model answered, but not with the JSON asked for."""


_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")


def parse_json_reply(content: str | None) -> dict:
    """The JSON object in a reply: bare, fenced, or surrounded by chatter."""
    text = (content or "").strip()
    if not text:
        raise Unparseable("empty reply")
    text = _FENCE.sub("", text).strip()
    try:
        data = json.loads(text, strict=False)  # small models put raw newlines inside strings
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        if start < 0 or end <= start:
            raise Unparseable("reply holds no JSON object") from None
        try:
            data = json.loads(text[start : end + 1], strict=False)
        except json.JSONDecodeError as exc:
            raise Unparseable(f"reply is not valid JSON ({exc.msg}, character {exc.pos})") from None
    if not isinstance(data, dict):
        raise Unparseable("reply JSON is not an object")
    return data


_OPEN_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{0,3})?$")


def close_truncated_json(text: str) -> dict | None:
    """The object in a reply cut off inside its last string value, closed; None if it cannot be."""
    text = _OPEN_ESCAPE.sub("", text.rstrip())
    for suffix in ('"}', "}", '"]}', "]}"):
        try:
            data = json.loads(text + suffix, strict=False)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict):
            return data
    return None


def _pick(data: dict, *names: str) -> Any:
    lowered = {str(k).lower(): v for k, v in data.items()}
    for name in names:
        if name in lowered and lowered[name] not in (None, "", []):
            return lowered[name]
    return None


def fields_from(data: dict) -> tuple[str, Any, Any]:
    """answer, description, keywords, accepting the names models commonly drift to."""
    answer = _pick(data, "answer", "content", "text", "body")
    if not isinstance(answer, str) or not answer.strip():
        raise Unparseable("reply JSON has no 'answer' text")
    desc = _pick(data, "page_description", "description", "meta_description", "seo_description", "summary")
    kws = _pick(data, "page_keywords", "keywords", "seo_keywords", "tags")
    return answer, (desc if isinstance(desc, str) else None), kws


def shorten(text: str, limit: int = 200) -> str:
    """One line of at most `limit` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
