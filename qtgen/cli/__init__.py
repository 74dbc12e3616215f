"""The `qtgen` command line: parses arguments, calls the library and presents the result."""

from .main import main

__all__ = ["main"]
