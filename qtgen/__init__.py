"""qtgen: questions in, site-exact QuickTakes Q&A pages out.

The library under the `qtgen` command, in one-way layers: `qtgen.format` (the page and its file),
`qtgen.llm` (the model), `qtgen.site` (index, ids, git), `qtgen.work` (drafting, batch, review, lint),
then `qtgen.cli` on top. The workflows are importable by name:

    from qtgen import draft, batch, review, load_config
    result = draft.draft_question(load_config(), "What is entropy?", "Physics")
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"

_LAZY = {
    "draft": "qtgen.work.draft",
    "batch": "qtgen.work.batch",
    "batchlane": "qtgen.work.batchlane",
    "review": "qtgen.work.review",
    "lint": "qtgen.work.lint",
    "drafts": "qtgen.work.drafts",
}


def __getattr__(name: str):
    if name in _LAZY:
        return importlib.import_module(_LAZY[name])
    if name == "load_config":
        from .config import load

        return load
    raise AttributeError(f"module 'qtgen' has no attribute {name!r}")
