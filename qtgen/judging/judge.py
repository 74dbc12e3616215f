"""`qtgen judge`: a second model grades each draft against a rubric, and its grade is kept with the draft's bytes.

The rubric is `prompts/judge.j2` (a subject's own `prompts/<subject>/judge.j2` replaces it for that subject). The
judge returns five criteria (1 to 5, each with a reason) and its issues, each a span quoted from the answer with
what is wrong, a correction and a severity; the request goes through the same response-format ladder as
drafting. A quote that does not occur in the answer is dropped and counted: a judge may not invent evidence.

The verdict and score follow from that evidence by fixed rules, not from the model's mood:

    score   = the criteria's weighted mean on 0..100 (correctness 3, answers_question 2, safety 2, completeness 1,
              clarity 1), less 40 per critical issue, 20 per major and 5 per minor one (0 at least)
    reject  = a critical issue, or correctness, answers_question or safety graded 1
    revise  = a major issue, any criterion at 2 or less, a score under 70, or a major or critical issue whose quote
              is not in the answer (it does not count against the answer, but a person reads it)
    pass    = everything else

A judgment is kept (`drafts/.qtgen/judgments.sqlite`) under a key made of the draft file's bytes, the judge model
and the rubric's text: judging an unchanged draft again sends nothing, and any edit or regeneration of the draft
(or a change of the rubric or the model) leaves it unjudged until judged again.

    judge = Judge.open(config)
    for judgment in judge.judge_many([(path, data), ...]): ...
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ..config import Config
from ..errors import InputError, QtgenError
from ..format.page import Page

from .rubric import MAX_TOKENS, SCHEMA, TEMPLATE, WEAK, Judgment, fence_for, graded
from .store import JudgmentStore


@dataclass
class Judge:
    """Grades drafts with the judge model; keeps every grade by the draft's bytes, the model and the rubric."""

    config: Config
    model: str
    asked: int = 0
    cached: int = 0
    failed: list[str] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    spent: float = 0.0
    _client: object = None
    _store: JudgmentStore | None = None
    _prompts: object = None
    _rubrics: dict = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    force: bool = False  # ask again, whatever grade is kept (a bad reply, another server): the new grade replaces it

    @classmethod
    def open(cls, config: Config, model: str | None = None, *, allow_weak: bool = False,
             for_reading: bool = False) -> "Judge":
        """The judge for this site (`for_reading`: to read kept grades only, never to ask)."""
        from ..llm.backend import uses_local

        chosen = model or config.judge_model or config.judge.get("model") or config.model
        if not for_reading and uses_local(config) and not allow_weak:
            raise InputError(f"judge: {WEAK}")
        return cls(config, chosen)

    # -- what a grade is kept under ---------------------------------------------------------------------
    def rubric(self, subject_slug: str) -> str:
        """The judge template's exact text for a subject (its own, or the site's, or the packaged one)."""
        with self._lock:
            if subject_slug not in self._rubrics:
                from ..llm.prompts import Prompts

                if self._prompts is None:
                    self._prompts = Prompts(self.config.prompts)
                template = self._prompts._template(TEMPLATE, subject_slug)  # type: ignore[attr-defined]
                self._rubrics[subject_slug] = Path(template.filename).read_text(encoding="utf-8")
            return self._rubrics[subject_slug]

    def rubric_hash(self, subject: str) -> str:
        return hashlib.sha256(self.rubric(_slug_of(self.config, subject)).encode()).hexdigest()

    @property
    def server(self) -> str:
        """The server that grades (its host, never a credential): a grade from another server is another grade."""
        from ..llm.backend import uses_local
        from ..drafting.records import host_of

        if uses_local(self.config):
            return "local"
        return host_of(self.config.azure_endpoint or self.config.base_url) or "api.openai.com"

    def key(self, data: bytes, subject: str) -> str:
        """What a grade is kept under: the judge model and its server, the subject's rubric and the draft's bytes."""
        return hashlib.sha256(b"\0".join([self.model.encode(), self.server.encode(), self.rubric_hash(subject).encode(),
                                          data])).hexdigest()

    def store(self) -> JudgmentStore:
        if self._store is None:  # without a drafts folder, kept for this command only
            self._store = JudgmentStore(self.config, None if self.config.drafts.is_dir() else Path(":memory:"))
        return self._store

    def kept(self, drafts: Iterable[tuple[str, bytes, str]], fresh: bool = False) -> dict[str, Judgment]:
        """The current grade of each draft (name, bytes, subject) that has one (name -> Judgment), asking nothing;
        `fresh` (with `force`): none, so that every draft is asked again."""
        if fresh and self.force:
            return {}
        keys = {name: self.key(data, subject) for name, data, subject in drafts}
        found = self.store().get_many(list(keys.values()))
        return {name: Judgment.from_stored(name, key, found[key]) for name, key in keys.items() if key in found}

    # -- asking ------------------------------------------------------------------------------------------
    def messages(self, page: Page) -> list[dict]:
        from ..llm.prompts import Prompts

        with self._lock:
            if self._prompts is None:
                self._prompts = Prompts(self.config.prompts)
        text, _ = self._prompts.render(TEMPLATE, {  # type: ignore[attr-defined]
            "subject_slug": _slug_of(self.config, page.subject), "question": page.question,
            "subject": page.subject, "answer": page.decoded_answer(), "fence": fence_for(page.decoded_answer())})
        return [{"role": "user", "content": text}]

    def judge(self, name: str, data: bytes, page: Page, client=None, meter=None) -> Judgment:
        """The draft's grade: kept, or asked now (and kept). Two qtgen processes judging the same draft at once ask
        once: the second waits for the first's grade. Every attempt's tokens count (under `meter`'s cap, if any)."""
        key = self.key(data, page.subject)
        kept = None if self.force else self._kept_one(name, key)
        if kept is not None:
            return kept
        with self._claim(key):
            kept = None if self.force else self._kept_one(name, key)  # judged by another qtgen while this one waited
            if kept is not None:
                return kept
            try:
                reply, usage = (client or self.client()).ask_json(self.messages(page), "judgment", SCHEMA,
                                                                  max_tokens=MAX_TOKENS, meter=meter)
            except QtgenError as exc:
                self._count(getattr(exc, "usage", None))  # unreadable replies were billed too
                raise
            criteria, issues, dropped, score, verdict = graded(reply, page.decoded_answer())
            spent = self.price(usage)
            judgment = Judgment(name, verdict, score, criteria, issues, self.model, False, spent, dropped, key)
            self._count(usage, asked=True)
            with self._lock:
                self.store().put(key, name, hashlib.sha256(data).hexdigest(), self.model,
                                 self.rubric_hash(page.subject), judgment.stored(), usage.prompt_tokens,
                                 usage.completion_tokens, spent)
        return judgment

    def _count(self, usage, asked: bool = False) -> None:
        if usage is None:
            return
        with self._lock:
            self.asked += int(asked)
            self.tokens_in += usage.prompt_tokens
            self.tokens_out += usage.completion_tokens
            self.spent += self.price(usage) or 0.0

    def _kept_one(self, name: str, key: str) -> Judgment | None:
        with self._lock:
            found = self.store().get_many([key])
            if key not in found:
                return None
            self.cached += 1
        return Judgment.from_stored(name, key, found[key])

    def _claim(self, key: str):
        """Held while a draft is being judged (one of 256 locks in drafts/.qtgen/judging/, by the key)."""
        import contextlib

        from ..locks import Lock

        if not self.config.drafts.is_dir():
            return contextlib.nullcontext()
        wait = self.config.timeout * (self.config.retries + 1) + 60
        return Lock(self.config.state("judging", f"{key[:2]}.lock"), "another qtgen judging this draft", timeout=wait)

    def judge_many(self, drafts: list[tuple[str, bytes, Page]], *, client=None, concurrency: int = 4,
                   max_cost: float | None = None,
                   on_error: Callable[[str, str], None] = lambda name, why: None) -> Iterator[Judgment]:
        """Each draft's grade, as they come: kept ones first, then the rest asked on `concurrency` threads, under
        the provider's rate limit (learnt from its headers, shared with every other qtgen command), never past
        `max_cost` dollars (what one more request may cost is reserved before it is sent)."""
        from concurrent.futures import ThreadPoolExecutor

        kept = self.kept([(name, data, page.subject) for name, data, page in drafts], fresh=True)
        self.cached += len(kept)
        yield from kept.values()
        todo = [d for d in drafts if d[0] not in kept]
        if not todo:
            return
        client = client or self.client()
        if client.limiter is None:
            from ..llm.ratelimit import RateLimiter, shared_store

            client.limiter = RateLimiter(tokens_per_request=3000, concurrency=concurrency,
                                         store=shared_store(client.server, client.settings.api_key))
        from ..llm.pricing import CostCapReached, Meter
        from ..llm.pricing import of_config as pricing

        if max_cost is not None:
            pricing(self.config).require(self.model, "--max-cost")
        meter = Meter(pricing(self.config), max_cost)
        from ..llm.failures import QuotaExhausted

        exhausted: list[QuotaExhausted] = []

        def one(draft: tuple[str, bytes, Page]) -> Judgment | None:
            name, data, page = draft
            if exhausted:  # the account has no credit: nothing more is sent
                return None
            try:
                return self.judge(name, data, page, client, meter)
            except CostCapReached as exc:
                on_error(name, f"not judged: {exc}")
                return None
            except QuotaExhausted as exc:
                exhausted.append(exc)
                return None
            except QtgenError as exc:
                with self._lock:
                    self.failed.append(f"{name}: {exc}")
                on_error(name, str(exc))
                return None

        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(todo)))) as pool:
            for judgment in pool.map(one, todo):
                if judgment is not None:
                    yield judgment
        if exhausted:  # the grades already in are kept; the rest waits for the next run
            raise exhausted[0]

    def client(self):
        """A client of the configured server asking the judge model (the CLI opens its own, which can also be
        the offline model)."""
        if self._client is None:
            from ..llm.backend import remote_settings
            from ..llm.client import ChatClient

            self._client = ChatClient(remote_settings(self.settings_config()))
        return self._client

    def settings_config(self) -> Config:
        """The config to open a client with: the judge model, asked at temperature 0."""
        return self.config.with_overrides(model=self.model, temperature=0.0)

    def price(self, usage) -> float | None:
        """Dollars for a grade's usage at the judge model's online price (None: no price known)."""
        from ..llm.pricing import of_config as pricing

        return pricing(self.config).cost(self.model, usage)

    def summary(self) -> str:
        from ..llm.pricing import of_config as pricing

        money = f", ${self.spent:.4f}" if pricing(self.config).known(self.model) else ""
        failed = f"; {len(self.failed)} failed (first: {self.failed[0]})" if self.failed else ""
        return (f"judged with {self.model}: {self.asked} asked ({self.tokens_in} tokens in, {self.tokens_out} out{money}), "
                f"{self.cached} kept from before{failed}")

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def _slug_of(config: Config, subject: str) -> str:
    from ..format.slug import slug

    return slug(subject, config.slug_style)


def drafts_to_judge(config: Config, names: list[str], every: bool) -> tuple[list[tuple[str, bytes, Page]], list[str]]:
    """The named drafts (or, with `every`, all waiting) as (name, bytes, page); and a line per one holding no
    page (it is not judged: its bytes say nothing a judge can grade)."""
    from ..errors import ParseError
    from ..format.reader import parse
    from ..drafts.folder import DraftStore, draft_paths_in

    store = DraftStore(config)
    paths = draft_paths_in(store, names)
    if every:
        paths += [p for p in store.drafts() if p not in paths]
    out, unreadable = [], []
    for path in paths:
        try:
            data = path.read_bytes()
            out.append((str(path), data, parse(data.decode("utf-8"))))
        except (OSError, UnicodeDecodeError, ParseError) as exc:
            unreadable.append(f"{path.name}: not judged, it holds no page ({exc})")
    return out, unreadable


