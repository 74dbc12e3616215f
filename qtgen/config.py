"""Settings: defaults < qtgen.toml or [tool.qtgen] < environment < command-line flags.

Folders are relative to the folder holding the config file, or the current folder without one.
The API key is held in memory only; it is never written, logged or printed.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError

OPENAI_URL = "https://api.openai.com/v1"

ENV = {
    "QTGEN_MODEL": "model",
    "OPENAI_BASE_URL": "base_url",
    "OPENAI_API_KEY": "api_key",
    "AZURE_OPENAI_ENDPOINT": "azure_endpoint",
    "AZURE_OPENAI_API_KEY": "api_key",
    "OPENAI_API_VERSION": "api_version",
    "QTGEN_REASONING_EFFORT": "reasoning_effort",
    "QTGEN_LOCAL_MODEL": "local_model",
}
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max", "default")  # "default": the model's own


@dataclass
class Config:
    site_name: str = "QuickTakes"
    author: str = "QuickTakes"
    url_pattern: str = "/learn/{subject_slug}/questions/{slug}"
    content_pattern: str = "{subject_slug}/{file_name}"
    slug_style: str = "site"
    drafts_dir: Path = Path("drafts")
    content_dir: Path = Path("content/learn")
    prompts_dir: Path = Path("prompts")
    model: str = "gpt-6-luna"  # qtgen.llm.models.DEFAULT_MODEL
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    azure_endpoint: str | None = None  # Azure OpenAI: the resource's endpoint (models are then deployment names)
    api_version: str = "2024-10-21"  # Azure OpenAI's api-version
    deployments: dict = field(default_factory=dict)  # Azure: deployment name = the model it serves (family and price)
    temperature: float = 0.7  # left out (and said once) for reasoning models, which take only their default
    max_tokens: int = 1500  # the answer's length; a reasoning model's request adds room for reasoning
    reasoning_effort: str = "low"  # reasoning models: none, minimal, low, medium, high, xhigh, max, or default
    timeout: float = 120.0
    retries: int = 4
    retry_wait: float = 1.0
    retry_wait_max: float = 60.0
    desc_min: int = 70
    desc_max: int = 117  # the site prints "Get the full answer from QuickTakes - " (38) first; results show ~155
    kw_min: int = 5
    kw_max: int = 15
    id_start: int | None = None
    similar_threshold: float = 80.0  # site-weighted similarity (qtgen.site.similarity) at which a question is refused
    similar_check: bool = False  # put pairs scoring inside similar_band to the model (never with the offline model)
    similar_band: tuple = (70.0, 90.0)  # with similar_check: below, never a duplicate; above, always; inside, the model says
    structured: bool | None = None  # one JSON request per draft; None: yes, but plain Markdown for the offline model
    lint_words: tuple = (150, 650)
    lint: dict = field(default_factory=dict)  # {"disable": [...], "levels": {rule: level}}
    judge_model: str | None = None  # the model `qtgen judge` asks (None: the drafting model)
    judge: dict = field(default_factory=dict)  # {"required": bool, "min_score": 0-100, "model": name}: approve's gate
    prices: dict = field(default_factory=dict)  # model = [USD per 1M input tokens, per 1M output tokens]
    batch_prices: dict = field(default_factory=dict)  # the Batch API's prices; unset: half of `prices`
    batch_lane: str = "online"  # how `qtgen batch` sends requests: "online" or "batch-api"
    batch_api_max_requests: int = 50_000  # requests in one Batch API file (OpenAI's limit)
    batch_api_max_bytes: int = 200_000_000  # bytes in one Batch API file (OpenAI's limit)
    batch_api_token_cap: int | None = None  # prompt tokens enqueued at once (the account's batch queue limit)
    batch_api_poll: float = 30.0  # seconds between polls of open batches (--wait)
    local_model: str | None = None
    local_ctx: int = 4096
    local_threads: int | None = None
    lock_timeout: float = 120.0  # seconds approve (and a change of a draft) waits for another one to finish
    source: Path | None = None  # the config file read, if any
    root: Path = field(default_factory=Path.cwd)

    def path(self, value: Path) -> Path:
        """A configured folder, resolved against the config file's folder."""
        return value if value.is_absolute() else (self.root / value)

    @property
    def drafts(self) -> Path:
        return self.path(self.drafts_dir)

    @property
    def content(self) -> Path:
        return self.path(self.content_dir)

    @property
    def prompts(self) -> Path:
        return self.path(self.prompts_dir)

    @property
    def site_found(self) -> bool:
        """Whether there is a site here: its content tree (content/learn, or content_dir) exists."""
        return self.content.is_dir()

    def require_site(self, doing: str) -> None:
        """InputError, in one line, where there is no site to publish into (approve, revise, fix)."""
        if not self.site_found:
            how = (f"content_dir in {self.source}" if self.source is not None
                   else f"a folder holding content/learn, looked for from {self.root} upwards")
            raise InputError(f"{doing} no site here ({self.content} does not exist; qtgen uses {how}); run qtgen "
                             "inside the site's repository, or point it at one with --content PATH")

    def state(self, *parts: str) -> Path:
        """A path among qtgen's own files (`drafts/.qtgen/...`), refused if a symlink leads it out of drafts/."""
        from .paths import confined

        return confined(self.drafts.joinpath(".qtgen", *parts), self.drafts)

    def with_overrides(self, **values: Any) -> "Config":
        """A copy with the given non-None values set (command-line flags)."""
        clean = {k: _coerce(k, v) for k, v in values.items() if v is not None}
        return dataclasses.replace(self, **clean).checked()

    def checked(self) -> "Config":
        """This config, or InputError naming the first setting that cannot work."""
        samples = {"url_pattern": dict(subject_slug="s", slug="q"),
                   "content_pattern": dict(subject_slug="s", file_name="q.md")}
        for key, sample in samples.items():
            pattern = getattr(self, key)
            try:
                pattern.format(**sample)
            except (KeyError, IndexError, ValueError, AttributeError) as exc:
                allowed = ", ".join("{" + k + "}" for k in sample)
                raise InputError(f"config: {key} {pattern!r} can only use {allowed} ({type(exc).__name__}: {exc})") from None
        self._check_ranges()
        if self.batch_lane not in ("online", "batch-api"):
            raise InputError(f"config: batch_lane {self.batch_lane!r}: use \"online\" or \"batch-api\"")
        within_limits = {"batch_api_max_requests": 50_000, "batch_api_max_bytes": 200_000_000}
        for key, most in within_limits.items():
            if not 1 <= getattr(self, key) <= most:
                raise InputError(f"config: {key} = {getattr(self, key)} is out of range: 1 to {most} (the Batch API's limit)")
        if self.batch_api_token_cap is not None and self.batch_api_token_cap < 1:
            raise InputError("config: batch_api_token_cap must be at least 1 (or left out)")
        if not 0 <= self.batch_api_poll <= 3600:
            raise InputError("config: batch_api_poll is seconds between polls, 0 to 3600")
        if self.reasoning_effort not in EFFORTS:
            raise InputError(f"config: reasoning_effort {self.reasoning_effort!r}: use one of {', '.join(EFFORTS)}")
        if self.slug_style not in ("site", "slugify"):
            raise InputError(f"config: slug_style {self.slug_style!r}: use \"site\" or \"slugify\"")
        for key, names in (("base_url", "OPENAI_BASE_URL, --base-url"), ("azure_endpoint", "AZURE_OPENAI_ENDPOINT")):
            url = getattr(self, key)
            if not url:
                continue
            from urllib.parse import urlsplit

            try:
                parts = urlsplit(url)
                parts.port  # noqa: B018 - raises on a bad port
            except ValueError:
                raise InputError(f"{key} ({names}): not a valid URL") from None
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise InputError(f"{key} ({names}): give an http:// or https:// URL")
        if self.azure_endpoint:  # the resource's endpoint, as the portal shows it; a pasted .../openai/v1 is cut back
            import re

            self.azure_endpoint = re.sub(r"/openai(?:/v1)?/?$", "", self.azure_endpoint.rstrip("/")) or self.azure_endpoint
        if self.api_key and not all(33 <= ord(c) < 127 for c in self.api_key.strip()):
            raise InputError("OPENAI_API_KEY: holds characters an HTTP header cannot carry (spaces, non-ASCII)")
        if self.api_key:
            self.api_key = self.api_key.strip()
        drafts, content = self.drafts.resolve(), self.content.resolve()
        if drafts == content or drafts.is_relative_to(content):
            raise InputError(f"config: drafts_dir {self.drafts} lies inside the content tree {self.content}; qtgen "
                             "never writes its own files there (use a folder beside it, such as drafts/)")
        if content.is_relative_to(drafts):
            raise InputError(f"config: drafts_dir {self.drafts} holds the content tree {self.content}; drafts need a "
                             "folder of their own (such as drafts/ beside content/)")
        return self


    def _check_ranges(self) -> None:
        """Every number within the range where it can work: InputError naming the setting and its range."""
        def within(key: str, low: float | None, high: float | None, what: str = "") -> None:
            value = getattr(self, key)
            if value is None:
                return
            if (low is not None and value < low) or (high is not None and value > high) or value != value:
                span = (f"{_num(low)} to {_num(high)}" if low is not None and high is not None
                        else f"at least {_num(low)}" if low is not None else f"at most {_num(high)}")
                raise InputError(f"config: {key} = {_num(value)} is out of range: {what or 'use'} {span}")

        within("temperature", 0, 2, "sampling temperature,")
        within("max_tokens", 1, 1_000_000, "answer tokens,")
        within("timeout", 1, 3600, "seconds,")
        within("retries", 0, 20)
        within("retry_wait", 0, 600, "seconds,")
        within("retry_wait_max", self.retry_wait, 3600, "seconds, from retry_wait:")
        within("desc_max", 1, 1000, "characters,")
        within("desc_min", 1, self.desc_max, "characters, up to desc_max:")
        within("kw_max", 1, 100, "keywords,")
        within("kw_min", 1, self.kw_max, "keywords, up to kw_max:")
        within("id_start", 1, 2**63 - 1)
        within("similar_threshold", 0, 100, "a score,")
        within("local_ctx", 256, 1_000_000, "tokens,")
        within("local_threads", 1, 1024)
        within("lock_timeout", 0, 86_400, "seconds,")
        low, high = self.similar_band
        if not (0 <= low <= high <= 100):
            raise InputError(f"config: similar_band = [{_num(low)}, {_num(high)}]: two scores with 0 <= low <= high <= 100")
        low, high = self.lint_words
        if not 0 <= low <= high:
            raise InputError(f"config: lint_words = [{low}, {high}] is out of range: [min, max] with 0 <= min <= max")
        for key in ("prices", "batch_prices"):
            for model, pair in getattr(self, key).items():
                if not all(0 <= x < 10_000 and x == x for x in pair):
                    raise InputError(f"config: {key}.{model} = {list(pair)}: dollars per million tokens, 0 to 10000")
        if self.reasoning_effort not in EFFORTS:
            raise InputError(f"config: reasoning_effort {self.reasoning_effort!r}: use one of {', '.join(EFFORTS)}")


def _num(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


_FIELDS = {f.name: f for f in dataclasses.fields(Config)}
_PATHS = {"drafts_dir", "content_dir", "prompts_dir"}
_SETTABLE = set(_FIELDS) - {"source", "root"}


def _coerce(key: str, value: Any) -> Any:
    if key not in _FIELDS:
        raise InputError(f"config: unknown setting {key!r}")
    if key in _PATHS:
        return Path(str(value))
    if key == "lint":
        if not isinstance(value, dict) or set(value) - {"disable", "levels"}:
            raise InputError("config: [lint] takes 'disable' (a list of rule ids) and 'levels' (rule id = level)")
        return value
    if key == "judge":
        return _judge_table(value)
    if key in ("prices", "batch_prices"):
        what = (f"config: {key} maps a model to [input, output] dollars per million tokens, or [input, output, "
                "cached input]")
        if not isinstance(value, dict) or not all(isinstance(v, (list, tuple)) and len(v) in (2, 3) for v in value.values()):
            raise InputError(what)
        try:
            return {k: tuple(float(x) for x in v) for k, v in value.items()}
        except (TypeError, ValueError):
            raise InputError(what) from None
    if key == "deployments":
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) and v.strip()
                                                  for k, v in value.items()):
            raise InputError("config: [deployments] maps an Azure deployment name to the model it serves")
        return {k: v.strip() for k, v in value.items()}
    if key == "lint_words":
        if not (isinstance(value, (list, tuple)) and len(value) == 2):
            raise InputError("config: lint_words must be [min, max]")
        return tuple(_whole(key, v) for v in value)
    if key == "similar_band":
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise InputError("config: similar_band must be [low, high], two scores from 0 to 100")
        try:
            low, high = (float(v) for v in value)
        except (TypeError, ValueError):
            raise InputError("config: similar_band must be [low, high], two scores from 0 to 100") from None
        return (low, high)
    default = _FIELDS[key].default
    kind = type(default) if default is not None and not isinstance(default, Path) else None
    if key in ("id_start", "local_threads", "batch_api_token_cap"):
        kind = int
    if key == "structured":
        kind = bool
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise InputError(f"config: {key} must be true or false, got {value!r}")
    if kind is int:
        return _whole(key, value)
    if kind is float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InputError(f"config: {key} must be a number, got {value!r}") from None
        if not math.isfinite(number):
            raise InputError(f"config: {key} must be a finite number, got {value!r}")
        return number
    return value if value is None or isinstance(value, (str, Path)) else str(value)


def _judge_table(value: Any) -> dict:
    """[judge]: required (true/false), min_score (0 to 100) and model (the judge's model, as judge_model)."""
    if not isinstance(value, dict) or set(value) - {"required", "min_score", "model"}:
        raise InputError("config: [judge] takes 'required' (true or false), 'min_score' (0 to 100) and 'model'")
    out: dict = {}
    if "required" in value:
        if not isinstance(value["required"], bool):
            raise InputError(f"config: [judge] required must be true or false, got {value['required']!r}")
        out["required"] = value["required"]
    if "min_score" in value:
        score = _whole("judge.min_score", value["min_score"])
        if not 0 <= score <= 100:
            raise InputError(f"config: [judge] min_score = {score} is out of range: a score, 0 to 100")
        out["min_score"] = score
    if "model" in value:
        if not isinstance(value["model"], str) or not value["model"].strip():
            raise InputError("config: [judge] model must name a model")
        out["model"] = value["model"].strip()
    return out


def _whole(key: str, value: Any) -> int:
    """A whole number from TOML, an environment variable or a flag; InputError for anything else (1.5, inf, 'a')."""
    if isinstance(value, bool):
        raise InputError(f"config: {key} must be a whole number, got {value!r}")
    try:
        number = float(value) if not isinstance(value, int) else value
    except (TypeError, ValueError):
        raise InputError(f"config: {key} must be a whole number, got {value!r}") from None
    if isinstance(number, float) and (not math.isfinite(number) or not number.is_integer() or abs(number) > 2**63):
        raise InputError(f"config: {key} must be a whole number, got {value!r}")
    return int(number)


def find_config(start: Path) -> tuple[Path | None, dict]:
    """The nearest qtgen.toml, or pyproject.toml with [tool.qtgen], from `start` upwards."""
    for folder in (start, *start.parents):
        own = folder / "qtgen.toml"
        if own.is_file():
            return own, _read_toml(own)
        project = folder / "pyproject.toml"
        if project.is_file():
            data = _read_toml(project).get("tool", {}).get("qtgen")
            if data is not None:
                return project, data
        if (folder / "content" / "learn").is_dir():
            break  # the site's root: a config above it belongs to something else
    return None, {}


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from None


def load(config_file: Path | None = None, cwd: Path | None = None, environ: dict | None = None) -> Config:
    """Defaults, then the config file, then the environment."""
    cwd = Path(cwd or Path.cwd())
    environ = os.environ if environ is None else environ
    if config_file is not None:
        source: Path | None = Path(config_file)
        if not source.is_file():
            raise InputError(f"{source}: config file not found")
        data = _read_toml(source)
        if source.name == "pyproject.toml":
            data = data.get("tool", {}).get("qtgen", {})
    else:
        source, data = find_config(cwd)
    values = {}
    for key, value in data.items():
        if key not in _SETTABLE:
            raise InputError(f"{source}: unknown setting {key!r}")
        values[key] = _coerce(key, value)
    for var, key in ENV.items():
        if environ.get(var) and key != "api_key":
            values[key] = environ[var]
    # each provider's key goes to its own endpoint only: an Azure key is never sent to another server, nor an
    # OpenAI key to Azure
    key_var = "AZURE_OPENAI_API_KEY" if values.get("azure_endpoint") else "OPENAI_API_KEY"
    if environ.get(key_var):
        values["api_key"] = environ[key_var]
    root = source.parent.resolve() if source else site_root(cwd.resolve())
    return Config(source=source, root=root, **values).checked()


def site_root(start: Path) -> Path:
    """Without a config file: the nearest folder (this one or above) holding content/learn, else `start`."""
    for folder in (start, *start.parents):
        if (folder / "content" / "learn").is_dir():
            return folder
    return start


def uses_local(config: Config) -> bool:
    """Whether this config drafts with the built-in offline model: no key, no server named."""
    return not config.api_key and not config.base_url and not config.azure_endpoint
