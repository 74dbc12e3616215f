"""The studio's accounts (`drafts/.qtgen/team.sqlite`, this module owns it): invitations, passwords, sessions and
the failed logins that lock an account or an address out for a while.

- An invitation is a one-time link (only its sha256 is kept) that expires; its page sets the invited person's own
  password. Using it and its expiry are checked in one statement, so two browsers cannot both use one.
- Passwords are kept as argon2id hashes (argon2-cffi: memory-hard, salted, its parameters in the hash).
- A session is a random token in an HttpOnly cookie (only its sha256 is kept): it ends when idle for `IDLE` seconds,
  at `LIFE` seconds whatever happens, at logout, and when its account is revoked. Each login makes a new one, so a
  token planted in a browser before the login (session fixation) never becomes a session.
- `LOCK_AFTER` failed logins of one account within `WINDOW` seconds lock it for `WINDOW`; `ADDRESS_LIMIT` failures
  from one address within the window refuse that address's logins meanwhile, whatever account they name.

Every time comes from `clock` (the store's, given by a test), never from the wall clock directly.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Callable

from ..config import Config
from ..database import Database, Migrations
from ..errors import InputError, QtgenError
from .person import Person, cleaned

WRITER, PUBLISHER = "writer", "publisher"
ROLES = (WRITER, PUBLISHER)
RANK = {WRITER: 1, PUBLISHER: 2}
FILE = "team.sqlite"
MIN_PASSWORD = 10

migrations = Migrations()


@migrations
def m001_accounts(db) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS accounts (key TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, "
               "role TEXT NOT NULL, password TEXT, owner INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL, "
               "revoked REAL)")
    db.execute("CREATE TABLE IF NOT EXISTS invitations (token_sha TEXT PRIMARY KEY, key TEXT NOT NULL, name TEXT NOT "
               "NULL, email TEXT NOT NULL, role TEXT NOT NULL, invited_by TEXT NOT NULL, created REAL NOT NULL, "
               "expires REAL NOT NULL, used REAL)")
    db.execute("CREATE TABLE IF NOT EXISTS sessions (token_sha TEXT PRIMARY KEY, key TEXT NOT NULL, created REAL NOT "
               "NULL, seen REAL NOT NULL, revoked REAL)")
    db.execute("CREATE TABLE IF NOT EXISTS failures (scope TEXT NOT NULL, at REAL NOT NULL)")
    db.execute("CREATE INDEX IF NOT EXISTS failures_by_scope ON failures (scope, at)")


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def key_of(name: str) -> str:
    """The account a name means, whatever its case and spacing."""
    return " ".join(str(name).split()).casefold()


@dataclass(frozen=True)
class Account:
    key: str
    name: str
    email: str
    role: str
    owner: bool = False

    @property
    def person(self) -> Person:
        return Person(self.name, self.email)

    def may(self, role: str) -> bool:
        return RANK.get(self.role, 0) >= RANK[role]


@dataclass(frozen=True)
class Invitation:
    name: str
    email: str
    role: str
    invited_by: str
    expires: float


class LoginRefused(QtgenError):
    """A login that did not work, saying why in words that tell an attacker nothing about the account."""

    def __init__(self, message: str, wait: float = 0.0):
        super().__init__(message)
        self.wait = wait


class AccountStore(Database):
    migrations = migrations
    IDLE = 12 * 3600.0  # seconds a session may go unused
    LIFE = 7 * 24 * 3600.0  # seconds a session lasts at most
    INVITATION_LIFE = 72 * 3600.0
    WINDOW = 15 * 60.0
    LOCK_AFTER = 5
    ADDRESS_LIMIT = 20

    def __init__(self, config: Config, clock: Callable[[], float] = time.time):
        super().__init__(config.state(FILE))
        self.clock = clock
        from argon2 import PasswordHasher

        self.hasher = PasswordHasher()

    # -- accounts ------------------------------------------------------------------------------------------------
    def _account(self, row) -> Account:
        return Account(row["key"], row["name"], row["email"], row["role"], bool(row["owner"]))

    def account(self, name: str) -> Account | None:
        row = self.db.execute("SELECT * FROM accounts WHERE key = ? AND revoked IS NULL", (key_of(name),)).fetchone()
        return None if row is None else self._account(row)

    def accounts(self) -> list[Account]:
        return [self._account(r) for r in self.db.execute("SELECT * FROM accounts WHERE revoked IS NULL ORDER BY key")]

    def owner(self, person: Person) -> Account:
        """The account of whoever starts the studio (a publisher, logged in by the one-time URL it prints)."""
        key = key_of(person.name)
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            row = self.db.execute("SELECT * FROM accounts WHERE key = ?", (key,)).fetchone()
            if row is None:
                self.db.execute("INSERT INTO accounts (key, name, email, role, owner, created) VALUES (?, ?, ?, ?, 1, ?)",
                                (key, person.name, person.email, PUBLISHER, self.clock()))
            else:
                self.db.execute("UPDATE accounts SET role = ?, owner = 1, revoked = NULL WHERE key = ?", (PUBLISHER, key))
        return self.account(person.name)

    def revoke(self, name: str) -> Account:
        """The account can no longer log in: its sessions end now and its open invitations stop working."""
        found = self.account(name)
        if found is None:
            raise InputError(f"{name}: no such account (qtgen studio team lists them)")
        now = self.clock()
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("UPDATE accounts SET revoked = ?, password = NULL WHERE key = ?", (now, found.key))
            self.db.execute("UPDATE sessions SET revoked = ? WHERE key = ? AND revoked IS NULL", (now, found.key))
            self.db.execute("UPDATE invitations SET used = ? WHERE key = ? AND used IS NULL", (now, found.key))
        return found

    # -- invitations ---------------------------------------------------------------------------------------------
    def invite(self, name: str, email: str, role: str, invited_by: Person) -> str:
        """A one-time invitation code for a new account (the person sets their password on its page)."""
        if role not in ROLES:
            raise InputError(f"--role {role}: one of {', '.join(ROLES)}")
        person = cleaned(name, email)
        if person.name == "unknown" or not key_of(person.name):
            raise InputError(f"{name!r}: give the person's name")
        if "@" not in person.email:
            raise InputError(f"{email!r}: not an e-mail address")
        if self.account(person.name) is not None:
            raise InputError(f"{person.name}: already has an account (qtgen studio revoke {person.name!r} first to "
                             "invite them again)")
        code = secrets.token_urlsafe(32)
        now = self.clock()
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("INSERT INTO invitations (token_sha, key, name, email, role, invited_by, created, expires) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (_sha(code), key_of(person.name), person.name,
                                                                 person.email, role, invited_by.line(), now,
                                                                 now + self.INVITATION_LIFE))
        return code

    def invitation(self, code: str) -> Invitation | None:
        """The invitation a code opens, if it is still unused and unexpired."""
        row = self.db.execute("SELECT * FROM invitations WHERE token_sha = ? AND used IS NULL AND expires > ?",
                              (_sha(code), self.clock())).fetchone()
        if row is None:
            return None
        return Invitation(row["name"], row["email"], row["role"], row["invited_by"], row["expires"])

    def accept(self, code: str, password: str) -> tuple[Account, str]:
        """Set up the invited account with its password; (the account, a new session token). The code then stops
        working; an expired or used one is refused."""
        if len(password) < MIN_PASSWORD:
            raise InputError(f"password: at least {MIN_PASSWORD} characters")
        hashed = self.hasher.hash(password)
        now = self.clock()
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            used = self.db.execute("UPDATE invitations SET used = ? WHERE token_sha = ? AND used IS NULL AND "
                                   "expires > ?", (now, _sha(code), now))
            if used.rowcount != 1:
                raise InputError("this invitation was already used or has expired; ask for a new one")
            row = self.db.execute("SELECT * FROM invitations WHERE token_sha = ?", (_sha(code),)).fetchone()
            if self.db.execute("SELECT 1 FROM accounts WHERE key = ? AND revoked IS NULL", (row["key"],)).fetchone():
                raise InputError(f"{row['name']}: already has an account")
            self.db.execute("INSERT OR REPLACE INTO accounts (key, name, email, role, password, owner, created) "
                            "VALUES (?, ?, ?, ?, ?, 0, ?)", (row["key"], row["name"], row["email"], row["role"],
                                                             hashed, now))
        return self.account(row["name"]), self.new_session(row["key"])

    # -- logins and sessions -------------------------------------------------------------------------------------
    def _failures(self, scope: str, since: float) -> list[float]:
        return [r["at"] for r in self.db.execute("SELECT at FROM failures WHERE scope = ? AND at > ? ORDER BY at",
                                                 (scope, since))]

    def login(self, name: str, password: str, address: str) -> tuple[Account, str]:
        """(the account, a new session token) if the password is right and neither the account nor the address
        is locked out; LoginRefused otherwise. Every attempt costs one argon2 check, known account or not."""
        now = self.clock()
        since = now - self.WINDOW
        key = key_of(name)
        by_address = self._failures(f"address:{address}", since)
        if len(by_address) >= self.ADDRESS_LIMIT:
            raise LoginRefused("too many failed logins from this address; try again later",
                               by_address[0] + self.WINDOW - now)
        by_account = self._failures(f"account:{key}", since)
        if len(by_account) >= self.LOCK_AFTER:
            raise LoginRefused("too many failed logins for this account; it is locked for a while",
                               by_account[-self.LOCK_AFTER] + self.WINDOW - now)
        row = self.db.execute("SELECT * FROM accounts WHERE key = ? AND revoked IS NULL", (key,)).fetchone()
        stored = row["password"] if row is not None and row["password"] else _dummy(self.hasher)
        from argon2.exceptions import InvalidHashError, VerificationError

        try:
            good = self.hasher.verify(stored, password) and row is not None and bool(row["password"])
        except (VerificationError, InvalidHashError):
            good = False
        if not good:
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.executemany("INSERT INTO failures (scope, at) VALUES (?, ?)",
                                    [(f"address:{address}", now), (f"account:{key}", now)])
                self.db.execute("DELETE FROM failures WHERE at < ?", (now - 2 * self.WINDOW,))
            raise LoginRefused("wrong name or password")
        if self.hasher.check_needs_rehash(stored):
            self.db.execute("UPDATE accounts SET password = ? WHERE key = ?", (self.hasher.hash(password), key))
        self.db.execute("DELETE FROM failures WHERE scope = ?", (f"account:{key}",))
        return self._account(row), self.new_session(key)

    def new_session(self, key: str) -> str:
        token = secrets.token_urlsafe(32)
        now = self.clock()
        self.db.execute("INSERT INTO sessions (token_sha, key, created, seen) VALUES (?, ?, ?, ?)",
                        (_sha(token), key, now, now))
        return token

    def session(self, token: str | None) -> Account | None:
        """The account a session token is logged in as, if the session is still good (it counts as used now)."""
        if not token:
            return None
        now = self.clock()
        row = self.db.execute("SELECT sessions.seen, sessions.created, accounts.* FROM sessions JOIN accounts ON "
                              "accounts.key = sessions.key WHERE sessions.token_sha = ? AND sessions.revoked IS NULL "
                              "AND accounts.revoked IS NULL", (_sha(token),)).fetchone()
        if row is None or now - row["seen"] > self.IDLE or now - row["created"] > self.LIFE:
            return None
        if now - row["seen"] > 60:  # "seen" kept to the minute: a page does not write on every request
            self.db.execute("UPDATE sessions SET seen = ? WHERE token_sha = ?", (now, _sha(token)))
        return self._account(row)

    def logout(self, token: str) -> None:
        self.db.execute("UPDATE sessions SET revoked = ? WHERE token_sha = ? AND revoked IS NULL",
                        (self.clock(), _sha(token)))

    def sessions_of(self, name: str) -> int:
        now = self.clock()
        return self.db.execute("SELECT COUNT(*) FROM sessions WHERE key = ? AND revoked IS NULL AND seen > ? AND "
                               "created > ?", (key_of(name), now - self.IDLE, now - self.LIFE)).fetchone()[0]


_DUMMY: list[str] = []


def _dummy(hasher) -> str:
    """A hash to check a password against when the account is unknown: the answer takes as long as for a known one."""
    if not _DUMMY:
        _DUMMY.append(hasher.hash(secrets.token_urlsafe(16)))
    return _DUMMY[0]

