"""How OpenAI's API treats today's models, for the test server: written from OpenAI's documentation and the error
bodies it sends (the installed SDK's `chat_model.py` lists the models; its params' docstrings say what reasoning
models take).

- The gpt-5 and gpt-6 families and the o-series are reasoning models: `max_tokens` is refused
  (`unsupported_parameter`), `max_completion_tokens` bounds reasoning and answer together, any `temperature` but
  the default 1 is refused (`unsupported_value`), `reasoning_effort` takes the values the model supports.
- Reasoning is spent first, inside `max_completion_tokens`; a budget it eats ends with `finish_reason: "length"` and
  an empty or partial answer. Usage reports `completion_tokens_details.reasoning_tokens` (billed as output) and
  `prompt_tokens_details.cached_tokens`.
- Answers name the dated model (`gpt-6-luna-2026-09-22` for `gpt-6-luna`).
- An exhausted quota is a 429 with `"code": "insufficient_quota"`.
"""

from __future__ import annotations

import re

REASONING = re.compile(r"^(gpt-5|gpt-6|o[1-9])")
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
# reasoning tokens the test server spends at each effort (on any question)
SPENT = {"none": 0, "minimal": 48, "low": 256, "medium": 1024, "high": 3072, "xhigh": 6144, "max": 12000}
SNAPSHOT = "2026-09-22"  # the date the test server's dated names carry

QUOTA_MESSAGE = ("You exceeded your current quota, please check your plan and billing details. For more information "
                 "on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.")


def reasoning(model: str) -> bool:
    return bool(REASONING.match(model or ""))


def efforts_of(model: str) -> tuple[str, ...]:
    """The reasoning_effort values a model takes (the test server's reading of OpenAI's model pages)."""
    if model.startswith("o"):
        return ("low", "medium", "high")
    if re.match(r"^gpt-5(-mini|-nano)?(-\d{4}-\d\d-\d\d)?$", model):
        return ("minimal", "low", "medium", "high")
    if model.startswith("gpt-5"):
        return ("none", "low", "medium", "high", "xhigh")
    return ("none", "low", "medium", "high", "xhigh", "max")


def default_effort(model: str) -> str:
    return "none" if "none" in efforts_of(model) else "medium"


def dated(model: str) -> str:
    """The name an answer carries: the dated snapshot of a current model, any other name as asked."""
    if reasoning(model) and not re.search(r"-\d{4}-\d\d-\d\d$", model):
        return f"{model}-{SNAPSHOT}"
    return model


def error(message: str, param: str | None, code: str | None, kind: str = "invalid_request_error") -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def refusal(body: dict, model: str | None = None) -> tuple[int, dict] | None:
    """OpenAI's 400 for a request body the model does not take (the first thing wrong, as OpenAI reports it)."""
    model = model or body.get("model") or ""
    if not reasoning(model):
        if "reasoning_effort" in body:
            return 400, error(f"Unsupported parameter: 'reasoning_effort' is not supported with this model.",
                              "reasoning_effort", "unsupported_parameter")
        return None
    if "max_tokens" in body:
        return 400, error("Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                          "'max_completion_tokens' instead.", "max_tokens", "unsupported_parameter")
    if "temperature" in body and body["temperature"] != 1:
        return 400, error(f"Unsupported value: 'temperature' does not support {body['temperature']} with this model. "
                          "Only the default (1) value is supported.", "temperature", "unsupported_value")
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in efforts_of(model):
        allowed = efforts_of(model)
        said = ", ".join(f"'{e}'" for e in allowed[:-1]) + f", and '{allowed[-1]}'"
        return 400, error(f"Unsupported value: 'reasoning_effort' does not support '{effort}' with this model. "
                          f"Supported values are: {said}.", "reasoning_effort", "unsupported_value")
    return None


def spend(body: dict, content: str | None, answer_tokens: int, model: str | None = None,
          spent: dict | None = None) -> tuple[str | None, str, int]:
    """(content, finish_reason, reasoning tokens) of a reasoning model's answer under its max_completion_tokens:
    reasoning first, then as much of the answer as the rest allows."""
    model = model or body.get("model") or ""
    effort = body.get("reasoning_effort") or default_effort(model)
    thought = {**SPENT, **(spent or {})}.get(effort, 1024)
    budget = body.get("max_completion_tokens")
    if budget is None or thought + answer_tokens <= budget:
        return content, "stop", thought
    if budget <= thought:
        return "", "length", budget
    room = budget - thought
    return (content or "")[: room * 4], "length", thought
