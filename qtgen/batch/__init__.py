"""`qtgen batch`: many questions drafted under the rate limit, resumably: the ledger (`ledger`), question lists
(`question_list`), a run and its online lane (`run`), and the Batch API lane (`batch_api`).

    from qtgen import batch
    with batch.Batch(config) as b:
        ...

`Batch`, `Options` and the rest of `run`'s names are reached from here as well, imported when first used.
"""

from __future__ import annotations


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    from . import run

    try:
        return getattr(run, name)
    except AttributeError:
        raise AttributeError(f"module 'qtgen.batch' has no attribute {name!r}") from None
