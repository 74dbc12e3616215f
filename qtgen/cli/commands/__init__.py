"""One module per command, each with `register(group)`; `qtgen.cli.main` only dispatches."""

from . import (approve, batch, diff, draft, edit, fix, history, index, limits, lint, prompt, regenerate, reject, related,
               render, review, revise, runs, schema, show, similar, studio, validate)

COMMANDS = (draft, prompt, batch, runs, review, studio, show, render, approve, reject, regenerate, diff, history, edit,
            revise, fix, validate, lint, index, similar, related, limits, schema)
