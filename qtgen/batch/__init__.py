"""`qtgen batch`: many questions drafted under the rate limit, resumably: the ledger (`ledger`, holding `entries`),
question lists (`question_list`), a run (`run`, with its `options`), the online lane (`online`), and the Batch API
lane (`batch_api`: `chunk`, `sending`, `results`, and `exchange` for another engine).

    from qtgen import batch
    with batch.Batch(config) as b:
        ...

`Batch`, `Options` and the rest of `run`'s names are reached from here as well, imported when first used.
"""

from .. import names_of

__getattr__ = names_of(__name__, "run")  # `batch.X` for the names of `run`, imported when first used
