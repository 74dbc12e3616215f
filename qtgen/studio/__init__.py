"""`qtgen studio`: the review queue as a local web app (Starlette under uvicorn)."""
