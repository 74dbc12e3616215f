"""What the site and a way of drafting look like: coverage, eval, and suggested questions, with their reports."""
