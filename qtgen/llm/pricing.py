"""What requests cost: prices from genai-prices (Pydantic's price data, shipped inside its wheel: never updated at
run time), overridden by the config's `[prices]` and `[batch_prices]`.

    price = Pricing(config.prices, config.batch_prices)
    price.cost("gpt-6-luna-2026-09-22", Usage(1200, 900, reasoning_tokens=300, cached_tokens=1024), ONLINE)

- A dated name (`gpt-4.1-nano-2025-04-14`) is priced as its own model (genai-prices matches dated names exactly); a
  configured price applies to its name and that name's dated snapshots (`NAME-YYYY-MM-DD`), never to another model
  that merely starts with it.
- Reasoning tokens are part of the output and priced as output; cached prompt tokens at the cached rate.
- The Batch API has its own prices (`[batch_prices]`, else genai-prices' batch rates, else half the online price).
- A model with no known price costs None, never $0: a cost cap on it is refused before any request (`require`).

`Meter` holds one command's spending under a cap: every attempt's usage counts (unreadable replies included), and
before an attempt it reserves what that attempt may cost.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from enum import StrEnum

from ..config import Config, uses_local
from ..errors import InputError, LLMError
from .reply.usage import Usage

class Lane(StrEnum):
    """How a request travels, and so what it costs: the one vocabulary of lanes (stored as their values)."""

    ONLINE = "online"
    BATCH_API = "batch-api"  # the provider's Batch API: half the price, within 24 h
    EXPORT = "export"  # run by another engine on your own machines: no provider bill


ONLINE, BATCH_API, EXPORT = Lane.ONLINE, Lane.BATCH_API, Lane.EXPORT
_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Rates:
    """US dollars per million tokens."""

    input: float
    output: float
    cached_input: float | None = None  # None: as input

    def cost(self, usage: Usage) -> float:
        cached = min(usage.cached_tokens, usage.prompt_tokens) if self.cached_input is not None else 0
        return ((usage.prompt_tokens - cached) * self.input + cached * (self.cached_input or 0.0)
                + usage.completion_tokens * self.output) / 1_000_000


def _base(model: str) -> str:
    return (model or "").strip().rsplit("/", 1)[-1]


class Pricing:
    def __init__(self, prices: dict | None = None, batch_prices: dict | None = None):
        self.prices = {k: tuple(v) for k, v in (prices or {}).items()}
        self.batch_prices = {k: tuple(v) for k, v in (batch_prices or {}).items()}

    @staticmethod
    def _configured(table: dict, model: str) -> Rates | None:
        name = _base(model)
        found = table.get(model) or table.get(name) or table.get(_DATED.sub("", name))
        if found is None:
            return None
        return Rates(float(found[0]), float(found[1]), float(found[2]) if len(found) > 2 else None)

    def cost(self, model: str, usage: Usage, lane: str = ONLINE) -> float | None:
        """Dollars for one request's usage; None when no price is known for the model."""
        if lane == EXPORT:
            return 0.0
        if lane == BATCH_API:
            own = self._configured(self.batch_prices, model)
            if own is not None:
                return own.cost(usage)
            if self._configured(self.prices, model) is not None:  # a configured online price: half of it
                online = self._configured(self.prices, model)
                return Rates(online.input / 2, online.output / 2,
                             None if online.cached_input is None else online.cached_input / 2).cost(usage)
            return _library_cost(model, usage, batch=True)
        own = self._configured(self.prices, model)
        if own is not None:
            return own.cost(usage)
        return _library_cost(model, usage, batch=False)

    def known(self, model: str, lane: str = ONLINE) -> bool:
        return self.cost(model, Usage(1, 1), lane) is not None

    def require(self, model: str, setting: str, lane: str = ONLINE) -> None:
        """InputError naming the model and the setting that gives it a price, when a cost cap cannot be kept."""
        if not self.known(model, lane):
            table = "batch_prices" if lane == BATCH_API else "prices"
            raise InputError(f"{setting}: no price is known for {model!r}, so a cost cap cannot be kept; give it one "
                             f"in qtgen.toml ([{table}] \"{model}\" = [input, output] dollars per million tokens)")

    def most(self, model: str, prompt_tokens: int, completion_tokens: int, lane: str = ONLINE) -> float | None:
        """The most a request can cost: its prompt, and every token it may generate, at full price."""
        return self.cost(model, Usage(prompt_tokens, completion_tokens), lane)


def _library_cost(model: str, usage: Usage, batch: bool) -> float | None:
    """genai-prices' price of this usage for an OpenAI model (dated names matched exactly), or None."""
    try:
        from genai_prices import Usage as PriceUsage
        from genai_prices import calc_price
    except ImportError:  # pragma: no cover - a dependency; kept optional for a broken install's sake
        return None
    name = _base(model)
    if not name:
        return None
    try:
        found = calc_price(PriceUsage(input_tokens=usage.prompt_tokens, cache_read_tokens=usage.cached_tokens,
                                      output_tokens=usage.completion_tokens), name, provider_id="openai",
                           price_context={"processing": "batch"} if batch else None)
    except (LookupError, ValueError):
        return None
    return float(found.total_price)


class CostCapReached(LLMError):
    """The next request could take spending past the cap: not sent."""


class Meter:
    """One command's spending, shared by its threads; `cap` None: counted, never refused."""

    def __init__(self, pricing: Pricing, cap: float | None = None, lane: str = ONLINE):
        self.pricing, self.cap, self.lane = pricing, cap, lane
        self.spent = 0.0
        self.usage = Usage()
        self.requests = 0
        self.unpriced = False
        self._reserved = 0.0
        self._lock = threading.Lock()

    def reserve(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        """Hold what one attempt may cost; CostCapReached (nothing held) when it could pass the cap."""
        most = self.pricing.most(model, prompt_tokens, completion_tokens, self.lane)
        with self._lock:
            if self.cap is not None and most is not None and self.spent + self._reserved + most > self.cap + 1e-12:
                raise CostCapReached(f"--max-cost ${self.cap:g} reached: ${self.spent:.4f} spent, and the next request "
                                     f"may cost up to ${most:.4f}; not sent")
            self._reserved += most or 0.0
        return most or 0.0

    def spend(self, model: str, usage: Usage, held: float = 0.0) -> float | None:
        """Count one attempt's usage (whatever came of it) and let go of what was held for it."""
        cost = self.pricing.cost(model, usage, self.lane)
        with self._lock:
            self._reserved = max(0.0, self._reserved - held)
            self.usage = self.usage + usage
            self.requests += 1
            if cost is None:
                self.unpriced = True
            else:
                self.spent += cost
        return cost


# -- prices as a config sets them --------------------------------------------------------------------------------
def of_config(config: Config) -> Pricing:
    """Prices as this config sets them: [prices] and [batch_prices] over genai-prices' data."""
    return Pricing(config.prices, config.batch_prices)


def price(config: Config, model: str, usage: Usage, lane: str = ONLINE) -> float | None:
    """Dollars for one answer's usage at its lane's prices: of the model the server says answered, else (a name
    no price list holds, such as `...-latest`) of the model asked for, whose price the cost cap was checked
    against; None where neither has a price."""
    table = of_config(config)
    found = table.cost(model, usage, lane) if model else None
    if found is None and model != config.model:
        found = table.cost(config.deployments.get(config.model, config.model), usage, lane)
    return found


def cost(config: Config, model: str, usage: Usage, lane: str = ONLINE) -> float:
    """`price`, 0.0 where no price is known (a cost cap on such a model is refused before any request)."""
    return price(config, model, usage, lane) or 0.0


def cap_of(config: Config, max_cost: float | None, lane: str = ONLINE, model: str | None = None) -> None:
    """Before any request: InputError when a cost cap is asked for a model with no known price (it could not hold).
    The offline model costs nothing."""
    if max_cost is None or uses_local(config):
        return
    name = model or config.model
    of_config(config).require(config.deployments.get(name, name), "--max-cost", lane)
