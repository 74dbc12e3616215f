"""The drafts folder: its files and versions (`folder`), the review queue read from it (`queue`), what approve
requires of a draft's bytes (`readiness`), and a new site's setup (`scaffold`)."""

from .. import names_of

__getattr__ = names_of(__name__, "folder")  # `drafts.X` for the names of `folder`, imported when first used
