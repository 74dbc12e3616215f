"""What made each version of a page: the model and server, the prompt templates and their exact text, the settings,
tokens, cost, lane and time; kept with the version in the draft's history, and carried into the approve commit as
git trailers, so that it survives publishing (the page format is the site's and stays byte-exact).

A version's record:

    {"model": "gpt-4o-mini-2024-07-18", "server": "api.openai.com", "templates": ["system.j2", "user.j2"],
     "prompt": "3f9c0a1b2c4d", "rendered": "77aa01c2d3e4", "temperature": 0.7, "max_tokens": 1500,
     "strategy": "json_schema", "tokens_in": 412, "tokens_out": 690, "cost": 0.00048, "lane": "online",
     "time": "2026-12-01T11:02:03"}

`prompt` is a hash of the templates' exact text (every page drafted with the same templates shares it: what
`revise --made-with prompt=HASH` selects by); `rendered` a hash of the very messages sent. The server is its host
alone: never a key, never credentials in a URL.

In the approve commit these records become git trailers (see `provenance`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

from ..config import Config



def short(text: str | bytes) -> str:
    return hashlib.sha256(text if isinstance(text, bytes) else text.encode("utf-8")).hexdigest()[:12]


def host_of(url: str | None) -> str | None:
    """A server's host (and port), nothing else: no scheme, credentials, path or query."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        return f"{host}:{parts.port}" if parts.port else host or None
    except ValueError:
        return None


def of_prompts(config: Config, built: list) -> dict:
    """The templates a prompt was built from (their names and a hash of their exact text) and a hash of the
    messages themselves."""
    from ..llm.prompts import packaged_prompts

    folders = [config.prompts.resolve(), packaged_prompts().resolve()]
    names, texts = [], []
    for source in sorted({s for prompt in built for s in prompt.sources}):
        path = Path(source).resolve()
        name = path.name
        for folder in folders:
            if path.is_relative_to(folder):
                name = str(path.relative_to(folder))
                break
        names.append(name)
        try:
            texts.append(name + "\0" + path.read_text(encoding="utf-8"))
        except OSError:
            texts.append(name)
    rendered = json.dumps([p.messages() for p in built], ensure_ascii=False, sort_keys=True)
    return {"templates": names, "prompt": short("\0\0".join(texts)), "rendered": short(rendered)}


def of_completion(config: Config, settings, completion, prompt: dict | None, lane: str) -> dict:
    """A version's whole record, from the client's settings, what came back and the prompt's record."""
    from ..llm.parameters import reasoning_model
    from ..llm.pricing import price

    u = completion.usage
    served = safe_model(completion.model, settings.model)
    record = {"model": served, "asked": safe_model(settings.model, "?"),
              "server": host_of(getattr(settings, "azure_endpoint", None) or settings.base_url),
              **(prompt or {}), "temperature": settings.temperature, "max_tokens": settings.max_tokens,
              "strategy": completion.mode, "tokens_in": u.prompt_tokens, "tokens_out": u.completion_tokens,
              "cost": None,  # no price known: never $0
              "lane": lane, "time": dt.datetime.now().isoformat(timespec="seconds")}
    spent = price(config, served, u, "export" if lane == "import" else lane)
    record["cost"] = round(spent, 8) if spent is not None else None
    if u.reasoning_tokens or reasoning_model(served):
        record.update(reasoning_effort=getattr(settings, "reasoning_effort", None) or "default",
                      tokens_reasoning=u.reasoning_tokens)
    if u.cached_tokens:
        record["tokens_cached"] = u.cached_tokens
    return record


_MODEL_NAME = re.compile(r"[\w.:/@+-]{1,100}")
HEX = re.compile(r"[0-9a-f]{4,64}")


def safe_model(served: str | None, asked: str) -> str:
    """The model a server says it used, if it reads as a model name (no spaces, breaks, escapes or anything a secret
    could hide in at length); else the model asked for."""
    text = str(served or "")
    return text if _MODEL_NAME.fullmatch(text) and not text.startswith(("sk-", "sess-")) else asked


def of_sent(body: dict, record: dict) -> dict:
    """What a request sent earlier (a Batch API line) says of itself: the hash of its messages, temperature and
    max_tokens; the templates' record stands only if they still render those very messages."""
    messages = body.get("messages") or []
    rendered = short(json.dumps([messages], ensure_ascii=False, sort_keys=True))
    out = {"rendered": rendered, "temperature": body.get("temperature", record.get("temperature")),
           "max_tokens": body.get("max_tokens", record.get("max_tokens"))}
    if rendered != record.get("rendered"):
        out.update(prompt=None, templates=["(changed since the request was sent)"])
    return out


def describe(record: dict | None) -> str:
    """One line for `history` and `show`."""
    if not record or not record.get("model"):
        judged = record.get("judge") if record else None
        return "not made by a model through qtgen (or before it kept provenance)" + (
            f"; judged {judged['verdict']} {judged['score']} by {judged['model']}" if judged else "")
    parts = [f"{record.get('model')} at {record.get('server') or '?'}", f"{record.get('lane')}"]
    if record.get("prompt"):
        parts.append(f"prompt {record['prompt']} ({', '.join(record.get('templates') or [])})")
    parts.append(f"temperature {record.get('temperature')}, max_tokens {record.get('max_tokens')}, "
                 f"{record.get('strategy')}")
    spent = record.get("cost")
    parts.append(f"{record.get('tokens_in', 0)} + {record.get('tokens_out', 0)} tokens, "
                 + (f"${spent:.5f}" if isinstance(spent, (int, float)) else "price unknown"))
    if record.get("judge"):
        j = record["judge"]
        parts.append(f"judged {j['verdict']} {j['score']} by {j['model']}")
    return "; ".join(parts)
