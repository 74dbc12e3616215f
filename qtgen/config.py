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


def setting(default=None, doc: str = "", *, low=None, high=None, unit: str = "", factory=None, secret=False):
    """A setting's definition: its default, what it does (the configuration reference is generated from these), and
    the range it must lie in (a bound may name another setting: `desc_min` up to `desc_max`); `_check_ranges`
    checks each value against that range."""
    meta = {"doc": doc, "low": low, "high": high, "unit": unit}
    if factory is not None:
        return field(default_factory=factory, metadata=meta, repr=not secret)
    return field(default=default, metadata=meta, repr=not secret)


@dataclass
class Config:
    site_name: str = setting("QuickTakes", "The site's name: `seo.title` is \"<site_name> | <subject>\".")
    author: str = setting("QuickTakes", "The `author` of every page.")
    url_pattern: str = setting("/learn/{subject_slug}/questions/{slug}", "A page's `url`, from `{subject_slug}` and "
                               "`{slug}`.")
    content_pattern: str = setting("{subject_slug}/{file_name}", "Where a published page lives in `content_dir`.")
    slug_style: str = setting("site", "`site`: the site's own slug rule; `slugify`: python-slugify's transliterating "
                              "style.")
    drafts_dir: Path = setting(Path("drafts"), "The review queue (never inside `content_dir`; keep it out of git).")
    content_dir: Path = setting(Path("content/learn"), "The published pages: `<content_dir>/<subject-slug>/"
                                "<file_name>`.")
    prompts_dir: Path = setting(Path("prompts"), "Templates here override the packaged ones by name "
                                "(`<subject-slug>/system.j2` for one subject).")
    model: str = setting("gpt-6-luna", "The drafting model (`QTGEN_MODEL`, `--model`). A key or a base URL selects "
                         "the server; with neither, the built-in offline model drafts.")
    base_url: str | None = setting(None, "An OpenAI-compatible server (`OPENAI_BASE_URL`, `--base-url`).")
    api_key: str | None = setting(None, "Read from `OPENAI_API_KEY` (or `AZURE_OPENAI_API_KEY`); held in memory only, "
                                  "never written.", secret=True)
    azure_endpoint: str | None = setting(None, "Azure OpenAI: the resource's endpoint (`AZURE_OPENAI_ENDPOINT`); "
                                         "`model` is then a deployment name.")
    api_version: str = setting("2024-10-21", "Azure OpenAI's api-version (`OPENAI_API_VERSION`).")
    deployments: dict = setting(doc="Azure: `[deployments]` maps a deployment name to the model it serves (its "
                                "family and price).", factory=dict)
    temperature: float = setting(0.7, "Sampling temperature; left out (and said once) for reasoning models, which "
                                 "take only their default.", low=0, high=2, unit="sampling temperature,")
    max_tokens: int = setting(1500, "The answer's length; a reasoning model's request adds room to reason on top.",
                              low=1, high=1_000_000, unit="answer tokens,")
    reasoning_effort: str = setting("low", "Reasoning models (gpt-5, gpt-6, o-series): none, minimal, low, medium, "
                                    "high, xhigh, max, or `default` (the model's own).")
    timeout: float = setting(120.0, "Seconds per request.", low=1, high=3600, unit="seconds,")
    retries: int = setting(4, "Attempts after the first (429, 408, 409, 5xx, timeouts, dropped connections).",
                           low=0, high=20)
    retry_wait: float = setting(1.0, "The first backoff, doubled each time, with jitter.", low=0, high=600,
                                unit="seconds,")
    retry_wait_max: float = setting(60.0, "The longest wait between attempts (a server's Retry-After included).",
                                    low="retry_wait", high=3600, unit="seconds, from retry_wait:")
    desc_min: int = setting(70, "`page_description`'s shortest length.", low=1, high="desc_max",
                            unit="characters, up to desc_max:")
    desc_max: int = setting(117, "`page_description`'s longest length: the site prints \"Get the full answer from "
                            "QuickTakes - \" (38) first, and results show about 155.", low=1, high=1000,
                            unit="characters,")
    kw_min: int = setting(5, "The fewest `page_keywords`.", low=1, high="kw_max", unit="keywords, up to kw_max:")
    kw_max: int = setting(15, "The most `page_keywords`.", low=1, high=100, unit="keywords,")
    id_start: int | None = setting(None, "The lowest id for new pages (default: after the site's highest).",
                                   low=1, high=2**63 - 1)
    similar_threshold: float = setting(80.0, "The site-weighted similarity (0-100) at which a question is refused "
                                       "as a near-duplicate of a published one.", low=0, high=100, unit="a score,")
    similar_check: bool = setting(False, "Put pairs scoring inside `similar_band` to the model (never the offline "
                                  "model).")
    similar_band: tuple = setting((70.0, 90.0), "With `similar_check`: below, never a duplicate; above, always; "
                                  "inside, the model says.")
    structured: bool | None = setting(None, "One JSON request per draft; `false`: plain Markdown, SEO derived from "
                                      "it (the default for the offline model).")
    lint_words: tuple = setting((150, 650), "`[min, max]` words of an answer before QT001 warns.")
    lint: dict = setting(doc="`[lint]`: `disable` (a list of rule ids) and `levels` (rule id = error, warning or "
                         "info).", factory=dict)
    judge_model: str | None = setting(None, "The model `qtgen judge` asks (default: `model`); a stronger one catches "
                                      "more.")
    judge: dict = setting(doc="`[judge]`: approve's gate: `required` (true: drafts the judge has not passed wait, "
                          "unless `approve --override \"why\"`), `min_score` (0-100) and `model`.", factory=dict)
    prices: dict = setting(doc="`[prices]`: model = [USD per 1M input tokens, per 1M output(, cached input)]; "
                           "genai-prices knows OpenAI's models, a name here wins (and its dated snapshots).",
                           factory=dict)
    batch_prices: dict = setting(doc="`[batch_prices]`: the Batch API's prices (default: genai-prices' batch rates, "
                                 "else half of `prices`).", factory=dict)
    batch_lane: str = setting("online", "How `qtgen batch` sends requests: `online` or `batch-api`.")
    batch_api_max_requests: int = setting(50_000, "Requests in one Batch API file (OpenAI's limit).", low=1,
                                          high=50_000, unit="the Batch API's limit:")
    batch_api_max_bytes: int = setting(200_000_000, "Bytes in one Batch API file (OpenAI's limit).", low=1,
                                       high=200_000_000, unit="the Batch API's limit:")
    batch_api_token_cap: int | None = setting(None, "Prompt tokens enqueued at once (the account's batch queue "
                                              "limit; learned from token_limit_exceeded).", low=1)
    batch_api_poll: float = setting(30.0, "Seconds between polls of open batches (`--wait`).", low=0, high=3600,
                                    unit="seconds between polls,")
    local_model: str | None = setting(None, "Another GGUF for the offline model's server (`QTGEN_LOCAL_MODEL`).")
    local_ctx: int = setting(4096, "The offline model's context.", low=256, high=1_000_000, unit="tokens,")
    local_threads: int | None = setting(None, "Threads for the offline model (default: the machine's cores).",
                                        low=1, high=1024)
    lock_timeout: float = setting(120.0, "Seconds approve (and a change of a draft) waits for another one to finish.",
                                  low=0, high=86_400, unit="seconds,")
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

        for f in dataclasses.fields(self):
            low, high = f.metadata.get("low"), f.metadata.get("high")
            if low is None and high is None:
                continue
            low = getattr(self, low) if isinstance(low, str) else low  # a bound that is another setting
            high = getattr(self, high) if isinstance(high, str) else high
            within(f.name, low, high, f.metadata.get("unit", ""))
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


def settings() -> list[dataclasses.Field]:
    """Every setting a config file may hold, with its definition (`setting`): what the reference is generated from."""
    return [f for f in dataclasses.fields(Config) if f.name in _SETTABLE]
