"""Jinja2 prompt templates: the site's `prompts/` folder first, then the packaged defaults.

A template in `<prompts>/<subject-slug>/` replaces the default of the same name for that subject.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

SYSTEM = "system.j2"
USER = "user.j2"
WORDS = (250, 450)


def packaged_prompts() -> Path:
    """The default templates: inside the installed package, or the project's top-level folder."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "prompts", package.parent / "prompts"):
        if (candidate / SYSTEM).is_file():
            return candidate
    raise InputError("prompts: the default templates are missing from this installation")


@dataclass
class Prompt:
    system: str
    user: str
    sources: tuple[str, str]

    def messages(self) -> list[dict]:
        return [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}]


class Prompts:
    """Renders prompts for a question, with per-subject and per-site overrides."""

    def __init__(self, site_dir: Path | None = None):
        from jinja2 import Environment, FileSystemLoader, StrictUndefined

        self.folders = [p for p in (site_dir, packaged_prompts()) if p is not None and p.is_dir()]
        self.env = Environment(
            loader=FileSystemLoader([str(p) for p in self.folders]),
            undefined=StrictUndefined,
            keep_trailing_newline=False,
            autoescape=False,
        )

    def _template(self, name: str, subject_slug: str):
        from jinja2 import TemplateNotFound

        for candidate in (f"{subject_slug}/{name}", name):
            try:
                return self.env.get_template(candidate)
            except TemplateNotFound:
                continue
        raise InputError(f"prompts: no template {name!r} in {', '.join(map(str, self.folders))}")

    def render(self, name: str, variables: dict) -> tuple[str, str]:
        from jinja2 import TemplateError

        template = self._template(name, variables["subject_slug"])
        try:
            return template.render(**variables).strip(), template.filename or name
        except TemplateError as exc:
            raise InputError(f"prompts: {template.filename}: {exc}") from None

    def build(self, *, question: str, subject: str, subject_slug: str, settings: dict, extra: dict | None = None,
              user_template: str = USER) -> Prompt:
        variables = {
            "question": question,
            "subject": subject,
            "subject_slug": subject_slug,
            "words_min": WORDS[0],
            "words_max": WORDS[1],
            "structured": True,
            "parts": False,
            **settings,
            **(extra or {}),
        }
        system, sys_src = self.render(SYSTEM, variables)
        user, user_src = self.render(user_template, variables)
        return Prompt(system, user, (sys_src, user_src))
