"""One module per command, each with `register(group)`; `qtgen.cli.main` only dispatches.

A command's module is imported only when that command runs (`qtgen --help` lists them from this table),
so start-up stays the same however many commands there are.
"""

# name -> the line `qtgen --help` shows (the module of the same name holds the command)
COMMANDS = {
    "approve": "Publish drafts in one commit: validate, lint, place, commit.",
    "audit": "Approve a lot of judge-passed drafts by a reviewed random sample.",
    "batch": "Draft every question of a list, under the rate limit, resumably.",
    "coverage": "Pages per subject, and the topics of a list with no page.",
    "diff": "Show what changed since a draft's previous version.",
    "draft": "Draft one QUESTION into drafts/<subject-slug>/<file_name>.",
    "duplicates": "Group published pages that ask the same thing, with what to keep.",
    "edit": "Edit a draft's answer and SEO fields in $EDITOR.",
    "eval": "Compare prompts or models on the same questions, side by side.",
    "fix": "Repair published pages where the repair is exact.",
    "history": "List the versions of a draft.",
    "index": "Build or refresh the index of the content tree and drafts.",
    "init": "Write a commented qtgen.toml at the site's root.",
    "judge": "Grade drafts with a second model: verdict, score, quoted issues.",
    "limits": "Print the server's request and token limits.",
    "lint": "Content lint of pages (QT001..QT025).",
    "prompt": "Print the rendered prompt for QUESTION.",
    "provenance": "What made published pages: model, prompt, judge (from git).",
    "regenerate": "Ask the model again, with the reviewer's feedback.",
    "reject": "Move a draft to drafts/rejected with the reason.",
    "related": "Recompute the related articles of published pages.",
    "render": "Render pages as the site does.",
    "revert": "Restore an earlier version of a draft.",
    "review": "List the drafts waiting for review.",
    "revise": "Put revisions of published pages in the review queue.",
    "runs": "List batch runs with their counts and cost.",
    "schema": "Print the page model as JSON Schema.",
    "show": "Show a draft as a reader sees it.",
    "similar": "Show questions that ask QUESTION in other words.",
    "suggest": "Ask the model for new questions of a subject, filtered against the site.",
    "studio": "Review drafts in a browser.",
    "validate": "Check page files against the site's format.",
}
