"""One module per command, each with `register(group)`; `qtgen.cli.main` only dispatches."""

from . import (approve, batch, diff, draft, edit, fix, history, index, init, limits, lint, prompt, regenerate, reject, related,
               render, revert, review, revise, runs, schema, show, similar, studio, validate)

COMMANDS = (init, draft, prompt, batch, runs, review, studio, show, render, approve, reject, regenerate, diff, history, revert, edit,
            revise, fix, validate, lint, index, similar, related, limits, schema)
