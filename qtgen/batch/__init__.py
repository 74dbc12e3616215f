"""`qtgen batch`: many questions drafted under the rate limit, resumably: the ledger (`ledger`, holding `entries`),
question lists (`question_list`), a run (`run`, with its `options`), the online lane (`online`), and the Batch API
lane (`batch_api`: `chunk`, `sending`, `results`, and `exchange` for another engine).

    from qtgen import batch
    with batch.Batch(config) as b:
        ...

`Batch`, `Options` and the rest of `run`'s names are reached from here as well, imported when first used.
"""

from __future__ import annotations


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    import importlib

    module = importlib.import_module(f"{__name__}.run")  # not `from . import`: that asks this hook again
    try:
        return getattr(module, name)
    except AttributeError:
        raise AttributeError(f"module 'qtgen.batch' has no attribute {name!r}") from None
