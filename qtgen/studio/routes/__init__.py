"""The studio's routes, one module per page or kind of action; each module's `routes(pages)` lists its own."""
