"""`qtgen init`: a commented qtgen.toml at the site's root, and drafts/ kept out of the site's git."""

from __future__ import annotations

from pathlib import Path

from ..format.files import write_atomic

CONFIG = """# qtgen settings for this site (docs/reference/configuration.md lists every setting).
# Folders are relative to this file. Environment variables (OPENAI_API_KEY, OPENAI_BASE_URL, QTGEN_MODEL)
# and command-line flags override what is here.

site_name = "QuickTakes"            # seo.title is "<site_name> | <subject>"
author = "QuickTakes"
content_dir = "content/learn"       # the published pages: content/learn/<subject-slug>/<file_name>
drafts_dir = "drafts"               # the review queue (never inside content_dir; keep it out of git)
# prompts_dir = "prompts"           # templates here override the packaged ones by name

# model = "gpt-6-luna"              # default; a key or a base URL selects the server, none starts the offline model
# reasoning_effort = "low"          # reasoning models (gpt-5, gpt-6, o-series): none .. max, or "default"
# max_tokens = 1500                 # the answer's length; a reasoning model gets room to reason on top
# structured = true                 # one JSON request per draft; false: plain Markdown, SEO derived from it
# desc_max = 117                    # the site prints 38 characters before the description; results show ~155
# similar_threshold = 80            # a question this close (0-100) to a published one is refused
# batch_lane = "batch-api"          # qtgen batch through the Batch API: within 24 h, half the price
# judge_model = "gpt-6.1-terra"     # the model qtgen judge asks (default: model); a stronger one catches more

# [judge]                           # approve's gate: drafts the judge has not passed wait (approve --override "why")
# required = true
# min_score = 80

# [lint]
# disable = ["QT002"]
# levels = { QT001 = "error" }
"""


def init_site(root: Path) -> list[str]:
    """Write qtgen.toml (never over an existing one) and add drafts/ to .gitignore; what was done."""
    done = []
    config = root / "qtgen.toml"
    if config.exists():
        done.append(f"{config}: already there, left as it is")
    else:
        write_atomic(config, CONFIG)
        done.append(f"{config}: written")
    ignore = root / ".gitignore"
    lines = ignore.read_text(encoding="utf-8").splitlines() if ignore.is_file() else []
    if any(line.strip() in ("drafts/", "/drafts/", "drafts", "/drafts") for line in lines):
        done.append(f"{ignore}: already ignores drafts/")
    else:
        text = "\n".join(lines + ["# qtgen's review queue", "drafts/"]) + "\n"
        write_atomic(ignore, text, overwrite=ignore.exists())
        done.append(f"{ignore}: drafts/ added")
    if not (root / "content" / "learn").is_dir():
        done.append(f"note: {root / 'content' / 'learn'} does not exist yet; set content_dir if the pages live elsewhere")
    return done
