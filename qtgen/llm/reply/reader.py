"""Reading a chat completion, however it came (online, or a Batch API output line): the answer and its fields,
decoded first and then masked (an escaped key is a key too), the usage billed (a reply without usage is counted at
its bound), and what the model refused, a filter stopped or max_tokens cut off."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..failures import ModelRefused
from .fields import Retryable, Unparseable, close_truncated_json, fields_from, parse_json_reply, shorten
from .tidy import tidy_plain
from .usage import Usage, read_usage

_MODEL_NAME = re.compile(r"[\w.:/@+-]{1,100}")  # what a served model's name may be


@dataclass
class Completion:
    """What the model returned for one question, already parsed; `usage` counts every attempt (what was billed)."""

    answer: str
    page_description: str | None
    page_keywords: list[str] | str | None
    model: str
    mode: str
    usage: Usage = field(default_factory=Usage)
    attempts: int = 1
    latency: float = 0.0
    notes: list[str] = field(default_factory=list)
    provenance: dict | None = None  # what made it (qtgen.publishing.provenance), set by whoever asked


class ReplyReader:
    """How ChatClient reads a reply (a mixin: it uses the client's settings, mask and memory of the last request)."""

    def _choice(self, response) -> tuple[Any, Any, Usage]:
        """(message, finish_reason, usage) of a chat completion; Retryable/Unparseable when it is none, ModelRefused
        when the model declined or a content filter stopped it."""
        if not hasattr(response, "choices"):  # a 200 that is not JSON: a proxy's login page, a gateway's error
            shown = shorten(self.mask(response), 80) if isinstance(response, str) else type(response).__name__
            raise Retryable(f"the server answered 200 without a JSON completion: {shown!r}")
        usage = read_usage(getattr(response, "usage", None))
        if getattr(response, "usage", None) is None and getattr(self._sent, "bound", None):
            chars, bound = self._sent.bound  # a server that counts nothing is counted at what it may have billed
            usage = Usage(chars // 3 + 1, bound)
            self.say_once(f"{self.public_url} reported no token usage: each reply is counted at its bound ({bound} "
                          "tokens out) for costs and --max-cost")
        if self.limiter is not None:
            self.limiter.succeeded()
        try:
            choices = list(response.choices or [])
        except TypeError:
            choices = []
        if not choices:
            raise Unparseable("reply has no choices", usage=usage)
        choice = choices[0]
        message = getattr(choice, "message", None)
        if message is None or not isinstance(getattr(message, "content", None), (str, type(None))):
            raise Unparseable("reply is not a chat completion (no message text)", usage=usage)
        refusal = getattr(message, "refusal", None)
        if refusal:
            raise ModelRefused(f"the model refused: {shorten(self.mask.clean(str(refusal)))}", usage=usage)
        if choice.finish_reason == "content_filter":
            raise ModelRefused("the model refused: the answer was stopped by the server's content filter", usage=usage)
        if choice.finish_reason == "length" and not (message.content or "").strip():
            raise ModelRefused(self._spent_budget(usage), usage=usage)
        return message, choice.finish_reason, usage

    def _spent_budget(self, usage: Usage) -> str:
        if usage.reasoning_tokens:
            return (f"the budget went to reasoning: {usage.reasoning_tokens} of {usage.completion_tokens} tokens were "
                    f"reasoning and no answer was left (effort {self.settings.reasoning_effort or 'default'}); lower "
                    "reasoning_effort (--reasoning-effort) or raise max_tokens")
        return f"the reply was cut off at max_tokens={self.settings.max_tokens} before any answer; raise max_tokens"

    def read_body(self, body: Any, mode: str | None) -> Completion:
        """A chat completion that came back some other way (a Batch API output line) read exactly as an
        online reply is; Unparseable or LLMError if it is not a usable answer."""
        from openai.types.chat import ChatCompletion

        if not isinstance(body, dict):
            raise Unparseable("the result is not a chat completion object")
        try:
            response = ChatCompletion.model_validate(body)
        except ValueError as exc:
            raise Unparseable(f"the result is not a chat completion ({shorten(self.mask(str(exc)), 120)})") from None
        return self._read_plain(response) if mode is None else self._read(response, mode)

    def read_json_body(self, body: Any) -> tuple[dict, Usage]:
        """A structured reply that came back some other way (a Batch API line): (the object, masked; its usage),
        read as `ask_json` reads one; Unparseable or ModelRefused otherwise."""
        from openai.types.chat import ChatCompletion

        if not isinstance(body, dict):
            raise Unparseable("the batch's answer holds no chat completion")
        try:
            response = ChatCompletion.model_validate(body)
        except (Unparseable, ValueError, RecursionError) as exc:  # every attempt's usage counts
            raise Unparseable(f"the batch's answer is not a chat completion ({shorten(self.mask(str(exc)), 120)})") from None
        message, finish, usage = self._choice(response)
        if finish == "length":
            raise ModelRefused("the reply was cut off (finish_reason 'length')" + (
                f" after {usage.reasoning_tokens} tokens of reasoning" if usage.reasoning_tokens else ""), usage=usage)
        try:
            return self._masked(parse_json_reply(message.content or "")), usage
        except (Unparseable, ValueError, RecursionError) as exc:  # every attempt's usage counts
            raise Unparseable(f"the reply is not the JSON asked for ({shorten(self.mask(str(exc)), 80)})",
                              usage=usage) from None

    def _read_plain(self, response) -> Completion:
        message, finish, usage = self._choice(response)
        text = self.mask.known(message.content or "")
        if not text.strip():
            raise Unparseable("empty reply", usage=usage)
        notes = []
        answer, removed = tidy_plain(text, cut_last=finish == "length")
        if finish == "length":
            notes.append(f"answer: cut off at max_tokens={self.settings.max_tokens}; kept whole sentences")
        if removed:
            notes.append(f"answer: removed {removed}")
        if not answer:
            raise Unparseable("the reply holds no usable answer", usage=usage)
        return Completion(answer, None, None, self._served(response), "plain", usage, notes=notes)

    def _read(self, response, mode: str) -> Completion:
        message, finish, usage = self._choice(response)
        if finish == "length" and self.settings.bounded:
            return self._salvage(message.content, response, mode, usage)
        if finish == "length":
            raise ModelRefused(
                f"the answer was cut off at max_tokens={self.settings.max_tokens} (finish_reason 'length')"
                + (f" after {usage.reasoning_tokens} tokens of reasoning; lower reasoning_effort or raise max_tokens"
                   if usage.reasoning_tokens else "; raise max_tokens"), usage=usage)
        try:
            data = parse_json_reply(message.content or "")
            answer, desc, kws = fields_from(data)
        except Unparseable as exc:
            raise Unparseable(str(exc), usage=usage) from None
        answer, desc, kws = self._masked(answer), self._masked(desc), self._masked(kws)
        return Completion(answer, desc, kws, self._served(response), mode, usage)

    def _served(self, response) -> str:
        """The model the server says answered, if it reads as a model name holding no secret (a gateway may echo
        the key or the URL's password there); else the model asked for."""
        reported = getattr(response, "model", None)
        if (isinstance(reported, str) and _MODEL_NAME.fullmatch(reported) and self.mask.clean(reported) == reported
                and not any(secret[i:i + 12] in reported for secret in self.mask.secrets
                            for i in range(max(0, len(secret) - 11)))):  # nor a long piece of one
            return reported
        return self.settings.model

    def _masked(self, value: Any) -> Any:
        """A value decoded from a reply with every known secret masked (JSON escapes such as \\u0073k- are decoded
        before this, so an escaped key is caught too)."""
        return self.mask.value(value)

    def _salvage(self, content: str | None, response, mode: str, usage: Usage) -> Completion:
        """A reply cut off inside the answer (which comes last): keep its whole sentences."""
        data = close_truncated_json(content or "")
        if data is None:
            raise Unparseable("reply cut off at max_tokens before the answer began", usage=usage)
        answer, desc, kws = fields_from(data)
        answer, desc, kws = self._masked(answer), self._masked(desc), self._masked(kws)
        cut = max(answer.rfind(". "), answer.rfind(".\n"), answer.rfind("\n\n"))
        answer = answer[: cut + 1] if cut > len(answer) // 2 else answer
        completion = Completion(answer.strip(), desc, kws, self._served(response), mode, usage)
        completion.notes.append(f"answer: cut off at max_tokens={self.settings.max_tokens}; kept whole sentences")
        return completion
