"""The drafts folder: its files and versions (`folder`), the review queue read from it (`queue`), what approve
requires of a draft's bytes (`readiness`), and a new site's setup (`scaffold`)."""

from __future__ import annotations


def __getattr__(name: str):  # `drafts.DraftStore` and the rest of `folder`'s names, imported when first used
    if name.startswith("__"):
        raise AttributeError(name)
    import importlib

    module = importlib.import_module(f"{__name__}.folder")  # not `from . import`: that asks this hook again
    try:
        return getattr(module, name)
    except AttributeError:
        raise AttributeError(f"module 'qtgen.drafts' has no attribute {name!r}") from None
