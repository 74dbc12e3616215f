"""One chat-completions request per draft, through the openai SDK, to OpenAI or any compatible server.

Structured output differs by server: OpenAI and vLLM take `json_schema`; llama.cpp's server takes
`{"type": "json_object", "schema": ...}`; others only follow the prompt. We try them in that order,
fall back on a rejection, and remember per server what worked. Retries are ours (tenacity; the SDK's
are off so they don't stack): 429 honouring Retry-After, 5xx, timeouts and dropped connections.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..errors import LLMError
from .secret import SecretMask, public_url

if TYPE_CHECKING:
    from .ratelimit import RateLimiter

JSON_SCHEMA = "json_schema"
JSON_OBJECT = "json_object"
INSTRUCTIONS = "instructions"
MODES = (JSON_SCHEMA, JSON_OBJECT, INSTRUCTIONS)

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
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Completion:
    """What the model returned for one question, already parsed."""

    answer: str
    page_description: str | None
    page_keywords: list[str] | str | None
    model: str
    mode: str
    usage: Usage = field(default_factory=Usage)
    attempts: int = 1
    latency: float = 0.0
    notes: list[str] = field(default_factory=list)
    provenance: dict | None = None  # what made it (qtgen.work.provenance), set by whoever asked


class Retryable(Exception):
    """A failure worth another attempt; carries the wait the server asked for, if any."""

    def __init__(self, message: str, wait: float | None = None, status: int | None = None):
        super().__init__(message)
        self.wait = wait
        self.status = status


class Unparseable(Retryable):
    """The model answered, but not with the JSON asked for."""


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
            raise Unparseable(f"reply is not valid JSON ({exc.msg} at char {exc.pos})") from None
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


class FormatMemory:
    """Which structured-output mode each server accepted, kept across commands in the user cache."""

    _lock = threading.Lock()

    def __init__(self, path: Path | None = None):
        if path is None:
            base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
            path = base / "qtgen" / "response_formats.json"
        self.path = path
        self._data: dict[str, str] | None = None

    def _load(self) -> dict[str, str]:
        if self._data is None:
            try:
                self._data = json.loads(self.path.read_text("utf-8"))
            except (OSError, ValueError):
                self._data = {}
        return self._data

    def get(self, server: str) -> str | None:
        mode = self._load().get(server)
        return mode if mode in MODES else None

    def set(self, server: str, mode: str) -> None:
        with self._lock:
            data = self._load()
            if data.get(server) == mode:
                return
            data[server] = mode
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(data, indent=1, sort_keys=True), "utf-8")
                os.replace(tmp, self.path)
            except OSError:
                pass  # remembering is an optimisation, never a failure


@dataclass
class ClientSettings:
    base_url: str
    api_key: str | None
    model: str
    temperature: float = 0.7
    max_tokens: int = 1500
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


class ChatClient:
    """Asks one model for page content; thread-safe, shared by every draft of a command."""

    def __init__(self, settings: ClientSettings, memory: FormatMemory | None = None,
                 on_wait: Callable[[float, Exception], None] | None = None, limiter: "RateLimiter | None" = None):
        from openai import OpenAI

        self.settings = settings
        self.memory = memory or FormatMemory()
        self.on_wait = on_wait  # told before each retry's sleep, with the (masked) reason
        self.limiter = limiter  # shared by every worker of a batch
        self.mask = SecretMask(settings.api_key, settings.base_url)
        self.public_url = public_url(settings.base_url)
        self.server = f"{self.public_url.rstrip('/')}#{settings.model}"  # the format memory's key: no secret
        self._client = OpenAI(
            api_key=settings.api_key or "no-key",
            base_url=settings.base_url,
            max_retries=0,
            timeout=settings.timeout,
        )

    # -- one request -------------------------------------------------------------------------
    def _response_format(self, mode: str) -> dict | None:
        schema = bounded_schema() if self.settings.bounded else ANSWER_SCHEMA
        if mode == JSON_SCHEMA:
            return {"type": "json_schema", "json_schema": {"name": "quicktakes_page", "strict": True, "schema": ANSWER_SCHEMA}}
        if mode == JSON_OBJECT:
            return {"type": "json_object", "schema": schema}
        return None

    def _kwargs(self, messages: list[dict], mode: str | None) -> dict[str, Any]:
        """The SDK arguments of one chat request (mode None: no response format, plain Markdown)."""
        kwargs: dict[str, Any] = dict(
            model=self.settings.model,
            messages=messages,
            temperature=self.settings.temperature,
            max_tokens=self.settings.max_tokens,
        )
        fmt = self._response_format(mode) if mode else None
        if fmt is not None:
            kwargs["response_format"] = fmt
        if self.settings.extra_body:
            kwargs["extra_body"] = self.settings.extra_body
        return kwargs

    def batch_mode(self) -> str | None:
        """The response format a request sent without a reply to learn from uses: the one this server
        took last, else the first one tried online (None: plain Markdown)."""
        if not self.settings.structured:
            return None
        remembered = self.memory.get(self.server)
        return remembered if remembered in self.settings.modes else self.settings.modes[0]

    def request_body(self, messages: list[dict], mode: str | None) -> dict[str, Any]:
        """The JSON body the online lane sends for these messages, as one dict (extra_body merged)."""
        kwargs = self._kwargs(messages, mode)
        extra = kwargs.pop("extra_body", None) or {}
        return {**kwargs, **extra}

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
        if mode is None:
            return self._read_plain(response)
        return self._read(response, mode)

    def _request(self, messages: list[dict], mode: str, kwargs: dict | None = None):
        import openai

        kwargs = kwargs if kwargs is not None else self._kwargs(messages, mode)
        try:
            return self._send(kwargs)
        except openai.RateLimitError as exc:
            wait = retry_after(exc.response.headers)
            if self.limiter is not None:  # every request not yet sent waits, on the last attempt too
                self.limiter.rate_limited(wait, exc.response.headers)
            raise Retryable(f"rate limited (429): {self._detail(exc)}", wait, 429) from None
        except openai.InternalServerError as exc:
            if mode != INSTRUCTIONS and self._about_format(exc):
                raise _Rejected(mode, self._detail(exc)) from None  # llama.cpp answers 500 to json_schema
            raise Retryable(f"server error ({exc.status_code}): {self._detail(exc)}",
                            retry_after(exc.response.headers)) from None
        except openai.APITimeoutError:
            raise Retryable(f"no answer within {self.settings.timeout:g}s (timeout)") from None
        except openai.APIConnectionError as exc:
            raise Retryable(self.mask(f"connection failed: {exc.__cause__ or exc}")) from None
        except openai.AuthenticationError:
            raise LLMError(f"{self.public_url} rejected the API key (401): check OPENAI_API_KEY") from None
        except openai.PermissionDeniedError as exc:
            raise LLMError(f"{self.public_url} refused access (403): {self._detail(exc)}") from None
        except openai.NotFoundError as exc:
            raise LLMError(
                f"model {self.settings.model!r} not found at {self.public_url} (404): {self._detail(exc)}") from None
        except openai.APIStatusError as exc:
            if exc.status_code in (400, 422) and mode != INSTRUCTIONS and self._about_format(exc):
                raise _Rejected(mode, self._detail(exc)) from None  # only a refusal of the format moves down
            if exc.status_code >= 500:
                raise Retryable(f"server error ({exc.status_code}): {self._detail(exc)}") from None
            raise LLMError(f"{self.public_url} refused the request ({exc.status_code}): {self._detail(exc)}") from None
        except openai.OpenAIError as exc:
            raise Retryable(self.mask(f"the server's answer could not be read: {exc}")) from None

    def token_estimate(self, messages: list[dict]) -> int:
        """Tokens the provider counts against its limit before answering: the prompt plus max_tokens."""
        chars = sum(len(str(m.get("content") or "")) for m in messages)
        return chars // 4 + 8 * len(messages) + self.settings.max_tokens

    def _send(self, kwargs: dict):
        """One HTTP request, paced by the limiter (if any), which learns from the answer's rate-limit headers."""
        import openai

        limiter = self.limiter
        if limiter is not None:
            limiter.acquire(self.token_estimate(kwargs["messages"]))
        started, ok = time.monotonic(), False
        try:
            raw = self._client.chat.completions.with_raw_response.create(**kwargs)
            if limiter is not None:
                limiter.observe(raw.headers)
            try:
                response = raw.parse()
            except ValueError as exc:  # a 200 whose JSON body does not parse
                raise Retryable(f"the server answered 200 with a body that is not JSON ({shorten(str(exc), 80)})") from None
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

    def limits(self):
        """Ask the server once (the smallest request) and return what its rate-limit headers say."""
        import openai

        from .ratelimit import read_limits

        try:
            raw = self._client.chat.completions.with_raw_response.create(
                model=self.settings.model, messages=[{"role": "user", "content": "ping"}], max_tokens=1)
            return read_limits(raw.headers)
        except openai.RateLimitError as exc:
            return read_limits(exc.response.headers)
        except openai.APIStatusError as exc:
            raise LLMError(f"{self.public_url} refused the request ({exc.status_code}): {self._detail(exc)}") from None
        except openai.APIConnectionError as exc:
            raise LLMError(self.mask(f"connection failed: {exc.__cause__ or exc}")) from None

    def _detail(self, exc) -> str:
        """The server's message, on one line, with every secret masked."""
        body = getattr(exc, "body", None)
        msg = None
        if isinstance(body, dict):
            err = body.get("error")
            msg = err.get("message") if isinstance(err, dict) else body.get("message")
        return shorten(self.mask(msg or getattr(exc, "message", None) or str(exc)))

    def _about_format(self, exc) -> bool:
        """Whether a rejection names the structured-output format (and not, say, the context length)."""
        text = self._detail(exc).lower()
        if any(word in text for word in ("context length", "maximum context", "too many tokens", "max_tokens")):
            return False
        return any(word in text for word in ("response_format", "json_schema", "json_object"))

    def _complete_plain(self, messages: list[dict]) -> Completion:
        """One request without a response format: the reply is the answer, in Markdown."""
        kwargs = self._kwargs(messages, None)
        import openai

        try:
            response = self._send(kwargs)
        except openai.APIStatusError as exc:
            if exc.status_code == 429 or exc.status_code >= 500:
                raise Retryable(f"server error ({exc.status_code}): {self._detail(exc)}",
                                retry_after(exc.response.headers), exc.status_code) from None
            raise LLMError(f"{self.public_url} refused the request ({exc.status_code}): {self._detail(exc)}") from None
        except openai.APITimeoutError:
            raise Retryable(f"no answer within {self.settings.timeout:g}s (timeout)") from None
        except openai.APIConnectionError as exc:
            raise Retryable(self.mask(f"connection failed: {exc.__cause__ or exc}")) from None
        return self._read_plain(response)

    def _read_plain(self, response) -> Completion:
        if not hasattr(response, "choices") or not response.choices:
            raise Retryable("the server answered 200 without a chat completion")
        usage = Usage()
        if getattr(response, "usage", None) is not None:
            usage = Usage(tokens(response.usage.prompt_tokens), tokens(response.usage.completion_tokens))
        choice = response.choices[0]
        text = self.mask.known(getattr(choice.message, "content", None) or "")
        if not isinstance(text, str) or not text.strip():
            raise Unparseable("empty reply")
        notes = []
        answer, removed = tidy_plain(text, cut_last=choice.finish_reason == "length")
        if choice.finish_reason == "length":
            notes.append(f"answer: cut off at max_tokens={self.settings.max_tokens}; kept whole sentences")
        if removed:
            notes.append(f"answer: removed {removed}")
        if not answer:
            raise Unparseable("the reply holds no usable answer")
        return Completion(answer, None, None, response.model or self.settings.model, "plain", usage, notes=notes)

    def _complete_once(self, messages: list[dict]) -> Completion:
        """One attempt: the remembered mode, or each mode in turn until one is accepted."""
        if not self.settings.structured:
            return self._complete_plain(messages)
        remembered = self.memory.get(self.server)
        modes = self.settings.modes
        order = [remembered] + [m for m in modes if m != remembered] if remembered in modes else list(modes)
        last_rejection = ""
        for mode in order:
            try:
                response = self._request(messages, mode)
            except _Rejected as rej:
                last_rejection = rej.detail
                continue
            self.memory.set(self.server, mode)
            return self._read(response, mode)
        raise LLMError(f"{self.public_url} rejected every request format: {last_rejection}")

    def _read(self, response, mode: str) -> Completion:
        if not hasattr(response, "choices"):  # a 200 that is not JSON: a proxy's login page, a gateway's error
            shown = shorten(self.mask(response), 80) if isinstance(response, str) else type(response).__name__
            raise Retryable(f"the server answered 200 without a JSON completion: {shown!r}")
        usage = Usage()
        if getattr(response, "usage", None) is not None:
            usage = Usage(tokens(response.usage.prompt_tokens), tokens(response.usage.completion_tokens))
        if self.limiter is not None:
            self.limiter.succeeded()
        try:
            choices = list(response.choices or [])
        except TypeError:
            choices = []
        if not choices:
            raise Unparseable("reply has no choices")
        choice = choices[0]
        message = getattr(choice, "message", None)
        if message is None or not isinstance(getattr(message, "content", None), (str, type(None))):
            raise Unparseable("reply is not a chat completion (no message text)")
        refusal = getattr(message, "refusal", None)
        if refusal:
            raise LLMError(f"the model refused: {shorten(self.mask.known(refusal))}")
        if choice.finish_reason == "content_filter":
            raise LLMError("the model refused: the answer was stopped by the server's content filter")
        if choice.finish_reason == "length" and self.settings.bounded:
            return self._salvage(message.content, response, mode, usage)
        if choice.finish_reason == "length":
            raise LLMError(
                f"the answer was cut off at max_tokens={self.settings.max_tokens} (finish_reason 'length'); "
                "raise max_tokens")
        data = parse_json_reply(self.mask.known(message.content or ""))
        answer, desc, kws = fields_from(data)
        return Completion(answer, desc, kws, response.model or self.settings.model, mode, usage)

    def _salvage(self, content: str | None, response, mode: str, usage: Usage) -> Completion:
        """A reply cut off inside the answer (which comes last): keep its whole sentences."""
        data = close_truncated_json(self.mask.known(content or ""))
        if data is None:
            raise Unparseable("reply cut off at max_tokens before the answer began")
        answer, desc, kws = fields_from(data)
        cut = max(answer.rfind(". "), answer.rfind(".\n"), answer.rfind("\n\n"))
        answer = answer[: cut + 1] if cut > len(answer) // 2 else answer
        completion = Completion(answer.strip(), desc, kws, response.model or self.settings.model, mode, usage)
        completion.notes.append(f"answer: cut off at max_tokens={self.settings.max_tokens}; kept whole sentences")
        return completion

    # -- a small structured question (not a page) ----------------------------------------------
    def ask_json(self, messages: list[dict], name: str, schema: dict, max_tokens: int = 200) -> tuple[dict, Usage]:
        """One short request whose reply is a JSON object of `schema` (json_schema, else json_object, else the
        instruction alone, as the server takes them), retried like `complete`; (the object, its usage)."""
        from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt

        formats = [(JSON_SCHEMA, {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": schema}}),
                   (JSON_OBJECT, {"type": "json_object"}), (INSTRUCTIONS, None)]

        def once() -> tuple[dict, Usage]:
            last = ""
            for mode, fmt in formats:
                kwargs: dict[str, Any] = dict(model=self.settings.model, messages=messages, temperature=0,
                                              max_tokens=max_tokens)
                if fmt is not None:
                    kwargs["response_format"] = fmt
                if self.settings.extra_body:
                    kwargs["extra_body"] = self.settings.extra_body
                try:
                    response = self._request(messages, mode, kwargs)
                except _Rejected as rej:
                    last = rej.detail
                    continue
                if not getattr(response, "choices", None):
                    raise Retryable("the server answered 200 without a chat completion")
                usage = Usage()
                if getattr(response, "usage", None) is not None:
                    usage = Usage(tokens(response.usage.prompt_tokens), tokens(response.usage.completion_tokens))
                try:  # the reply's text is server text: any secret it echoes is masked where it enters
                    data = parse_json_reply(self.mask.known(response.choices[0].message.content or ""))
                except (ValueError, RecursionError) as exc:
                    raise Unparseable(f"the reply is not the JSON asked for ({shorten(self.mask(str(exc)), 80)})") from None
                return data, usage
            raise LLMError(f"{self.public_url} rejected every request format: {last}")

        retrying = Retrying(retry=retry_if_exception_type(Retryable), stop=stop_after_attempt(self.settings.retries + 1),
                            wait=self._wait, before_sleep=self._before_sleep, reraise=False)
        try:
            for attempt in retrying:
                with attempt:
                    result = once()
        except RetryError as exc:
            raise LLMError(f"the request failed: {exc.last_attempt.exception()}") from None
        return result

    # -- with retries --------------------------------------------------------------------------
    def complete(self, messages: list[dict]) -> Completion:
        """The parsed completion, retrying what is worth retrying; LLMError otherwise."""
        from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt

        started = time.monotonic()
        attempts = 0
        retrying = Retrying(
            retry=retry_if_exception_type(Retryable),
            stop=stop_after_attempt(self.settings.retries + 1),
            wait=self._wait,
            before_sleep=self._before_sleep,
            reraise=False,
        )
        try:
            for attempt in retrying:
                with attempt:
                    attempts += 1
                    result = self._complete_once(messages)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            what = "the model's output was unusable" if isinstance(last, Unparseable) else "the request failed"
            raise LLMError(f"{what} after {attempts} attempts: {last}") from None
        result.attempts = attempts
        result.latency = time.monotonic() - started
        return result

    def _wait(self, retry_state) -> float:
        exc = retry_state.outcome.exception()
        asked = getattr(exc, "wait", None)
        base = self.settings.retry_wait * (2 ** (retry_state.attempt_number - 1))
        backoff = min(self.settings.retry_wait_max, base) * (0.5 + random.random() / 2)
        if asked is not None:
            return min(self.settings.retry_wait_max, max(asked, 0.0))
        return backoff

    def _before_sleep(self, retry_state) -> None:
        if self.on_wait is not None:
            self.on_wait(retry_state.upcoming_sleep, retry_state.outcome.exception())


class _Rejected(Exception):
    def __init__(self, mode: str, detail: str):
        super().__init__(detail)
        self.mode = mode
        self.detail = detail


_ECHO = re.compile(r"^\s*(\*\*)?(answer|response|question|assistant)(\*\*)?\s*:\s*(\*\*)?\s*", re.I)
_DEBRIS_LINE = re.compile(r"^[\s\[\]{}()\",:;`|]*$|^\s*\d+[.)]\s*$")  # stray brackets, an empty "3."
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+")
_EMPTY_HEADING = re.compile(r"^\s*(\d+[.)]|[-*+])\s+\*\*[^*]+(:\*\*|\*\*:)\s*$")
_LIST_ITEM = re.compile(r"^\s*(\d+[.)]|[-*+])\s+\S")


def tidy_plain(text: str, cut_last: bool = False) -> tuple[str, str]:
    """A small model's Markdown made readable: no echoed "Answer:" label, no lines of stray brackets, no
    paragraph or sentence said twice, and (when cut off) no sentence left unfinished; (text, what was removed)."""
    removed = []
    lines = text.strip().split("\n")
    if lines and _ECHO.match(lines[0]):
        lines[0] = _ECHO.sub("", lines[0])
    kept_lines = [line for line in lines if not (line.strip() and _DEBRIS_LINE.match(line))]
    if len(kept_lines) != len(lines):
        removed.append(f"{len(lines) - len(kept_lines)} line(s) of stray brackets")
    headed = []
    for n, line in enumerate(kept_lines):  # "3. **Key points:**" with nothing under it: an empty heading
        after = next((x for x in kept_lines[n + 1:] if x.strip()), "")
        indent = len(line) - len(line.lstrip())
        if _EMPTY_HEADING.match(line) and (not after or len(after) - len(after.lstrip()) <= indent
                                           and _LIST_ITEM.match(after)):
            continue
        headed.append(line)
    if len(headed) != len(kept_lines):
        removed.append(f"{len(kept_lines) - len(headed)} empty list heading(s)")
    kept_lines = headed
    paragraphs, seen, seen_sentences = [], set(), set()
    dropped_p = dropped_s = 0
    for block in "\n".join(kept_lines).split("\n\n"):
        key = " ".join(block.lower().split())
        if not key:
            continue
        if key in seen:
            dropped_p += 1
            continue
        seen.add(key)
        if not block.lstrip().startswith(("|", "```", "$$", "#")) and "\n" not in block.strip():
            sentences = []
            for sentence in _SENTENCE_BREAK.split(block):
                skey = " ".join(sentence.lower().split())
                if len(skey.split()) >= 4 and skey in seen_sentences:
                    dropped_s += 1
                    continue
                seen_sentences.add(skey)
                sentences.append(sentence)
            block = " ".join(sentences)
            if not block.strip():
                continue
        paragraphs.append(block)
    if dropped_p:
        removed.append(f"{dropped_p} repeated paragraph(s)")
    if dropped_s:
        removed.append(f"{dropped_s} repeated sentence(s)")
    if cut_last and paragraphs:
        last = paragraphs[-1].rstrip()
        end = max(last.rfind(". "), last.rfind(".\n"), last.rfind("? "), last.rfind("! "))
        if last and last[-1] not in ".!?":
            kept = last[: end + 1] if end > 0 else ""
            if kept and not re.fullmatch(r"\s*(\d+[.)]|[-*+])\s*", kept):
                paragraphs[-1] = kept
            else:
                paragraphs.pop()  # nothing whole is left of it (a lone "3." is no item)
    return "\n\n".join(p.rstrip() for p in paragraphs).strip(), ", ".join(removed)


def tokens(value: Any) -> int:
    """A server's token count as a sane integer (0 to a trillion): none, negative or absurd ones are clamped."""
    try:
        return max(0, min(int(value or 0), 10**12))
    except (TypeError, ValueError, OverflowError):
        return 0


def shorten(text: str, limit: int = 200) -> str:
    """One line of at most `limit` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
