"""A real HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions protocol, for tests.

It writes house-style answers of its own, enforces whichever `response_format` habits a server
type has (OpenAI/vLLM, llama.cpp, instruction-only), and injects the faults a test scripts:
429 with Retry-After, 5xx, dropped connections, invalid JSON, truncation, refusals, delays.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OPENAI = "openai"          # takes json_schema and json_object
LLAMACPP = "llamacpp"      # rejects json_schema (500, as llama-cpp-python does), takes json_object + schema
STRICT400 = "strict400"    # rejects json_schema with a 400, takes json_object
PLAIN = "plain"            # ignores response_format; replies with chatter around fenced JSON

TOPICS = ["Foundations", "Mechanisms", "Examples", "Limitations", "Applications"]


def house_answer(question: str, subject: str) -> dict:
    """A valid answer in the site's shape: opening, bold numbered list, 'In summary,' close."""
    topic = question.rstrip("?")
    reasons = [
        "it sets out the basic terms and the assumptions that every later step of the argument relies on",
        "it explains which forces or steps produce the outcome, and in what order they usually act",
        "real cases from textbooks and news reports show students what the idea looks like in practice",
        "no model is perfect, so knowing where this one fails keeps conclusions modest and well argued",
        "exams, jobs and everyday decisions all draw on it, which is why teachers return to it so often",
    ]
    items = []
    for n, (name, reason) in enumerate(zip(TOPICS, reasons), 1):
        items.append(f"{n}. **{name}**: In {subject}, {reason} when we study {topic.lower()}.")
    answer = (
        f"{topic} is a central question in {subject}. It is best understood by looking at a few key "
        f"points that together explain what happens and why it matters.\n\n"
        + "\n\n".join(items)
        + f"\n\nIn summary, {topic.lower()} draws on foundations, mechanisms, examples, limitations and "
        f"applications, and seeing them together gives a complete picture for any student of {subject}."
    )
    return {
        "answer": answer,
        "page_description": f"This content explains {topic.lower()[:80]} in {subject}, covering key foundations, mechanisms and examples.",
        "page_keywords": [subject, "foundations", "mechanisms", "examples", "limitations", "applications", "study guide"],
    }


class Fault:
    """One scripted reply instead of a normal answer."""

    def __init__(self, kind: str, status: int = 500, headers: dict | None = None, body: str | None = None,
                 delay: float = 0.0):
        self.kind, self.status, self.headers, self.body, self.delay = kind, status, headers or {}, body, delay


def status(code: int, message: str | None = None, **headers) -> Fault:
    """An error answer; in `message`, {authorization} becomes the request's Authorization header
    (gateways echo it) and {url} the path asked for."""
    return Fault("status", code, {k.replace("_", "-"): str(v) for k, v in headers.items()}, body=message)


DROP = Fault("drop")
INVALID_JSON = Fault("invalid_json")
LENGTH = Fault("length")
REFUSAL = Fault("refusal")
HTML = Fault("html")  # a 200 that is not JSON: a proxy's login page


class FakeOpenAI:
    def __init__(self, kind: str = OPENAI, api_key: str | None = None, models: tuple = ("test-model",),
                 reply=None, latency: float = 0.0, rate_window: tuple[int, float] | None = None,
                 token_window: tuple[int, float] | None = None, limit_headers: bool = True):
        self.kind = kind
        self.api_key = api_key
        self.models = set(models)
        self.reply = reply  # optional callable(question, subject, body) -> dict or str
        self.latency = latency
        self.rate_window = rate_window  # (requests, seconds): a provider's limit, answered with 429 past it
        self.token_window = token_window  # (tokens, seconds), counting prompt tokens plus max_tokens
        self.limit_headers = limit_headers  # send x-ratelimit-* headers, as OpenAI does
        self._window_start = time.monotonic()
        self._window_count = 0
        self._token_start = time.monotonic()
        self._token_count = 0
        self.throttled = 0
        self.faults: deque[Fault] = deque()
        self.raw_bodies: list[str] = []  # 200 answers sent as they are (application/json), one per request
        self.requests: list[dict] = []
        self.times: list[float] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def script(self, *faults: Fault) -> None:
        with self.lock:
            self.faults.extend(faults)

    @staticmethod
    def token_cost(body: dict) -> int:
        """What a provider counts against its token limit: the prompt (about 4 characters a token) and max_tokens."""
        prompt = sum(len(str(m.get("content") or "")) for m in body.get("messages", [])) // 4
        return prompt + int(body.get("max_tokens") or 0)

    def _roll(self, now: float) -> None:
        if self.rate_window and now - self._window_start >= self.rate_window[1]:
            self._window_start, self._window_count = now, 0
        if self.token_window and now - self._token_start >= self.token_window[1]:
            self._token_start, self._token_count = now, 0

    def _over_limit(self, body: dict) -> float | None:
        """Seconds until the window resets if this request is over a limit, else None (and it is counted)."""
        if self.rate_window is None and self.token_window is None:
            return None
        cost = self.token_cost(body)
        with self.lock:
            now = time.monotonic()
            self._roll(now)
            waits = []
            if self.rate_window and self._window_count + 1 > self.rate_window[0]:
                waits.append(self.rate_window[1] - (now - self._window_start))
            if self.token_window and self._token_count + cost > self.token_window[0]:
                waits.append(self.token_window[1] - (now - self._token_start))
            if waits:
                self.throttled += 1
                return max(waits)
            self._window_count += 1
            self._token_count += cost
            return None

    def limit_headers_now(self) -> dict:
        """The x-ratelimit-* headers of this moment, in OpenAI's format."""
        if not self.limit_headers or (self.rate_window is None and self.token_window is None):
            return {}
        with self.lock:
            now = time.monotonic()
            self._roll(now)
            out = {}
            if self.rate_window:
                limit, seconds = self.rate_window
                out.update({"x-ratelimit-limit-requests": str(limit),
                            "x-ratelimit-remaining-requests": str(max(0, limit - self._window_count)),
                            "x-ratelimit-reset-requests": f"{max(0.0, seconds - (now - self._window_start)) * 1000:.0f}ms"})
            if self.token_window:
                limit, seconds = self.token_window
                out.update({"x-ratelimit-limit-tokens": str(limit),
                            "x-ratelimit-remaining-tokens": str(max(0, limit - self._token_count)),
                            "x-ratelimit-reset-tokens": f"{max(0.0, seconds - (now - self._token_start)):.3f}s"})
            return out

    def _next_fault(self) -> Fault | None:
        with self.lock:
            return self.faults.popleft() if self.faults else None

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, code: int, payload, headers: dict | None = None):
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _error(self, code: int, message: str, headers: dict | None = None):
                self._send(code, {"error": {"message": message, "type": "invalid_request_error", "code": code}}, headers)

            def do_GET(self):
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in sorted(fake.models)]})
                else:
                    self._error(404, "not found")

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake.lock:
                    fake.requests.append({"body": body, "headers": dict(self.headers)})
                    fake.times.append(time.monotonic())
                if not self.path.endswith("/chat/completions"):
                    return self._error(404, f"no route {self.path}")
                if fake.api_key is not None and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    return self._error(401, "Incorrect API key provided.")
                if body.get("model") not in fake.models:
                    return self._error(404, f"The model `{body.get('model')}` does not exist.")
                fmt = body.get("response_format") or {}
                if fake.kind == LLAMACPP and fmt.get("type") == "json_schema":
                    return self._error(500, "1 validation error: ('body', 'response_format', 'type') "
                                            "Input should be 'text' or 'json_object'")
                if fake.kind == STRICT400 and fmt.get("type") == "json_schema":
                    return self._error(400, "response_format type json_schema is not supported")
                over = fake._over_limit(body)
                if over is not None:
                    headers = fake.limit_headers_now() if fake.limit_headers else {}
                    if not headers:
                        headers = {"retry-after-ms": str(int(over * 1000) + 1)}
                    return self._error(429, "rate limit reached", headers)
                fault = fake._next_fault()
                if fault is not None and fault.delay:
                    time.sleep(fault.delay)
                if fake.latency:
                    time.sleep(fake.latency)
                if fault is not None and fault.kind == "status":
                    message = (fault.body or f"injected {fault.status}").replace(
                        "{authorization}", self.headers.get("Authorization", "")).replace("{url}", self.path)
                    return self._error(fault.status, message, fault.headers)
                if fault is not None and fault.kind == "html":
                    data = b"<html><body><form>Sign in to the proxy</form></body></html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if fault is not None and fault.kind == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                with fake.lock:
                    raw = fake.raw_bodies.pop(0) if fake.raw_bodies else None
                if raw is not None:
                    data = raw.encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                question, subject = _question(body)
                content: str
                finish = "stop"
                refusal = None
                if fault is not None and fault.kind == "invalid_json":
                    content = '{"answer": "This is not finished'
                elif fault is not None and fault.kind == "refusal":
                    content, refusal = None, "I can't help with that."
                else:
                    data = fake.reply(question, subject, body) if fake.reply else house_answer(question, subject)
                    plain = "Reply with the answer only, in Markdown" in json.dumps(body.get("messages"))
                    if plain and isinstance(data, dict):
                        data = data["answer"]  # asked for Markdown alone, as a small local model is
                    content = data if isinstance(data, str) else json.dumps(data)
                    if fake.kind == PLAIN:
                        content = f"Sure! Here is the JSON you asked for:\n```json\n{content}\n```"
                    if fault is not None and fault.kind == "length":
                        content, finish = content[: len(content) // 2], "length"
                self._send(200, {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body["model"],
                    "choices": [{
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": refusal},
                        "finish_reason": finish,
                    }],
                    "usage": {"prompt_tokens": 120, "completion_tokens": 480, "total_tokens": 600},
                }, fake.limit_headers_now())

        return Handler


_Q = re.compile(r"Question \((?P<subject>[^)]*)\): (?P<question>[^\n]*)")


def _question(body: dict) -> tuple[str, str]:
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            m = _Q.search(message.get("content") or "")
            if m:
                return m.group("question").strip(), m.group("subject")
    return "A question", "General"
