"""The page and its file: the one typed model (`page`), reading and writing it byte-exact, slugs, SEO fields and
the site format's validation."""
