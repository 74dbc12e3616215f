"""What each server and model was found to take, kept across commands in the user cache (never a secret: keys are
the server's URL without credentials and the model).

- `response_formats.json`: the structured-output mode a server accepted (json_schema, json_object, instructions).
- `request_fits.json`: the parameters a server and model refused (`qtgen.llm.parameters.Fit`).

Remembering is an optimisation, never a failure: an unreadable or unwritable file is an empty memory.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from .parameters import Fit

JSON_SCHEMA = "json_schema"
JSON_OBJECT = "json_object"
INSTRUCTIONS = "instructions"
MODES = (JSON_SCHEMA, JSON_OBJECT, INSTRUCTIONS)


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qtgen"


class _JsonMap:
    """A small JSON object in a file, read once, written whole (atomically) on change."""

    _lock = threading.Lock()

    def __init__(self, path: Path):
        self.path = path
        self._data: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._data is None:
            try:
                data = json.loads(self.path.read_text("utf-8"))
            except (OSError, ValueError):
                data = {}
            self._data = data if isinstance(data, dict) else {}
        return self._data

    def _store(self, key: str, value: Any) -> None:
        with self._lock:
            data = self._load()
            if data.get(key) == value:
                return
            data[key] = value
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
                tmp.write_text(json.dumps(data, indent=1, sort_keys=True), "utf-8")
                os.replace(tmp, self.path)
            except OSError:
                pass


class FormatMemory(_JsonMap):
    """Which structured-output mode each server accepted."""

    def __init__(self, path: Path | None = None):
        super().__init__(path or cache_dir() / "response_formats.json")

    def get(self, server: str) -> str | None:
        mode = self._load().get(server)
        return mode if mode in MODES else None

    def set(self, server: str, mode: str) -> None:
        self._store(server, mode)


class FitMemory(_JsonMap):
    """Which parameters each server and model refused."""

    def __init__(self, path: Path | None = None):
        super().__init__(path or cache_dir() / "request_fits.json")

    def get(self, server: str) -> Fit:
        return Fit.from_json(self._load().get(server))

    def set(self, server: str, fit: Fit) -> None:
        self._store(server, fit.as_json())
