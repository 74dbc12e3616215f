"""The site: the index of its pages (ids, near-duplicates, related articles), its git repository, and how it renders
a page (Markdown, KaTeX, the allow-list sanitiser)."""
