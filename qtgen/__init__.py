"""qtgen: questions in, site-exact QuickTakes Q&A pages out."""

__version__ = "0.1.0"
