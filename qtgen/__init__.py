"""qtgen: questions in, site-exact QuickTakes Q&A pages out.

The library under the `qtgen` command, in one-way layers, each importing only from those before it:
`qtgen.format` (the page and its file), `qtgen.llm` (the model, its prices), `qtgen.site` (index, ids, git), then
the workflows: `checks` (lint and the gate), `drafts` (the folder and its queue), `drafting`, `batch`, `judging`,
`insight` (coverage, eval, suggest) and `publishing` (approve, lots, provenance); `qtgen.studio` and `qtgen.cli`
on top. The workflows are importable by name:

    from qtgen import draft, batch, review, load_config
    result = draft.draft_question(load_config(), "What is entropy?", "Physics")
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"

_LAZY = {
    "draft": "qtgen.drafting.drafter",
    "batch": "qtgen.batch.run",
    "batchlane": "qtgen.batch.batch_api",
    "review": "qtgen.publishing.review",
    "lint": "qtgen.checks.lint",
    "drafts": "qtgen.drafts.folder",
}


def names_of(package: str, module: str):
    """A package's `__getattr__` (PEP 562) that reaches `module`'s names, the module imported when first used."""
    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        found = importlib.import_module(f"{package}.{module}")  # not `from . import`: that asks this hook again
        try:
            return getattr(found, name)
        except AttributeError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None

    return __getattr__


def __getattr__(name: str):
    if name in _LAZY:
        return importlib.import_module(_LAZY[name])
    if name == "load_config":
        from .config import load

        return load
    raise AttributeError(f"module 'qtgen' has no attribute {name!r}")
