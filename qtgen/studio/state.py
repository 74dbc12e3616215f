"""The state of one studio process: its config, its owner's one-time logins, the team's accounts and sessions
(`qtgen.team.accounts`), claims (`qtgen.team.board`) and uploaded lists (`qtgen.team.uploads`), draft ids, the site
index it keeps, and the regenerations running in the background. The app (`app.py`) only parses requests and
presents."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from typing import Callable

from ..config import Config
from ..drafts.folder import DraftStore
from ..errors import QtgenError
from ..publishing import review
from ..team.accounts import Account, AccountStore
from ..team.board import Board
from ..team.person import Person, local
from ..team.uploads import Uploads


@dataclass
class Job:
    """A regeneration running in the background."""

    draft: str
    state: str = "running"  # running, done, failed
    message: str = ""
    shown: bool = False  # its end was shown on the draft's page (once: a reload shows the draft as it is)
    started: float = field(default_factory=time.time)


class Studio:
    """The state of one studio process: its config, owner, accounts, draft ids and background jobs."""

    INDEX_AGE = 5.0  # seconds a refresh of the site index serves the pages that read it

    def __init__(self, config: Config, owner: Person | None = None, clock: Callable[[], float] = time.time):
        self.config = config
        self.owner = owner or local(config)  # whoever started the studio: a publisher, logged in by the printed URL
        self.clock = clock
        self.uploads = Uploads(config)
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._key: bytes | None = None
        self._logins: set[str] = set()
        self._seen: dict[str, str] = {}  # draft ids this studio has listed -> draft names
        self._threads = threading.local()  # per thread: its open account store, for the session check
        self._index = None
        self._index_lock = threading.Lock()
        self._index_at = float("-inf")
        self._warming: threading.Thread | None = None
        self.stopping = False  # set when Ctrl-C ends the warm-up
        self._refreshing = False
        self._refresh_lock = threading.Lock()

    # -- one-time logins -----------------------------------------------------------------------
    def new_login(self) -> str:
        """A code for one login URL: it sets the cookie once, then is worthless."""
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._logins.add(code)
        return code

    def use_login(self, code: str) -> bool:
        with self._lock:
            if code in self._logins:
                self._logins.discard(code)
                return True
        return False

    # -- accounts and sessions (each call opens the store: one connection per thread) ------------------------------
    def accounts(self) -> AccountStore:
        return AccountStore(self.config, clock=self.clock)

    def board(self) -> Board:
        return Board(self.config, clock=self.clock)

    def owner_session(self) -> str:
        """A new session for the studio's owner (the printed login URL was used)."""
        with self.accounts() as store:
            account = store.owner(self.owner)
            return store.new_session(account.key)

    def session(self, token: str | None) -> Account | None:
        """The account a session cookie is logged in as. Asked on every request: each thread keeps its own open
        store rather than opening the file each time."""
        if not token:
            return None
        store = getattr(self._threads, "accounts", None)
        if store is None:
            store = self._threads.accounts = self.accounts()
        return store.session(token)

    def csrf_of(self, basis: str, before_login: bool = False) -> str:
        """The CSRF token of a session (or, before a login, of the page's own cookie): one per session, so a form
        of one account's session is worthless in another's."""
        kind = b"pre:" if before_login else b"session:"
        return hmac.new(self._link_key(), kind + basis.encode(), hashlib.sha256).hexdigest()

    def jobs_to_show(self, draft_id: str) -> list[tuple[str, Job]]:
        """The draft's regenerations running now, and those that ended since its page was last shown (marked shown)."""
        with self._lock:
            out = [(k, j) for k, j in self.jobs.items() if j.draft == draft_id and (j.state == "running" or not j.shown)]
            for _, job in out:
                if job.state != "running":
                    job.shown = True
        return out

    def regenerating(self, path: Path) -> bool:
        draft = self.draft_id(path)
        return any(j.draft == draft and j.state == "running" for j in list(self.jobs.values()))

    # -- the site index, kept for the studio's life --------------------------------------------
    def index(self):
        """The site index (only changed files are read; its similarity model is rebuilt only when something
        changed). A page never waits for a refresh: one older than INDEX_AGE seconds is refreshed in the
        background, and the studio's own actions refresh it before they answer. Approve opens its own."""
        from ..site.index import SiteIndex

        with self._index_lock:
            if self._index is None:
                self._index = SiteIndex(self.config)
                self._index.refresh()
                self._index_at = time.monotonic()
                return self._index
            index = self._index
            stale = time.monotonic() - self._index_at >= self.INDEX_AGE and not self._refreshing
            if stale:
                self._refreshing = True
        if stale:
            threading.Thread(target=self._refresh, daemon=True, name="qtgen-studio-refresh").start()
        return index

    def warm(self) -> None:
        """Start building, in the background and once, what the first queue page needs: the site index, its
        similarity model, each draft's stored findings and the index's matches of the drafts."""
        with self._lock:
            if self._warming is None:
                self._warming = threading.Thread(target=self._warm, daemon=True, name="qtgen-studio-warm")
                self._warming.start()

    def _warm(self) -> None:
        try:
            self.uploads.resume()  # the lists a studio was drafting when it stopped go on
        except Exception:  # noqa: BLE001 - each run's page says what is wrong
            pass
        try:
            review.queue(self.config, self.index())
        except Exception:  # noqa: BLE001 - the first page does it again and says what is wrong
            pass
        except BaseException:  # Ctrl-C reached the workers: the studio is stopping, no page starts it again
            self.stopping = True

    def ready(self, timeout: float | None = None) -> bool:
        """Wait (at most `timeout` seconds) for a warm-up that is running: a page asking meanwhile would do the
        same work beside it, and both would take longer. Whether none is running now."""
        warming = self._warming
        if warming is not None:
            warming.join(timeout)
        return warming is None or not warming.is_alive()

    def _refresh(self) -> None:
        try:
            with self._refresh_lock:
                if self._index is not None:
                    self._index.refresh()
        except Exception:  # noqa: BLE001 - the next page tries again
            pass
        finally:
            self._index_at = time.monotonic()
            self._refreshing = False

    def index_changed(self) -> None:
        """Something this studio did changed the site or the drafts: refreshed now, in the action's own thread,
        so the page it leads to shows it."""
        with self._refresh_lock:
            if self._index is not None:
                self._index.refresh()
        self._index_at = time.monotonic()

    def close(self) -> None:
        with self._refresh_lock, self._index_lock:
            if self._index is not None:
                self._index.close()
                self._index = None

    # -- drafts by opaque id -------------------------------------------------------------------
    LINK_KEY = "studio-links.key"

    def _link_key(self) -> bytes:
        """The site's key for draft links, made once (0600) and kept in drafts/.qtgen, so a draft keeps its
        address across restarts while no address says where the draft lies."""
        if self._key is None:
            path = self.config.state(self.LINK_KEY)
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as out:
                    out.write(secrets.token_hex(32) + "\n")
            key = b""
            for _ in range(50):  # another studio may be writing it this moment
                key = path.read_bytes().strip()
                if len(key) == 64:
                    break
                time.sleep(0.02)
            if len(key) != 64:
                raise QtgenError(f"{path}: not a key qtgen wrote (remove it: draft links change once)")
            self._key = key
        return self._key

    def draft_id(self, path: Path | str) -> str:
        """An opaque id for a draft: its name below the drafts folder (as DraftStore lists it) under the site's
        link key. The same for the draft's whole life in the queue, whichever studio process serves it."""
        return hmac.new(self._link_key(), self.name_of(path).encode(), hashlib.sha256).hexdigest()[:16]

    def drafts(self) -> dict[str, Path]:
        found = {self.draft_id(name): Path(name) for name in DraftStore(self.config).draft_names()}
        with self._lock:
            self._seen.update((k, self.name_of(v)) for k, v in found.items() if k not in self._seen)
        return found

    def name_by_id(self, draft_id: str | None) -> str | None:
        """The name of a draft this id stood for, though it may have left the queue (for saying what became of it)."""
        if not draft_id:
            return None
        with self._lock:
            if draft_id in self._seen:
                return self._seen[draft_id]
        with self.board() as board:
            return next((n for n in board.ended_names() if self.draft_id(n) == draft_id), None)

    def last_change(self, path: Path) -> str:
        """The draft's latest version in words: what made it, who, when."""
        versions = DraftStore(self.config, migrate=False).history(path).versions()
        if not versions:
            return "changed outside qtgen"
        v = versions[-1]
        return f"version {v.number}: {v.made_by}" + (f" by {v.by}" if v.by else "") + f", {v.saved}"

    def path_of(self, draft_id: str) -> Path:
        path = self.drafts().get(draft_id)
        if path is None:
            raise LookupError(draft_id)
        return path

    def name_of(self, path: Path | str) -> str:
        """The draft's name for the library: subject-slug/file_name below the drafts folder."""
        root, name = str(self.config.drafts) + os.sep, str(path)
        if name.startswith(root) and ".." not in name[len(root):].split(os.sep):  # as DraftStore lists drafts
            return name[len(root):]
        return str(Path(path).resolve().relative_to(self.config.drafts.resolve()))

    # -- background regeneration ---------------------------------------------------------------
    def regenerate(self, path: Path, feedback: str, by: Person | None = None) -> str:
        job_id = secrets.token_hex(8)
        job = Job(self.draft_id(path))
        with self._lock:
            self.jobs[job_id] = job

        def work() -> None:
            try:
                before = path.read_bytes()
                result = review.regenerate(self.config, self.name_of(path), feedback, by=by)
                self.index_changed()
                same = path.read_bytes() == before
                job.state, job.message = "done", (f"the model answered with the same text: the draft is unchanged; "
                                                  if same else "regenerated; ") + f"{result.completion.usage.total} tokens"
            except QtgenError as exc:
                job.state, job.message = "failed", str(exc)
            except Exception as exc:  # noqa: BLE001 - shown to the reviewer, never a traceback
                job.state, job.message = "failed", f"internal error: {type(exc).__name__}: {exc}"
            finally:
                if by is not None:
                    try:
                        with self.board() as board:
                            board.release(self.name_of(path), by)
                    except QtgenError:
                        pass

        threading.Thread(target=work, daemon=True, name=f"qtgen-regenerate-{job_id}").start()
        return job_id
