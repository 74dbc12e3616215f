"""The parameters a chat request sends, fitted to the model and the server.

Today's OpenAI reasoning models (the gpt-5 and gpt-6 families, the o-series) refuse `max_tokens` and take
`max_completion_tokens`, which bounds the reasoning *and* the visible answer; they refuse any `temperature` but the
default; they take `reasoning_effort`. Older models and many compatible servers (older vLLM builds, gateways, Ollama)
take `max_tokens` and `temperature` and refuse the newer names.

Known families are fitted up front (so a Batch API file is right the first time: a refused line costs a day). What
a server and model refuse anyway is learned from its 400, which names the parameter (`"param": "max_tokens"`,
`"code": "unsupported_parameter"`; vLLM's `'loc': ('body', 'max_completion_tokens')` "Extra inputs are not
permitted"), kept per server and model in the user cache beside the response-format ladder, and the request is sent
again adapted, once per parameter.

`max_tokens` in the config keeps meaning the answer's length: for a reasoning model the request adds room for
reasoning at the chosen effort (REASONING_ROOM), so a draft is not cut off because reasoning ate its budget.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
DEFAULT_EFFORT = "low"
# tokens of reasoning allowed above the answer's own max_tokens, at each effort (a model's default effort when None)
REASONING_ROOM = {"none": 0, "minimal": 1024, "low": 4096, "medium": 12_000, "high": 32_000, "xhigh": 64_000,
                  "max": 100_000, None: 12_000}
_REASONING = re.compile(r"(gpt-[5-9]|o[1-9])(?:$|[.-])")
_CHAT_ONLY = re.compile(r"-chat(-latest)?$")  # gpt-5-chat-latest and its kin: chat models, not reasoning ones


def reasoning_model(model: str) -> bool:
    """Whether a model name is of a documented reasoning family (a provider prefix such as `openai/` allowed)."""
    name = (model or "").strip().lower().rsplit("/", 1)[-1]
    return bool(_REASONING.match(name)) and not _CHAT_ONLY.search(name)


@dataclass
class Fit:
    """What one server and model take, as far as known: None where nothing was learned (the family decides)."""

    reasoning: bool | None = None  # takes max_completion_tokens and reasoning_effort, the default temperature only
    tokens: str | None = None  # "max_tokens" or "max_completion_tokens", learned from a refusal
    temperature: bool | None = None  # False: refused (leave it out)
    effort: bool | None = None  # False: reasoning_effort refused (leave it out)
    refused_efforts: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: Any) -> "Fit":
        if not isinstance(data, dict):
            return cls()
        def flag(key):
            value = data.get(key)
            return value if isinstance(value, bool) else None
        tokens = data.get("tokens") if data.get("tokens") in ("max_tokens", "max_completion_tokens") else None
        refused = [e for e in data.get("refused_efforts") or [] if e in EFFORTS] if isinstance(
            data.get("refused_efforts"), list) else []
        return cls(flag("reasoning"), tokens, flag("temperature"), flag("effort"), refused)

    def as_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in (None, [])}


@dataclass
class Wanted:
    """What the caller wants of one request, before fitting."""

    model: str
    answer_tokens: int  # the visible answer's length
    temperature: float | None  # None: the server's default
    effort: str | None  # reasoning_effort for a reasoning model; None: the model's default


def is_reasoning(model: str, fit: Fit) -> bool:
    return fit.reasoning if fit.reasoning is not None else reasoning_model(model)


def fitted(wanted: Wanted, fit: Fit) -> tuple[dict, list[str]]:
    """(the parameters to send, notes on what was left out and why)."""
    notes: list[str] = []
    reasoning = is_reasoning(wanted.model, fit)
    effort = effort_for(wanted.effort, fit) if reasoning and fit.effort is not False else None
    out: dict[str, Any] = {}
    name = fit.tokens or ("max_completion_tokens" if reasoning else "max_tokens")
    room = REASONING_ROOM.get(effort if wanted.effort is not None else None, 0) if reasoning else 0
    out[name] = wanted.answer_tokens + room
    if wanted.temperature is not None:
        if fit.temperature is False or (reasoning and fit.temperature is not True):
            if wanted.temperature != 1:
                notes.append(f"temperature {wanted.temperature:g} left out: {wanted.model} takes only its default")
        else:
            out["temperature"] = wanted.temperature
    if effort is not None:
        out["reasoning_effort"] = effort
    return out, notes


def effort_for(asked: str | None, fit: Fit) -> str | None:
    """The effort to send: the one asked, or the next higher one the model has not refused (the next lower when
    every higher one was refused)."""
    if asked is None or asked not in fit.refused_efforts:
        return asked
    at = EFFORTS.index(asked)
    for candidate in EFFORTS[at + 1:] + tuple(reversed(EFFORTS[:at])):
        if candidate not in fit.refused_efforts:
            return candidate
    return None


_NAMES = ("max_completion_tokens", "max_tokens", "temperature", "reasoning_effort")
_REFUSING = re.compile(r"unsupported|not supported|not permitted|extra inputs|unrecognized|unknown (?:field|param)|"
                       r"invalid (?:param|field)|not allowed|does not support", re.I)


def learn(error: dict | None, message: str, sent: dict, fit: Fit) -> str | None:
    """Update `fit` from a 400 that refuses one of the parameters `sent`; the parameter's name, or None when the
    refusal is about something else (the caller then reports it)."""
    err = error if isinstance(error, dict) else {}
    param = err.get("param") if isinstance(err.get("param"), str) else None
    code = str(err.get("code") or "")
    text = message or ""
    if isinstance(err.get("param"), str) and err["param"].strip():
        if param not in _NAMES or param not in sent:
            return None  # the server names what it refuses, and it is nothing qtgen sent: not guessed from the text
    else:  # no param named: a parameter sent that the text refuses (not the one it says to "use ... instead")
        offered = {n for n in _NAMES if re.search(rf"\buse\s+['\"]?{n}['\"]?", text, re.I)}
        param = next((n for n in _NAMES if n in sent and n not in offered
                      and re.search(rf"['\"(\s]{n}['\")\s,]", f" {text} ") and _REFUSING.search(text)), None)
    if param is None:
        return None
    value_refused = code == "unsupported_value" or "unsupported value" in text.lower() or "does not support" in text.lower()
    if param == "max_tokens":
        fit.tokens, fit.reasoning = "max_completion_tokens", True if fit.reasoning is None else fit.reasoning
    elif param == "max_completion_tokens":
        fit.tokens = "max_tokens"
        fit.reasoning = False if fit.reasoning is None else fit.reasoning
        fit.effort = False
    elif param == "temperature":
        fit.temperature = False
    elif param == "reasoning_effort":
        effort = sent.get("reasoning_effort")
        if value_refused and effort in EFFORTS and "not supported with this model" not in text:
            if effort not in fit.refused_efforts:
                fit.refused_efforts.append(effort)
            if len(fit.refused_efforts) >= len(EFFORTS):
                fit.effort = False
        else:
            fit.effort = False
    return param
