"""A model's reply read: the completion and its page fields (`reader`, `fields`), Markdown tidied (`tidy`), and the
tokens it was billed (`usage`)."""
