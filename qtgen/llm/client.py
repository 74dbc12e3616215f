"""Chat-completions requests through the openai SDK, to OpenAI, Azure OpenAI or any compatible server: one request
path, one error mapping, one usage reader, one retry loop.

- Parameters fit the model and the server (`parameters`): reasoning models get `max_completion_tokens` with room for
  reasoning, `reasoning_effort`, and no temperature; what a server refuses anyway is learned from its 400 and the
  request sent again adapted, once per parameter (`memory.FitMemory`).
- Structured output differs by server: OpenAI and vLLM take `json_schema`; llama.cpp's server takes
  `{"type": "json_object", "schema": ...}`; others only follow the prompt. They are tried in that order, a refusal
  moves down, and what worked is remembered per server (`memory.FormatMemory`).
- What a failure means and the retry loop are `failures`' (shared with the Batch API's files and batches): 429
  honouring Retry-After, 408, 409, 5xx, timeouts and dropped connections are retried; an exhausted quota
  (`insufficient_quota`) never is. A reply is read by `reply.reader` (also for Batch API output lines).
- A `pricing.Meter` passed to `complete` or `ask_json` counts every attempt's tokens, unreadable replies included,
  and reserves what the next attempt may cost before it is sent.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from ..errors import LLMError
from . import parameters
from .memory import INSTRUCTIONS, JSON_OBJECT, JSON_SCHEMA, MODES, FitMemory, FormatMemory
from .failures import ModelRefused, detail_of, retried, transient
from .reply.fields import Retryable, Unparseable, parse_json_reply, shorten
from .reply.reader import Completion, ReplyReader
from .secret import SecretMask, public_url
from .reply.usage import Usage

if TYPE_CHECKING:
    from .pricing import Meter
    from .ratelimit import RateLimiter

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "answer": {"type": "string"},
        "page_description": {"type": "string"},
        "page_keywords": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["answer", "page_description", "page_keywords"],
    "additionalProperties": False,
}
_said: set[str] = set()  # notes said once per process (a temperature left out, a shutdown date)


def bounded_schema() -> dict:
    """The schema with caps for grammar-constrained servers (llama.cpp) and small models.

    The answer comes last, so that a reply cut off by max_tokens loses only the answer's tail
    (which `salvage` can trim to whole sentences). No maxLength on the answer: llama.cpp expands
    it into one grammar rule per character and gives up beyond a few hundred.
    """
    props = json.loads(json.dumps(ANSWER_SCHEMA["properties"]))
    props["answer"].update(minLength=600)
    props["page_description"].update(minLength=40, maxLength=240)
    props["page_keywords"].update(minItems=5, maxItems=15)
    props["page_keywords"]["items"].update(minLength=2, maxLength=40)
    order = ["page_description", "page_keywords", "answer"]
    return {**ANSWER_SCHEMA, "properties": {k: props[k] for k in order}, "required": order}


@dataclass
class ClientSettings:
    base_url: str
    api_key: str | None
    model: str
    temperature: float | None = 0.7  # None: the server's default
    max_tokens: int = 1500  # the visible answer's length; a reasoning model gets room to reason on top
    timeout: float = 120.0
    retries: int = 4
    retry_wait: float = 1.0
    retry_wait_max: float = 60.0
    extra_body: dict = field(default_factory=dict)
    bounded: bool = False  # add length caps to the schema (small local models)
    modes: tuple[str, ...] = MODES
    structured: bool = True  # False: the model writes plain Markdown; description and keywords are derived
    words: tuple[int, int] | None = None  # the answer's length to ask for, if not the default
    parts: bool = False  # a small model: the answer is asked for in three short parts (paragraph, points, summary)
    reasoning_effort: str | None = parameters.DEFAULT_EFFORT  # for reasoning models; None: the model's default
    azure_endpoint: str | None = None  # Azure OpenAI: the resource's endpoint; `model` is then a deployment
    api_version: str | None = None  # Azure OpenAI's api-version
    model_of: dict = field(default_factory=dict)  # Azure: deployment -> the model it serves (family and price)


@dataclass
class _Request:
    """One request as asked, before fitting: refitted after each refusal the server explains."""

    messages: list[dict]
    mode: str | None  # a structured-output mode, or None for plain Markdown
    response_format: dict | None
    answer_tokens: int
    temperature: float | None


class ChatClient(ReplyReader):
    """Asks one model; thread-safe, shared by every draft of a command."""

    def __init__(self, settings: ClientSettings, memory: FormatMemory | None = None,
                 on_wait: Callable[[float, Exception], None] | None = None, limiter: "RateLimiter | None" = None,
                 fits: FitMemory | None = None, notify: Callable[[str], None] | None = None):
        self.settings = settings
        self.memory = memory or FormatMemory()
        self.fits = fits or FitMemory()
        self.on_wait = on_wait  # told before each retry's sleep, with the (masked) reason
        self.limiter = limiter  # shared by every worker of a batch
        self.notify = notify or (lambda message: None)
        self.mask = SecretMask(settings.api_key, settings.azure_endpoint or settings.base_url)
        self.public_url = public_url(settings.azure_endpoint or settings.base_url)
        self.server = f"{self.public_url.rstrip('/')}#{settings.model}"  # the memories' key: no secret
        self.azure = bool(settings.azure_endpoint)
        self._sdk = None
        import threading

        self._sent = threading.local()  # this thread's last request: (prompt characters, its token bound)
        from .models import shutdown_warning

        self.say_once(shutdown_warning(self.model_name))

    @property
    def model_name(self) -> str:
        """The model asked for (Azure: the model a deployment serves, when the config says)."""
        return self.settings.model_of.get(self.settings.model, self.settings.model)

    @property
    def _client(self):
        """The SDK's client, made at the first request (importing the SDK is most of a command's start-up)."""
        if self._sdk is None:
            if self.azure:
                from openai import AzureOpenAI

                self._sdk = AzureOpenAI(azure_endpoint=self.settings.azure_endpoint, api_key=self.settings.api_key or "no-key",
                                        api_version=self.settings.api_version, max_retries=0, timeout=self.settings.timeout)
            else:
                from openai import OpenAI

                self._sdk = OpenAI(api_key=self.settings.api_key or "no-key", base_url=self.settings.base_url,
                                   max_retries=0, timeout=self.settings.timeout)
        return self._sdk

    def say_once(self, message: str | None) -> None:
        if message and message not in _said:
            _said.add(message)
            self.notify(message)

    # -- the parameters of a request -------------------------------------------------------------
    @property
    def reasoning(self) -> bool:
        return parameters.is_reasoning(self.model_name, self.fits.get(self.server))

    def _fitted(self, answer_tokens: int, temperature: float | None) -> dict:
        params, notes = parameters.fitted(parameters.Wanted(self.model_name, answer_tokens, temperature,
                                                            self.settings.reasoning_effort), self.fits.get(self.server))
        for note in notes:
            self.say_once(note)
        return params

    def _response_format(self, mode: str) -> dict | None:
        schema = bounded_schema() if self.settings.bounded else ANSWER_SCHEMA
        if mode == JSON_SCHEMA:
            return {"type": "json_schema", "json_schema": {"name": "quicktakes_page", "strict": True, "schema": ANSWER_SCHEMA}}
        if mode == JSON_OBJECT:
            return {"type": "json_object", "schema": schema}
        return None

    def _page_request(self, messages: list[dict], mode: str | None) -> _Request:
        fmt = self._response_format(mode) if mode else None
        return _Request(messages, mode, fmt, self.settings.max_tokens, self.settings.temperature)

    def _kwargs(self, request: _Request) -> dict[str, Any]:
        """The SDK arguments of a request, fitted to what the server and model take now."""
        kwargs: dict[str, Any] = dict(model=self.settings.model, messages=request.messages,
                                      **self._fitted(request.answer_tokens, request.temperature))
        if request.response_format is not None:
            kwargs["response_format"] = request.response_format
        if self.settings.extra_body:
            kwargs["extra_body"] = self.settings.extra_body
        bound = kwargs.get("max_completion_tokens", kwargs.get("max_tokens"))
        self._sent.bound = (len(json.dumps(request.messages, ensure_ascii=False)), bound if isinstance(bound, int) else 0)
        return kwargs

    def batch_mode(self) -> str | None:
        """The response format a request sent without a reply to learn from uses: the one this server
        took last, else the first one tried online (None: plain Markdown)."""
        if not self.settings.structured:
            return None
        remembered = self.memory.get(self.server)
        return remembered if remembered in self.settings.modes else self.settings.modes[0]

    @staticmethod
    def _merged(kwargs: dict) -> dict:
        extra = kwargs.pop("extra_body", None) or {}
        return {**kwargs, **extra}

    def request_body(self, messages: list[dict], mode: str | None) -> dict[str, Any]:
        """The JSON body of a page request sent some other way (a Batch API line, an export), fitted up front."""
        return self._merged(self._kwargs(self._page_request(messages, mode)))

    def structured_body(self, messages: list[dict], name: str, schema: dict, max_tokens: int) -> dict[str, Any]:
        """The JSON body of a short structured request (a judge's grade) sent through the Batch API."""
        fmt = {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": schema}}
        return self._merged(self._kwargs(_Request(messages, JSON_SCHEMA, fmt, max_tokens, 0.0)))

    def completion_budget(self, answer_tokens: int | None = None) -> int:
        """The most a request may generate: the answer, and reasoning's room for a reasoning model."""
        params = self._fitted(answer_tokens or self.settings.max_tokens, None)
        return int(params.get("max_completion_tokens") or params.get("max_tokens") or 0)

    def token_estimate(self, messages: list[dict], answer_tokens: int | None = None) -> int:
        """Tokens the provider counts against its limit before answering: the prompt plus what may be generated."""
        return self.prompt_estimate(messages) + self.completion_budget(answer_tokens)

    @staticmethod
    def prompt_estimate(messages: list[dict]) -> int:
        chars = sum(len(str(m.get("content") or "")) for m in messages)
        return chars // 4 + 8 * len(messages)

    # -- the one request path ----------------------------------------------------------------------
    def _send(self, kwargs: dict):
        """One HTTP request, paced by the limiter (if any), which learns from the answer's rate-limit headers."""
        import openai

        limiter = self.limiter
        if limiter is not None:
            limiter.acquire(self.prompt_estimate(kwargs["messages"])
                            + int(kwargs.get("max_completion_tokens") or kwargs.get("max_tokens") or 0))
        started, ok = time.monotonic(), False
        try:
            raw = self._client.chat.completions.with_raw_response.create(**kwargs)
            if limiter is not None:
                limiter.observe(raw.headers)
            try:
                response = raw.parse()
            except ValueError as exc:  # a 200 whose JSON body does not parse
                raise Retryable(f"the server answered 200 with a body that is not JSON ({shorten(str(exc), 80)})") from None
            except RecursionError:  # nested past what a parser can follow: no reply a model sends
                raise Retryable("the server answered 200 with a body nested too deeply to be a chat completion") from None
            ok = True
            return response
        except openai.APIStatusError as exc:
            if limiter is not None:
                limiter.observe(exc.response.headers)
            ok = exc.status_code < 500 and exc.status_code != 429
            raise
        finally:
            if limiter is not None:
                limiter.release(time.monotonic() - started, ok)

    def _call(self, request: _Request):
        """The server's response to a request: a refused parameter is learned and the request sent again adapted
        (once per parameter); every other failure is mapped to Retryable, _Rejected (the format) or LLMError."""
        import openai

        adapted: set[str] = set()
        while True:
            kwargs = self._kwargs(request)
            try:
                return self._send(kwargs)
            except openai.APIStatusError as exc:
                if exc.status_code in (400, 422) and self._adapt(exc, self._merged(dict(kwargs)), adapted):
                    continue
                raise self._mapped(exc, request.mode) from None
            except (openai.APITimeoutError, openai.APIConnectionError, openai.OpenAIError) as exc:
                raise self._mapped(exc, request.mode) from None

    def _adapt(self, exc, sent: dict, adapted: set[str]) -> bool:
        """Whether a 400 refused one of our parameters (not yet adapted in this request): learned and kept."""
        err = exc.body.get("error") if isinstance(getattr(exc, "body", None), dict) else None
        if not isinstance(err, dict) and isinstance(getattr(exc, "body", None), dict):
            err = exc.body
        fit = self.fits.get(self.server)
        param = parameters.learn(err, self._detail(exc), sent, fit)
        if param is None or (param, sent.get(param)) in adapted:
            return False
        adapted.add((param, sent.get(param)))
        self.fits.set(self.server, fit)
        self.say_once(f"{self.public_url} refused {param} for {self.settings.model}; sending without it "
                      "(remembered for this server and model)")
        return True

    def _mapped(self, exc, mode: str | None) -> Exception:
        """An SDK error as qtgen's: a refusal of the structured-output format moves down the ladder (llama.cpp answers
        500 to json_schema); what is transient retries (`failures.transient`); the rest says what was refused."""
        import openai

        status = getattr(exc, "status_code", None) if isinstance(exc, openai.APIStatusError) else None
        detail = self._detail(exc) if status is not None else ""
        if (status is not None and mode not in (None, INSTRUCTIONS) and (status in (400, 422) or status >= 500)
                and self._about_format(detail)):
            return _Rejected(mode, detail)
        found = transient(exc, where=self.public_url, mask=self.mask, timeout=self.settings.timeout,
                          wait_max=self.settings.retry_wait_max, limiter=self.limiter)
        if found is not None:
            return found
        if status is None:
            return Retryable(self.mask(f"the server's answer could not be read: {exc}"))
        if status == 401:
            return LLMError(f"{self.public_url} rejected the API key (401): check OPENAI_API_KEY")
        if status == 403:
            return LLMError(f"{self.public_url} refused access (403): {detail}")
        if status == 404:
            return LLMError(f"model {self.settings.model!r} not found at {self.public_url} (404): {detail}")
        return LLMError(f"{self.public_url} refused the request ({status}): {detail}")

    def _detail(self, exc) -> str:
        return detail_of(exc, self.mask)

    @staticmethod
    def _about_format(text: str) -> bool:
        """Whether a rejection names the structured-output format (and not, say, the context length)."""
        text = text.lower()
        if any(word in text for word in ("context length", "maximum context", "too many tokens", "max_tokens")):
            return False
        return any(word in text for word in ("response_format", "json_schema", "json_object"))

    # -- one attempt -----------------------------------------------------------------------------
    def _metered(self, meter: "Meter | None", request: _Request, ask: Callable[[], Any], model: str | None = None):
        """`ask()` under the meter: what the attempt may cost is reserved first, and its usage counted whatever
        came of it (an unreadable reply was billed too)."""
        if meter is None:
            return ask()
        held = meter.reserve(self.model_name, self.prompt_estimate(request.messages),
                             self.completion_budget(request.answer_tokens))
        usage = Usage()
        try:
            result = ask()
            usage = result[1] if isinstance(result, tuple) else result.usage
            return result
        except (Retryable, ModelRefused, LLMError) as exc:
            usage = getattr(exc, "usage", None) or Usage()
            raise
        finally:
            meter.spend(model or self.model_name, usage, held)

    def _complete_once(self, messages: list[dict], meter: "Meter | None") -> Completion:
        """One attempt: plain Markdown, or the remembered format, or each format in turn until one is accepted."""
        if not self.settings.structured:
            request = self._page_request(messages, None)
            return self._metered(meter, request, lambda: self._read_plain(self._call(request)))
        remembered = self.memory.get(self.server)
        modes = self.settings.modes
        order = [remembered] + [m for m in modes if m != remembered] if remembered in modes else list(modes)
        last_rejection = ""
        for mode in order:
            request = self._page_request(messages, mode)
            try:
                return self._metered(meter, request, lambda: self._remembered(mode, self._read(self._call(request), mode)))
            except _Rejected as rej:
                last_rejection = rej.detail
        raise LLMError(f"{self.public_url} rejected every request format: {last_rejection}")

    def _remembered(self, mode: str, completion: Completion) -> Completion:
        self.memory.set(self.server, mode)
        return completion

    def _ask_once(self, messages: list[dict], name: str, schema: dict, max_tokens: int,
                  meter: "Meter | None") -> tuple[dict, Usage]:
        formats = [(JSON_SCHEMA, {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": schema}}),
                   (JSON_OBJECT, {"type": "json_object"}), (INSTRUCTIONS, None)]
        last = ""
        for mode, fmt in formats:
            request = _Request(messages, mode, fmt, max_tokens, 0.0)

            def ask() -> tuple[dict, Usage]:
                message, finish, usage = self._choice(self._call(request))
                if finish == "length":
                    raise ModelRefused(f"the reply was cut off at {max_tokens} tokens (finish_reason 'length')"
                                       + (f" after {usage.reasoning_tokens} of reasoning" if usage.reasoning_tokens else ""),
                                       usage=usage)
                try:  # decoded first, then masked: an escaped secret is a secret too
                    data = parse_json_reply(message.content or "")
                except (Unparseable, ValueError, RecursionError) as exc:  # every attempt's usage counts
                    raise Unparseable(f"the reply is not the JSON asked for ({shorten(self.mask(str(exc)), 80)})",
                                      usage=usage) from None
                return self._masked(data), usage

            try:
                return self._metered(meter, request, ask)
            except _Rejected as rej:
                last = rej.detail
        raise LLMError(f"{self.public_url} rejected every request format: {last}")

    # -- with retries: the one retry loop (`failures.retried`) ----------------------------------------
    def _retrying(self, attempt: Callable[[], Any]) -> tuple[Any, int, Usage]:
        return retried(attempt, self.settings, self.on_wait)

    def complete(self, messages: list[dict], meter: "Meter | None" = None) -> Completion:
        """The parsed completion, retrying what is worth retrying; LLMError otherwise."""
        started = time.monotonic()
        result, attempts, failed = self._retrying(lambda: self._complete_once(messages, meter))
        result.attempts = attempts
        result.usage = result.usage + failed
        result.latency = time.monotonic() - started
        return result

    def ask_json(self, messages: list[dict], name: str, schema: dict, max_tokens: int = 200,
                 meter: "Meter | None" = None) -> tuple[dict, Usage]:
        """One short request whose reply is a JSON object of `schema` (json_schema, else json_object, else the
        instruction alone, as the server takes them), retried like `complete`; (the object with every known secret
        masked, the usage of every attempt). A refusal, a cut-off reply or a content filter is one clear error."""
        (data, usage), _, failed = self._retrying(lambda: self._ask_once(messages, name, schema, max_tokens, meter))
        return data, usage + failed

    # -- the server's limits ---------------------------------------------------------------------
    def limits(self):
        """Ask the server once (the smallest request, adapted as often as the server's 400s teach, each change once)
        and return what its rate-limit headers say."""
        import openai

        from .ratelimit import read_limits

        request = _Request([{"role": "user", "content": "ping"}], None, None, 16, None)
        adapted: set = set()
        for _ in range(6):  # as many as there are things to learn, and no more
            try:
                kwargs = self._kwargs(request)
                raw = self._client.chat.completions.with_raw_response.create(**kwargs)
                return read_limits(raw.headers)
            except openai.APIStatusError as exc:
                if exc.status_code in (400, 422) and self._adapt(exc, self._merged(dict(kwargs)), adapted):
                    continue
                mapped = self._mapped(exc, None)
                if isinstance(mapped, Retryable) and exc.status_code == 429:
                    return read_limits(exc.response.headers)
                if isinstance(mapped, LLMError):
                    raise mapped from None
                raise LLMError(str(mapped)) from None
            except openai.APIConnectionError as exc:
                raise LLMError(self.mask(f"connection failed: {exc.__cause__ or exc}")) from None
        raise LLMError(f"{self.public_url}: the server refused every form of the request qtgen knows "
                       "(max_tokens, max_completion_tokens, temperature, reasoning_effort)")


class _Rejected(Exception):
    def __init__(self, mode: str, detail: str):
        super().__init__(detail)
        self.mode = mode
        self.detail = detail
