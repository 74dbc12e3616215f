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

import openai_rules as rules

OPENAI = "openai"          # takes json_schema and json_object
LLAMACPP = "llamacpp"      # rejects json_schema (500, as llama-cpp-python does), takes json_object + schema
STRICT400 = "strict400"    # rejects json_schema with a 400, takes json_object
PLAIN = "plain"            # ignores response_format; replies with chatter around fenced JSON
GATEWAY = "gateway"        # an older vLLM or a gateway: refuses the newer names (max_completion_tokens, reasoning_effort)
AZURE = "azure"            # Azure OpenAI: /openai/deployments/NAME/...?api-version=..., an api-key header, remaining-only headers

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


JUDGE_MARK = "You are grading an answer written for QuickTakes"
SUGGEST_MARK = "You write new questions for QuickTakes"
# planted false statements the fake judge recognises, with the severity it gives them
FALSEHOODS = {"the sun orbits the earth": "major", "water boils at 50 degrees": "major", "drink bleach": "critical"}
INVENTED_QUOTE = "Tariffs were invented on the moon in 1066."


def judge_reply(text: str, invent: bool = False) -> dict:
    """A deterministic grade of the answer inside a judge prompt: each sentence holding a planted falsehood is an
    issue quoting it; correctness follows the worst; `invent` adds an issue quoting words the answer lacks."""
    fenced = re.search(r"^(===== ANSWER [0-9a-f]+ =====)\n(.*)\n\1$", text, re.S | re.M)
    answer = fenced.group(2) if fenced else text
    issues = []
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", answer):
        for false, severity in FALSEHOODS.items():
            if false in sentence.lower():
                issues.append({"quote": sentence.strip(), "problem": f"it says {false}, which is false",
                               "correction": "state the established fact instead", "severity": severity})
    if invent:
        issues.append({"quote": INVENTED_QUOTE, "problem": "wrong date", "correction": "no such event",
                       "severity": "critical"})
    worst = max((("minor", "major", "critical").index(i["severity"]) for i in issues if i["quote"] != INVENTED_QUOTE),
                default=-1)
    correctness = {-1: 5, 0: 4, 1: 2, 2: 1}[worst]
    reason = "every statement checked is right" if worst < 0 else "it states something false"
    return {"criteria": {"correctness": {"score": correctness, "reason": reason},
                         "answers_question": {"score": 5, "reason": "it answers the question asked"},
                         "completeness": {"score": 4, "reason": "the main points are there"},
                         "clarity": {"score": 5, "reason": "clear numbered points"},
                         "safety": {"score": 1 if worst == 2 else 5, "reason": "no advice stated as fact"}},
            "issues": issues}


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
        self.usage: dict | None = None  # the usage every answer reports, if not the default
        self.answer_headers: deque[dict] = deque()  # rate-limit headers for the next 200 answers, in order
        self.judge_invents = False  # the fake judge adds an issue quoting words the answer does not hold
        self.suggestions: deque[list] = deque()  # what `qtgen suggest` gets, one list (of questions) per request
        self.measure_usage = False  # report tokens as the characters of the request's messages and the reply / 4
        self.quota_exhausted = False  # every request answered 429 insufficient_quota, as OpenAI does when billing stops
        self.cached_tokens = 0  # prompt tokens every answer reports as read from the prompt cache
        self.deployments: dict[str, str] = {}  # deployment name -> the model it serves (Azure's, or a gateway's alias)
        self.api_version = "2024-10-21"  # Azure: the api-version every request must carry
        self.reasoning_spent: dict = {}  # reasoning tokens spent at an effort, over openai_rules.SPENT
        self.refused: list[dict] = []  # every 400 sent for a parameter a model does not take: {"param", "model"}
        self.batch_api = FakeBatchApi(self)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @property
    def endpoint(self) -> str:
        """Azure: the resource's endpoint (no /v1)."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def model_of(self, asked: str | None) -> str | None:
        """The model a request names (a deployment's, as Azure's are, when it names one)."""
        return self.deployments.get(asked or "", asked)

    def refusal(self, body: dict) -> tuple[int, dict] | None:
        """The 400 this server sends for a parameter the model (or this gateway) does not take, recorded."""
        model = self.model_of(body.get("model")) or ""
        found = None
        if self.kind == GATEWAY:
            for name in ("max_completion_tokens", "reasoning_effort", "verbosity"):
                if name in body:
                    detail = [{"type": "extra_forbidden", "loc": ["body", name], "msg": "Extra inputs are not permitted",
                               "input": body[name]}]
                    found = 400, {"object": "error", "message": str(detail), "type": "BadRequestError", "param": None,
                                  "code": 400}
                    break
        else:
            found = rules.refusal(body, model)
        if found is not None:
            err = found[1].get("error") or {}
            with self.lock:
                self.refused.append({"param": err.get("param") or found[1].get("message"), "model": model})
        return found

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
        return prompt + int(body.get("max_tokens") or body.get("max_completion_tokens") or 0)

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
            if self.kind == AZURE:  # Azure sends the remaining values only
                out = {k: v for k, v in out.items() if "-remaining-" in k}
            return out

    def completion(self, body: dict, fault: Fault | None = None) -> dict:
        """The chat completion this server answers to a request body."""
        question, subject = _question(body)
        finish = "stop"
        refusal = None
        if fault is not None and fault.kind == "invalid_json":
            content = '{"answer": "This is not finished'
        elif fault is not None and fault.kind == "refusal":
            content, refusal = None, "I can't help with that."
        elif SUGGEST_MARK in json.dumps(body.get("messages")):
            with self.lock:
                batch = self.suggestions.popleft() if self.suggestions else []
            content = json.dumps({"questions": [q if isinstance(q, dict) else {"question": q, "topic": "a topic"}
                                                for q in batch]})
        elif JUDGE_MARK in json.dumps(body.get("messages")):
            content = json.dumps(judge_reply(body["messages"][-1]["content"], self.judge_invents))
            if self.kind == PLAIN:
                content = f"Here is my grade:\n```json\n{content}\n```"
        else:
            data = self.reply(question, subject, body) if self.reply else house_answer(question, subject)
            plain = "Reply with the answer only, in Markdown" in json.dumps(body.get("messages"))
            if plain and isinstance(data, dict):
                data = data["answer"]  # asked for Markdown alone, as a small local model is
            content = data if isinstance(data, str) else json.dumps(data)
            if self.kind == PLAIN:
                content = f"Sure! Here is the JSON you asked for:\n```json\n{content}\n```"
            if fault is not None and fault.kind == "length":
                content, finish = content[: len(content) // 2], "length"
        model = self.model_of(body.get("model")) or ""
        thought = 0
        if rules.reasoning(model) and finish == "stop":
            content, finish, thought = rules.spend(body, content, len(content or "") // 4, model, self.reasoning_spent)
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": rules.dated(model),
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "finish_reason": finish,
            }],
            "usage": self._usage(body, content, thought),
        }

    def _usage(self, body: dict, content: str | None, reasoning: int = 0) -> dict:
        if self.usage:
            return self.usage
        if self.measure_usage:
            tokens_in = len(json.dumps(body.get("messages"), ensure_ascii=False)) // 4
            tokens_out = len(content or "") // 4
        else:
            tokens_in, tokens_out = 120, 480
        out = {"prompt_tokens": tokens_in, "completion_tokens": tokens_out + reasoning,
               "total_tokens": tokens_in + tokens_out + reasoning}
        if reasoning or rules.reasoning(self.model_of(body.get("model")) or ""):
            out["completion_tokens_details"] = {"reasoning_tokens": reasoning, "accepted_prediction_tokens": 0,
                                                "rejected_prediction_tokens": 0, "audio_tokens": 0}
        if self.cached_tokens:
            out["prompt_tokens_details"] = {"cached_tokens": min(self.cached_tokens, tokens_in), "audio_tokens": 0}
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

            def _authorized(self) -> bool:
                given = self.headers.get("api-key") if fake.kind == AZURE else self.headers.get("Authorization")
                wanted = fake.api_key if fake.kind == AZURE else f"Bearer {fake.api_key}"
                if fake.api_key is not None and given != wanted:
                    self._error(401, "Incorrect API key provided.")
                    return False
                return True

            def _azure_ok(self) -> bool:
                """Azure's routes: under /openai/, with the api-version every request must carry."""
                if not self.path.startswith("/openai/"):
                    self._send(404, {"error": {"code": "404", "message": "Resource not found"}})
                    return False
                if f"api-version={fake.api_version}" not in self.path.split("?", 1)[-1]:
                    self._send(400, {"error": {"code": "BadRequest", "message": "Missing or unsupported api-version"}})
                    return False
                return True

            def _raw(self, code: int, data: bytes, ctype: str = "application/octet-stream"):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                route = self.path.split("?", 1)[0].rstrip("/")
                if "/files" in route or "/batches" in route:
                    if not self._authorized():
                        return
                    code, payload = fake.batch_api.get(route, self.path)
                    if isinstance(payload, bytes):
                        return self._raw(code, payload)
                    return self._send(code, payload)
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in sorted(fake.models)]})
                else:
                    self._error(404, "not found")

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length)
                route = self.path.split("?", 1)[0].rstrip("/")
                if fake.kind == AZURE and not self._azure_ok():
                    return
                if route.endswith("/files") or "/batches" in route:
                    if not self._authorized():
                        return
                    if fake.quota_exhausted:
                        return self._send(429, rules.error(rules.QUOTA_MESSAGE, None, "insufficient_quota",
                                                           "insufficient_quota"))
                    code, payload = fake.batch_api.post(route, data, self.headers.get("Content-Type", ""))
                    return self._send(code, payload)
                body = json.loads(data or b"{}")
                deployment = re.search(r"/deployments/([^/]+)/chat/completions$", route)
                if deployment:  # Azure names the deployment in the path; the body's model is the client's word
                    body = {**body, "model": deployment.group(1)}
                with fake.lock:
                    fake.requests.append({"body": body, "headers": dict(self.headers), "path": self.path})
                    fake.times.append(time.monotonic())
                if not route.endswith("/chat/completions"):
                    return self._error(404, f"no route {self.path}")
                if not self._authorized():
                    return
                if body.get("model") not in fake.models and fake.model_of(body.get("model")) not in fake.models:
                    return self._error(404, f"The model `{body.get('model')}` does not exist.")
                if fake.quota_exhausted:
                    return self._send(429, rules.error(rules.QUOTA_MESSAGE, None, "insufficient_quota",
                                                       "insufficient_quota"))
                refused = fake.refusal(body)
                if refused is not None:
                    return self._send(*refused)
                fmt = body.get("response_format") or {}
                if fake.kind == LLAMACPP and fmt.get("type") == "json_schema":
                    return self._error(500, "1 validation error: ('body', 'response_format', 'type') "
                                            "Input should be 'text' or 'json_object'")
                if fake.kind == STRICT400 and fmt.get("type") == "json_schema":
                    return self._error(400, "response_format type json_schema is not supported")
                over = fake._over_limit(body)
                if over is not None:
                    headers = fake.limit_headers_now() if fake.limit_headers else {}
                    if fake.kind == AZURE:  # on a 429 Azure says when the token budget is back, in seconds
                        headers = {**headers, "x-rate-limit-reset-tokens": f"{over:.3f}"}
                    elif not headers:
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
                with fake.lock:
                    scripted = fake.answer_headers.popleft() if fake.answer_headers else None
                self._send(200, fake.completion(body, fault), scripted if scripted is not None else fake.limit_headers_now())

        return Handler


_Q = re.compile(r"Question \((?P<subject>[^)]*)\): (?P<question>[^\n]*)")


def _question(body: dict) -> tuple[str, str]:
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            m = _Q.search(message.get("content") or "")
            if m:
                return m.group("question").strip(), m.group("subject")
    return "A question", "General"


# -- the Batch API -----------------------------------------------------------------------------------
def _err(code: int, message: str, kind: str = "invalid_request_error") -> tuple[int, dict]:
    return code, {"error": {"message": message, "type": kind, "code": None}}


class Gate:
    """Holds one route's answer: `arrived` is set when a request comes, the answer waits for `release`."""

    def __init__(self):
        self.arrived, self.release = threading.Event(), threading.Event()


class FakeBatchApi:
    """OpenAI's Batch API, in memory: files (upload, list, content), batches (create, retrieve, list,
    cancel). A batch moves on each retrieve: validating -> in_progress -> completed, answering
    `lines_per_poll` lines per retrieve through the chat server's own answers, in shuffled order.

    Scripts (a dict per batch, in creation order): {"fail": n} the first n lines get an error,
    {"status500": n} n lines answered 500, {"invalid": n} n lines answered with unusable JSON,
    {"expire_after": n} the batch expires after n lines, {"no_output": True} completed without files.
    """

    def __init__(self, chat: FakeOpenAI):
        self.chat = chat
        self.lock = threading.Lock()
        self.files: dict[str, dict] = {}
        self.batches: dict[str, dict] = {}
        self.max_file_bytes: int | None = None
        self.refuse_uploads: str | None = None  # every upload answered 400 with this message
        self.token_limit: int | None = None  # prompt tokens enqueued at once, across open batches
        self.lines_per_poll: int | None = None  # None: a batch answers every line at its first in_progress poll
        self.scripts: deque[dict] = deque()
        self.gates: dict[str, Gate] = {}  # "upload", "create", "download" -> a Gate
        self.uploads: list[str] = []  # file names, in order
        self.creates: list[dict] = []  # metadata of every batch created
        self.answered: list[str] = []  # custom_id of every line answered (successfully or not)
        self.seed = 7
        self._n = 0
        self.listing = True  # False: GET /files answers 404, as a gateway without file listing does
        self.listings = 0  # GET /files requests seen
        self.cancel_conflict = False  # True: POST /batches/{id}/cancel answers 409, as for a batch that cannot be cancelled
        self.cancels = 0  # cancel requests seen

    def gate(self, route: str) -> Gate:
        gate = Gate()
        self.gates[route] = gate
        return gate

    def _wait_gate(self, route: str) -> None:
        with self.lock:
            gate = self.gates.pop(route, None)  # only the first request of the route is held
        if gate is not None:
            gate.arrived.set()
            gate.release.wait(30)

    def _id(self, prefix: str) -> str:
        with self.lock:
            self._n += 1
            return f"{prefix}-{self._n:04d}"

    @staticmethod
    def _tokens(body: dict) -> int:
        return sum(len(str(m.get("content") or "")) for m in body.get("messages", [])) // 4

    # -- routes ----------------------------------------------------------------------------------
    def post(self, route: str, data: bytes, ctype: str) -> tuple[int, dict]:
        if route.endswith("/files"):
            return self._upload(data, ctype)
        if route.endswith("/batches"):
            return self._create(json.loads(data or b"{}"))
        if route.endswith("/cancel"):
            batch_id = route.split("/")[-2]
            with self.lock:
                self.cancels += 1
                if self.cancel_conflict:
                    return _err(409, f"Cannot cancel batch {batch_id}: it is being finalized.")
                b = self.batches.get(batch_id)
                if b is None:
                    return _err(404, f"No batch found with id '{batch_id}'.")
                if b["status"] in ("validating", "in_progress", "finalizing"):
                    b["status"] = "cancelling"
                return 200, self._public(b)
        return _err(404, f"no route {route}")

    def get(self, route: str, path: str) -> tuple[int, dict | bytes]:
        parts = route.split("/")
        if route.endswith("/files"):
            with self.lock:
                self.listings += 1
                if not self.listing:
                    return _err(404, f"no route {route}")
                data = [self._file_public(f) for f in self.files.values()]
            return 200, {"object": "list", "data": data, "has_more": False}
        if route.endswith("/content") and parts[-3] == "files":
            self._wait_gate("download")
            f = self.files.get(parts[-2])
            return (200, f["data"]) if f else _err(404, f"No such File object: {parts[-2]}")
        if route.endswith("/batches"):
            with self.lock:
                data = [self._public(b) for b in reversed(list(self.batches.values()))]
            return 200, {"object": "list", "data": data, "has_more": False, "first_id": None, "last_id": None}
        if parts[-2] == "batches":
            with self.lock:
                b = self.batches.get(parts[-1])
                if b is None:
                    return _err(404, f"No batch found with id '{parts[-1]}'.")
                self._advance(b)
                return 200, self._public(b)
        return _err(404, f"no route {route}")

    def _upload(self, data: bytes, ctype: str) -> tuple[int, dict]:
        from email.parser import BytesParser
        from email.policy import HTTP

        msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + data)
        fields, name, content = {}, None, b""
        for part in msg.iter_parts():
            field = part.get_param("name", header="content-disposition")
            if part.get_filename():
                name, content = part.get_filename(), part.get_payload(decode=True)
            else:
                fields[field] = part.get_payload(decode=True).decode()
        if fields.get("purpose") != "batch" or name is None:
            return _err(400, "expected a file with purpose 'batch'")
        if self.refuse_uploads:
            return _err(400, self.refuse_uploads)
        if self.max_file_bytes is not None and len(content) > self.max_file_bytes:
            return _err(400, f"File is too large: {len(content)} bytes exceeds the limit of {self.max_file_bytes} bytes.")
        file_id = self._id("file")
        with self.lock:
            self.files[file_id] = {"id": file_id, "filename": name, "data": content, "created_at": int(time.time())}
            self.uploads.append(name)
        self._wait_gate("upload")  # done, but the answer is held (or lost, if the client is gone)
        return 200, self._file_public(self.files[file_id])

    def _create(self, body: dict) -> tuple[int, dict]:
        code, payload = self._make_batch(body)
        self._wait_gate("create")  # made, but the answer is held (or lost, if the client is gone)
        return code, payload

    def _make_batch(self, body: dict) -> tuple[int, dict]:
        f = self.files.get(body.get("input_file_id"))
        if f is None:
            return _err(400, f"Invalid input_file_id: {body.get('input_file_id')}")
        if body.get("endpoint") != "/v1/chat/completions" or body.get("completion_window") != "24h":
            return _err(400, "endpoint must be /v1/chat/completions and completion_window 24h")
        lines = [json.loads(x) for x in f["data"].splitlines() if x.strip()]
        for line in lines:
            if set(line) != {"custom_id", "method", "url", "body"} or line["url"] != "/v1/chat/completions":
                return _err(400, "each line needs custom_id, method, url and body")
        ids = [line["custom_id"] for line in lines]
        if len(set(ids)) != len(ids):
            return _err(400, "custom_id values must be unique within a batch")
        batch_id = self._id("batch")
        tokens = sum(self._tokens(line["body"]) for line in lines)
        with self.lock:
            script = self.scripts.popleft() if self.scripts else {}
            b = {"id": batch_id, "input_file_id": f["id"], "status": "validating", "metadata": body.get("metadata") or {},
                 "created_at": int(time.time()), "lines": lines, "done": 0, "output": [], "errors": [], "tokens": tokens,
                 "script": script, "output_file_id": None, "error_file_id": None, "failed_code": None}
            open_tokens = sum(x["tokens"] for x in self.batches.values()
                              if x["status"] in ("validating", "in_progress", "finalizing", "cancelling"))
            if self.token_limit is not None and open_tokens + tokens > self.token_limit:
                b["status"], b["failed_code"] = "failed", "token_limit_exceeded"
            self.batches[batch_id] = b
            self.creates.append(dict(b["metadata"]))
            return 200, self._public(b)

    # -- a batch's life --------------------------------------------------------------------------
    def _advance(self, b: dict) -> None:
        if b["status"] == "validating":
            b["status"] = "in_progress"
            return
        if b["status"] == "cancelling":
            b["status"] = "cancelled"
            self._not_run(b, "batch_cancelled", "This request was not executed because the batch was cancelled.")
            self._files_of(b)
            return
        if b["status"] != "in_progress":
            return
        script = b["script"]
        step = self.lines_per_poll or len(b["lines"])
        expire = script.get("expire_after")
        while step and b["done"] < len(b["lines"]):
            if expire is not None and b["done"] >= expire:
                break
            self._answer(b, b["lines"][b["done"]], b["done"])
            b["done"] += 1
            step -= 1
        if expire is not None and b["done"] >= expire:
            b["status"] = "expired"
            self._not_run(b, "batch_expired", "This request could not be executed before the completion window expired.")
            self._files_of(b)
        elif b["done"] >= len(b["lines"]):
            b["status"] = "completed"
            if not script.get("no_output"):
                self._files_of(b)
            if script.get("lose_output") and b["output_file_id"]:
                self.files.pop(b["output_file_id"])  # the provider no longer has it: downloads answer 404

    def _not_run(self, b: dict, code: str, message: str) -> None:
        """As OpenAI does, every request a batch did not run gets an error line with this code."""
        for n, line in enumerate(b["lines"][b["done"]:], b["done"]):
            b["errors"].append({"id": f"req-{b['id']}-{n}", "custom_id": line["custom_id"], "response": None,
                                "error": {"code": code, "message": message}})

    def _answer(self, b: dict, line: dict, n: int) -> None:
        script = b["script"]
        custom_id = line["custom_id"]
        self.answered.append(custom_id)
        rid = f"req-{b['id']}-{n}"
        if n < script.get("fail", 0):
            b["errors"].append({"id": rid, "custom_id": custom_id, "response": None,
                                "error": {"code": "server_error",
                                          "message": script.get("message", "The model crashed on this line.")}})
        elif n < script.get("fail", 0) + script.get("status500", 0):
            b["errors"].append({"id": rid, "custom_id": custom_id, "error": None, "response": {
                "status_code": 500, "request_id": rid,
                "body": {"error": {"message": "The server had an error processing your request.", "type": "server_error"}}}})
        elif n < sum(script.get(k, 0) for k in ("fail", "status500", "garbage")):
            # lines no engine should write: nested past any parser's depth, a numeric error code
            b["raw"] = b.get("raw", []) + ['{"custom_id": "' + custom_id + '", "x": ' + "[" * 100000 + "]" * 100000 + "}",
                                           json.dumps({"custom_id": custom_id, "error": {"code": 500, "message": "x"}})]
        elif (refused := self.chat.refusal(line["body"])) is not None:  # a line the model does not take: a day lost
            b["errors"].append({"id": rid, "custom_id": custom_id, "error": None, "response": {
                "status_code": refused[0], "request_id": rid, "body": refused[1]}})
        else:
            fault = INVALID_JSON if n < sum(script.get(k, 0) for k in ("fail", "status500", "garbage", "invalid")) else None
            b["output"].append({"id": rid, "custom_id": custom_id, "error": None, "response": {
                "status_code": 200, "request_id": rid, "body": self.chat.completion(line["body"], fault)}})

    def _files_of(self, b: dict) -> None:
        import random

        for kind, rows in (("output_file_id", b["output"]), ("error_file_id", b["errors"])):
            if not rows:
                continue
            rows = [json.dumps(r) for r in rows] + (b.get("raw", []) if kind == "output_file_id" else [])
            random.Random(self.seed + len(self.batches)).shuffle(rows)  # results come in any order
            file_id = f"file-{kind.split('_')[0]}-{b['id']}"
            self.files[file_id] = {"id": file_id, "filename": f"{b['id']}_{kind}.jsonl", "created_at": int(time.time()),
                                   "data": "".join(r + "\n" for r in rows).encode()}
            b[kind] = file_id

    def _public(self, b: dict) -> dict:
        errors = None
        if b["failed_code"]:
            errors = {"object": "list", "data": [{"code": b["failed_code"], "line": None, "param": None,
                                                  "message": "Enqueued token limit reached for test-model."}]}
        return {"id": b["id"], "object": "batch", "endpoint": "/v1/chat/completions", "errors": errors,
                "input_file_id": b["input_file_id"], "completion_window": "24h", "status": b["status"],
                "output_file_id": b["output_file_id"], "error_file_id": b["error_file_id"],
                "created_at": b["created_at"], "metadata": b["metadata"],
                "request_counts": {"total": len(b["lines"]), "completed": len(b["output"]), "failed": len(b["errors"])}}

    @staticmethod
    def _file_public(f: dict) -> dict:
        return {"id": f["id"], "object": "file", "bytes": len(f["data"]), "created_at": f["created_at"],
                "filename": f["filename"], "purpose": "batch", "status": "processed"}
