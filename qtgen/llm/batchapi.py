"""The provider's Batch API, through the openai SDK: upload a JSONL file of requests, start a batch on
it, follow it, cancel it, download its output and error files.

Every message from the server is masked (the key, URL credentials) where it enters, as the chat
client's are; what is worth another attempt is retried by the same mapping and loop as a chat request
(`failures`), anything else is an `ApiBatchError` whose text is safe to store and print.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from ..errors import LLMError
from .client import ChatClient
from .failures import QuotaExhausted, detail_of, retried, transient
from .reply.fields import shorten

ENDPOINT = "/v1/chat/completions"
WINDOW = "24h"
TERMINAL = ("completed", "failed", "expired", "cancelled")


class ApiBatchError(LLMError):
    """The Batch API refused or failed a call; `status` is the HTTP status, if there was one."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class FileTooLarge(ApiBatchError):
    """The server refused an upload for its size."""


def _about_size(status: int, detail: str) -> bool:
    """Whether an upload was refused for the file's size (not, say, a storage quota)."""
    text = detail.lower()
    if "quota" in text or "storage" in text:
        return False
    return status == 413 or "too large" in text or ("exceeds" in text and ("size" in text or "bytes" in text))


@dataclass
class BatchState:
    """What the server says about one batch."""

    id: str
    status: str
    input_file_id: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    completed: int = 0
    failed: int = 0
    total: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (code, message) of a batch that failed
    metadata: dict = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


class BatchApi:
    """The Batch API of the server a ChatClient talks to (same URL, key, timeouts and masking)."""

    def __init__(self, client: ChatClient):
        self.chat = client
        self.mask = client.mask
        self._sdk = client._client

    # -- calls ---------------------------------------------------------------------------------
    def upload(self, name: str, data: bytes) -> str:
        """The id of the uploaded file of requests (one upload, however often it is retried)."""
        def make() -> str:
            return str(self._sdk.files.create(file=(name, data, "application/jsonl"), purpose="batch").id)

        return self._idempotent(make, lambda: self.find_file(name), f"upload {name}", upload=True)

    def find_file(self, name: str) -> str | None:
        """The id of an uploaded batch file of this name (an upload whose answer was lost), if any."""
        for obj in self._iterate(lambda: self._sdk.files.list(purpose="batch"), "list files"):
            if getattr(obj, "filename", None) == name and getattr(obj, "purpose", "batch") == "batch":
                return str(obj.id)
        return None

    def create(self, file_id: str, metadata: dict[str, str]) -> BatchState:
        """A new batch of the file's requests (found by its metadata, not made again, on a retry)."""
        def make() -> BatchState:
            return self._state(self._sdk.batches.create(input_file_id=file_id, endpoint=ENDPOINT,
                                                        completion_window=WINDOW, metadata=metadata))

        return self._idempotent(make, lambda: self.find_batch(metadata), "create a batch")

    def find_batch(self, metadata: dict[str, str]) -> BatchState | None:
        """A batch made with this metadata (a create whose answer was lost), if any."""
        for obj in self._iterate(lambda: self._sdk.batches.list(limit=100), "list batches"):
            meta = getattr(obj, "metadata", None) or {}
            if all(meta.get(k) == v for k, v in metadata.items()):
                return self._state(obj)
        return None

    def retrieve(self, batch_id: str) -> BatchState:
        return self._state(self._call(lambda: self._sdk.batches.retrieve(batch_id), f"batch {batch_id}"))

    def cancel(self, batch_id: str) -> BatchState:
        return self._state(self._call(lambda: self._sdk.batches.cancel(batch_id), f"cancel batch {batch_id}"))

    def download(self, file_id: str) -> bytes:
        response = self._call(lambda: self._sdk.files.content(file_id), f"download file {file_id}")
        return response.read() if hasattr(response, "read") else bytes(response.content)

    # -- plumbing ------------------------------------------------------------------------------
    def _state(self, obj: Any) -> BatchState:
        counts = getattr(obj, "request_counts", None)
        errors = []
        for e in (getattr(getattr(obj, "errors", None), "data", None) or []):
            errors.append((str(getattr(e, "code", "") or ""), self.mask(str(getattr(e, "message", "") or ""))))
        return BatchState(
            id=str(obj.id), status=str(obj.status), input_file_id=getattr(obj, "input_file_id", None),
            output_file_id=getattr(obj, "output_file_id", None), error_file_id=getattr(obj, "error_file_id", None),
            completed=int(getattr(counts, "completed", 0) or 0), failed=int(getattr(counts, "failed", 0) or 0),
            total=int(getattr(counts, "total", 0) or 0), errors=errors, metadata=dict(getattr(obj, "metadata", None) or {}))

    def _iterate(self, make: Callable[[], Any], what: str) -> Iterator[Any]:
        page = self._call(make, what)
        while True:
            yield from list(getattr(page, "data", None) or [])
            if not page.has_next_page():
                return
            page = self._call(page.get_next_page, what)

    def _idempotent(self, make: Callable[[], Any], find: Callable[[], Any], what: str, upload: bool = False) -> Any:
        """`make`, retried; an attempt after one that got no answer (a timeout, a dropped connection) first
        asks `find` whether the server did it all the same, so it is never done twice."""
        tries: list[int] = []

        def attempt():
            if tries:
                found = find()
                if found is not None:
                    return found
            tries.append(1)
            return make()

        return self._call(attempt, what, upload=upload)

    def _call(self, make: Callable[[], Any], what: str, upload: bool = False) -> Any:
        """`make()` through the one retry loop (`failures.retried`), as a chat request is retried."""
        try:
            result, _, _ = retried(lambda: self._once(make, what, upload), self.chat.settings, self.chat.on_wait)
        except (ApiBatchError, QuotaExhausted):
            raise
        except LLMError as exc:
            raise ApiBatchError(f"{what}: {exc}") from None
        return result

    def _once(self, make: Callable[[], Any], what: str, upload: bool) -> Any:
        import openai

        try:
            return make()
        except openai.OpenAIError as exc:
            settings = self.chat.settings
            found = transient(exc, where=self.chat.public_url, mask=self.mask, timeout=settings.timeout,
                              wait_max=settings.retry_wait_max, conflicts=False)  # the one mapping of what to retry
            if found is not None:
                raise found from None
            if not isinstance(exc, openai.APIStatusError):
                raise ApiBatchError(shorten(self.mask(f"{what}: the server's answer could not be read: {exc}"))) from None
            detail = detail_of(exc, self.mask)
            if upload and _about_size(exc.status_code, detail):
                raise FileTooLarge(f"{what}: refused as too large ({exc.status_code}): {detail}", exc.status_code) from None
            if exc.status_code == 401:
                raise ApiBatchError(f"{self.chat.public_url} rejected the API key (401): check OPENAI_API_KEY",
                                    401) from None
            raise ApiBatchError(f"{what}: refused ({exc.status_code}): {detail}", exc.status_code) from None
