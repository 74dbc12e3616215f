"""The results file of a batch (or of another engine's run): one line per request, in any order, each read as the
reply the online lane would have had, or as why the request was not run."""

from __future__ import annotations

import json
from dataclasses import dataclass


NOT_RUN = ("batch_expired", "batch_cancelled")  # error lines of requests a batch never ran


@dataclass
class Result:
    """One line of an output or error file."""

    ok: bool
    body: object = None  # the chat completion, if ok
    error: str = ""
    code: str | None = None

    @property
    def not_run(self) -> bool:
        return self.code in NOT_RUN


def parse_results(data: bytes) -> tuple[dict[str, Result], list[tuple[int, str]]]:
    """custom_id -> its Result, and (line, why) of the lines that could not be read.

    Lines are those of OpenAI's output and error files, and of vLLM's run-batch output:
    `{"custom_id", "response": {"status_code", "body"}, "error": {"code", "message"}}`.
    """
    found: dict[str, Result] = {}
    bad: list[tuple[int, str]] = []
    for n, raw in enumerate(data.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except (ValueError, RecursionError):
            bad.append((n, "not JSON"))
            continue
        if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
            bad.append((n, "no custom_id"))
            continue
        try:
            found[line["custom_id"]] = _result(line)
        except Exception as exc:  # a shape no engine should write: reported, never a crash
            bad.append((n, f"unreadable result ({type(exc).__name__})"))
    return found, bad


def _result(line: dict) -> Result:
    response = line.get("response") if isinstance(line.get("response"), dict) else {}
    error = line.get("error")
    status, body = response.get("status_code"), response.get("body")
    if error:
        message = str(error.get("message") or "") if isinstance(error, dict) else str(error)
        code = error.get("code") if isinstance(error, dict) else None
        code = str(code) if code is not None else None
        # not shortened here: a secret must be masked whole (the caller masks, then shortens)
        return Result(False, error=f"{code + ': ' if code else ''}{message}" or "an error without a message", code=code)
    if status == 200 and isinstance(body, dict):
        return Result(True, body=body)
    detail = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        detail = body["error"].get("message")
    return Result(False, error=f"status {status}: {detail or 'no usable response'}")
