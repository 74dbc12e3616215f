"""Errors that reach the user as one clear line and an exit code, never a traceback."""

from __future__ import annotations


class QtgenError(Exception):
    """A problem the user can act on; `exit_code` 1 for failures, 2 for bad usage or input."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class InputError(QtgenError):
    """Bad input from the user: a question, a subject, a file."""

    exit_code = 2


class LLMError(QtgenError):
    """The model's server refused, failed or answered with something unusable; `usage` is what the attempts that
    came to nothing were billed (a qtgen.llm.reply.usage.Usage, or None)."""

    def __init__(self, message: str, exit_code: int | None = None, usage=None):
        super().__init__(message, exit_code)
        self.usage = usage


class ParseError(QtgenError):
    """A page file that cannot be read as a QuickTakes page."""
