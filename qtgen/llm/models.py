"""Which models are current: qtgen's defaults, and the shutdown dates the provider has announced.

The dates are read from the installed openai SDK (`openai/types/shared/chat_model.py`, whose "Deprecated values"
list each model with its announced shutdown date), so a newer SDK brings newer dates without a change here. The
file is read as text: nothing of the SDK is imported for it.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.util
import re
from pathlib import Path

DEFAULT_MODEL = "gpt-6-luna"  # OpenAI's model for "focused, high-volume tasks", $0.10 / $0.50 per million tokens
DEFAULT_JUDGE = "gpt-6.1-terra"  # a stronger, still inexpensive grader ($1 / $5): `qtgen init` suggests it
_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")
_BLOCK = re.compile(r'^- ((?:"[^"]+",?\s*)+):\s*Announced shutdown date:\s*(\d{4}-\d{2}-\d{2})', re.M)


def _sdk_models_file() -> Path | None:
    try:
        spec = importlib.util.find_spec("openai")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "types" / "shared" / "chat_model.py"
    return path if path.is_file() else None


@functools.lru_cache(maxsize=1)
def shutdowns() -> dict[str, dt.date]:
    """Every model the installed SDK lists as deprecated, with its announced shutdown date."""
    path = _sdk_models_file()
    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    start = text.find("Deprecated values")
    if start < 0:
        return {}
    out: dict[str, dt.date] = {}
    for names, date in _BLOCK.findall(" ".join(line.strip() if not line.lstrip().startswith("- ") else "\n" + line.strip()
                                               for line in text[start:].splitlines())):
        try:
            when = dt.date.fromisoformat(date)
        except ValueError:
            continue
        for name in re.findall(r'"([^"]+)"', names):
            out[name] = when
    return out


def shutdown_of(model: str) -> dt.date | None:
    """The announced shutdown date of a model (a dated name takes its own entry, else its base name's)."""
    name = (model or "").strip().lower().rsplit("/", 1)[-1]
    known = shutdowns()
    if name in known:
        return known[name]
    return known.get(_DATED.sub("", name))


def replacement(model: str) -> str:
    """A current model to move to: the inexpensive default for small models, a mid-size one for the rest."""
    name = (model or "").lower()
    if any(word in name for word in ("mini", "nano", "luna", "3.5")):
        return DEFAULT_MODEL
    return DEFAULT_JUDGE


def shutdown_warning(model: str, today: dt.date | None = None) -> str | None:
    """One line for a model the provider has announced for shutdown (or has shut down), else None."""
    when = shutdown_of(model)
    if when is None:
        return None
    today = today or dt.date.today()
    verb = "was shut down on" if when <= today else "shuts down on"
    return (f"{model} {verb} {when.isoformat()} (announced by OpenAI); move to {replacement(model)}: set model "
            f"(or QTGEN_MODEL, --model) to it")
