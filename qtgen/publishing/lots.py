"""Approval by audited sample: publish a lot of judge-passed drafts on a stated, measured defect rate.

A lot is a set of drafts the judge passed in their present form (those of a batch run, of a subject, or a list).
`open_lot` draws a random sample whose size follows from the confidence and the largest defect rate to accept,
by the zero-defect plan of the exact binomial: the smallest n with (1 - max_defect)^n <= 1 - confidence (59 pages
for 0.95 and 0.05). The sampled drafts are reviewed as any other (CLI or studio): approved unchanged, a page is
sound; edited then approved, regenerated or rejected, it is a defect. Once every sampled draft has a decision,
`status` states the one-sided Clopper-Pearson upper bound on the lot's defect rate at that confidence; only if it
is at most max_defect (with this plan: no defect at all) may `approve_lot` publish the rest, unread, in one commit
whose message records the lot, the sample, the defects and the bound. A lot larger than its sample keeps only the
drafts unchanged since the lot was drawn; a draft edited meanwhile waits for its own review.

    lot = open_lot(config, "physics-week-12", paths)
    status(config, "physics-week-12").bound
"""

from __future__ import annotations

import hashlib
import math
import random
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Config
from ..errors import InputError, QtgenError
from ..judging.calibration import APPROVE, EDITED
from ..judging.judge import Judge, JudgmentStore
from ..judging.rubric import PASS
from ..judging.store import LotState
from ..team.person import Person, line_of


OPEN, PUBLISHED, DROPPED = LotState


def sample_size(confidence: float = 0.95, max_defect: float = 0.05) -> int:
    """The zero-defect plan: the fewest pages that, all sound, bound the defect rate under max_defect."""
    if not (0 < confidence < 1 and 0 < max_defect < 1):
        raise InputError("--confidence and --max-defect: each a share between 0 and 1 (such as 0.95 and 0.05)")
    return math.ceil(math.log(1 - confidence) / math.log(1 - max_defect) - 1e-9)


def upper_bound(defects: int, n: int, confidence: float = 0.95) -> float:
    """The one-sided Clopper-Pearson upper confidence bound on a defect rate, `defects` found in `n` pages."""
    from scipy.stats import beta

    if n <= 0:
        return 1.0
    if defects >= n:
        return 1.0
    return float(beta.ppf(confidence, defects + 1, n - defects))


@dataclass
class Member:
    draft: str
    data_sha: str
    sampled: bool
    decision: str | None = None  # sampled: the reviewer's decision since the lot was drawn
    decided_by: str | None = None  # and who made it


@dataclass
class LotStatus:
    name: str
    confidence: float
    max_defect: float
    source: str
    state: str
    members: list[Member]
    created: float
    commit: str | None = None
    seed: int | None = None
    seed_given: bool = False
    earlier: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    drawn_by: str | None = None
    ended_by: str | None = None  # who published or dropped it

    @property
    def sample(self) -> list[Member]:
        return [m for m in self.members if m.sampled]

    @property
    def pending(self) -> list[Member]:
        return [m for m in self.sample if m.decision is None]

    @property
    def defects(self) -> list[Member]:
        return [m for m in self.sample if m.decision is not None and m.decision != APPROVE]

    @property
    def bound(self) -> float | None:
        """The upper bound on the lot's defect rate, once every sampled draft has a decision."""
        if self.pending:
            return None
        return upper_bound(len(self.defects), len(self.sample), self.confidence)

    @property
    def passed(self) -> bool | None:
        if self.defects:  # the zero-defect plan: one defect fails the lot for good, whatever is still waiting
            return False
        bound = self.bound
        if bound is None:
            return None
        if len(self.sample) == len(self.members):
            return not self.defects  # every draft read: nothing is published unread
        return not self.defects and bound <= self.max_defect + 1e-12

    def as_json(self) -> dict:
        return {"lot": self.name, "state": self.state, "source": self.source, "drafts": len(self.members),
                "sample": len(self.sample), "decided": len(self.sample) - len(self.pending), "defects": len(self.defects),
                "confidence": self.confidence, "max_defect": self.max_defect, "bound": self.bound,
                "passed": self.passed, "commit": self.commit, "seed": self.seed, "seed_given": self.seed_given,
                "earlier_dropped": self.earlier, "drawn_by": self.drawn_by, "ended_by": self.ended_by,
                "sampled": [{"path": m.draft, "decision": m.decision, "by": m.decided_by} for m in self.sample]}

    def summary(self) -> str:
        """The lines a commit message records of the lot."""
        bound = self.bound
        seed = f"seed {self.seed}, " + ("chosen by the operator" if self.seed_given else "drawn at random")
        earlier = f"; lots dropped before over some of these drafts: {', '.join(self.earlier)}" if self.earlier else ""
        return (f"Audited lot {self.name} ({self.source}): {len(self.members)} judge-passed drafts; a random sample of "
                f"{len(self.sample)} read ({seed}), {len(self.defects)} defect(s); upper bound on the defect rate "
                f"{bound:.2%} at {self.confidence:.0%} confidence (Clopper-Pearson), at most {self.max_defect:.2%} "
                f"asked{earlier}")


def open_lot(config: Config, name: str, paths: list[Path], source: str, *, confidence: float = 0.95,
             max_defect: float = 0.05, seed: int | None = None, by: Person | None = None) -> tuple[LotStatus, list[str]]:
    """Draw a lot from these drafts (those the judge passed in their present form) and its sample; a line per
    draft left out. InputError for a lot name taken, or no draft to audit."""
    name = name.strip()
    if not valid_lot_name(name):
        raise InputError(f"audit: {name!r} is not a lot name (up to 100 characters: no slashes, line breaks or "
                         "control characters)")
    n = sample_size(confidence, max_defect)
    if JudgmentStore.exists(config):
        taken = JudgmentStore(config)
        try:
            if taken.lot(name) is not None:
                raise InputError(f"audit: lot {name!r} exists already (qtgen audit show {name} shows it)")
        finally:
            taken.close()
    judge = Judge.open(config, for_reading=True)
    notes: list[str] = []
    members: list[tuple[str, bytes]] = []
    try:
        from ..errors import ParseError
        from ..format.reader import parse

        read = []
        for path in paths:
            try:
                data = path.read_bytes()
                read.append((str(path), data, parse(data.decode("utf-8")).subject))
            except (OSError, UnicodeDecodeError, ParseError):
                notes.append(f"{path.name}: left out, it holds no page")
        grades = judge.kept(read)
        in_lots = open_lot_members(config)
        for draft, data, _ in read:
            grade = grades.get(draft)
            if draft in in_lots:
                notes.append(f"{Path(draft).name}: left out, it is in the open lot {in_lots[draft]} (qtgen audit drop "
                             f"{in_lots[draft]} gives it up)")
            elif grade is None:
                notes.append(f"{Path(draft).name}: left out, not judged in its present form")
            elif grade.verdict != PASS:
                notes.append(f"{Path(draft).name}: left out, the judge says {grade.verdict}")
            elif (why := _not_clean(config, Path(draft), data)) is not None:
                notes.append(f"{Path(draft).name}: left out, {why}")
            else:
                members.append((draft, data))
        if not members:
            from collections import Counter

            kinds = Counter(n.split(": left out, ", 1)[-1].split(" (")[0] for n in notes)
            why = ("; left out: " + "; ".join(f"{count} as {kind}" for kind, count in kinds.most_common(3))) if notes else ""
            raise InputError(f"audit: no draft of {source} can be drawn: a lot takes clean drafts the judge has passed "
                             f"in their present form (qtgen judge first){why}")
        members.sort(key=lambda m: m[0])  # the same drafts and seed draw the same sample, however they were named
        given = seed is not None  # a chosen seed could choose the sample: the commit says so
        seed = seed if seed is not None else secrets.randbelow(2**31)
        chosen = set(random.Random(seed).sample(range(len(members)), min(n, len(members))))
        exists, clash = judge.store().add_lot(name, confidence, max_defect, seed, given, source,
                                              [(d, hashlib.sha256(data).hexdigest(), i in chosen)
                                               for i, (d, data) in enumerate(members)], line_of(config, by))
        if exists:
            raise InputError(f"audit: lot {name!r} exists already (qtgen audit show {name} shows it)")
        if clash:
            first, lot = next(iter(clash.items()))
            raise InputError(f"audit: {len(clash)} of these drafts were drawn into lot {lot} while this draw was made "
                             f"(first: {Path(first).name}); nothing drawn: qtgen audit show {lot} shows that lot")
    finally:
        judge.close()
    if len(members) <= n:
        notes.append(f"the lot holds {len(members)} draft(s), no more than the sample of {n}: every one is read")
    return status(config, name), notes


def valid_lot_name(name: str) -> bool:
    """A lot name qtgen takes: 1 to 100 characters, no slash, no control or line-separator character of any kind."""
    from ..format.plaintext import one_line

    return 0 < len(name) <= 100 and one_line(name) == name and not any(c in name for c in "/\\")


def _not_clean(config: Config, path: Path, data: bytes) -> str | None:
    """Why a draft cannot be published unread (an error or a warning), or None."""
    from ..drafts.queue import assess

    item = assess(config, path, None, data=data)
    if item.errors:
        return f"it has an error ({item.errors[0]})"
    if item.warnings:
        return f"it has a warning ({item.warnings[0]}): only clean drafts are published unread"
    return None


def open_lot_members(config: Config) -> dict[str, str]:
    """Every draft of a lot still open (str(path) -> the lot's name)."""
    if not JudgmentStore.exists(config):
        return {}
    store = JudgmentStore(config)
    try:
        return store.open_lot_members()
    finally:
        store.close()


def drop(config: Config, name: str, *, by: Person | None = None) -> LotStatus:
    """Give a lot up (its drafts go back to review one by one, or to a new lot); it stays on record as dropped."""
    lot = status(config, name)
    if lot.state != OPEN:
        raise InputError(f"audit: lot {name} is {lot.state}, not open")
    _set_state(config, name, DROPPED, by=line_of(config, by))
    return status(config, name)


def status(config: Config, name: str) -> LotStatus:
    """A lot as it stands: each sampled draft's decision since the lot was drawn (approved unchanged, or a defect)."""
    if not JudgmentStore.exists(config):
        raise InputError(f"audit: no lot {name!r} (qtgen audit draw {name} DRAFT..., --subject S, --run RUN or --list FILE draws one)")
    store = JudgmentStore(config)
    try:
        lot = store.lot(name)
        if lot is None:
            raise InputError(f"audit: no lot {name!r} (qtgen audit draw {name} DRAFT..., --subject S, --run RUN or --list FILE draws one)")
        members = [Member(r["draft"], r["data_sha"], bool(r["sampled"])) for r in store.lot_members(name)]
        for m in members:
            if m.sampled:  # sound only if published as the lot drew it; any other decision since is a defect for good
                for row in store.decisions_since(m.draft, lot["created"]):
                    sound = row["data_sha"] == m.data_sha and row["decision"] in (APPROVE, EDITED)
                    m.decided_by = row["decided_by"]
                    if not sound:
                        m.decision = EDITED if row["decision"] == APPROVE else row["decision"]
                        break
                    m.decision = APPROVE
        out = LotStatus(name, lot["confidence"], lot["max_defect"], lot["source"], lot["state"], members, lot["created"],
                        lot["commit"], lot["seed"], bool(lot["seed_given"]), drawn_by=lot["drawn_by"],
                        ended_by=lot["ended_by"])
        # lots given up before, over some of the same drafts: a new draw after a failed one is on record
        out.earlier = store.earlier_lots(name)
    finally:
        store.close()
    for m in out.pending:
        if not Path(m.draft).is_file():
            out.notes.append(f"{Path(m.draft).name}: sampled, but gone from the queue without a decision qtgen saw "
                             "(moved or deleted by hand): the lot cannot be settled without it")
    return out


def publishable(config: Config, lot: LotStatus) -> tuple[list[Path], list[str]]:
    """The drafts of a passed lot to publish unread: those not sampled, still drafts, unchanged since the lot was
    drawn; and a line per one held back."""
    if lot.state == PUBLISHED:
        raise QtgenError(f"lot {lot.name}: published already (commit {(lot.commit or '')[:12]})")
    if lot.state == DROPPED:
        raise QtgenError(f"lot {lot.name}: dropped; its drafts are reviewed one by one, or in a new lot")
    if lot.defects:
        raise QtgenError(f"lot {lot.name} failed its audit: {len(lot.defects)} defect(s) in its sample of "
                         f"{len(lot.sample)} (one fails a lot); qtgen audit drop {lot.name} gives it up, then review "
                         "its drafts one by one")
    if lot.pending:
        raise QtgenError(f"lot {lot.name}: {len(lot.pending)} of {len(lot.sample)} sampled draft(s) still wait for a "
                         f"decision (first: {Path(lot.pending[0].draft).name}); qtgen audit show {lot.name} lists them")
    from ..drafts.folder import DraftStore, unchanged

    store = DraftStore(config, migrate=False)
    paths, held = [], []
    for m in lot.members:
        if m.sampled:
            continue
        path = Path(m.draft)
        try:
            same = hashlib.sha256(path.read_bytes()).hexdigest() == m.data_sha
        except OSError:
            held.append(f"{path.name}: no longer in the queue")
            continue
        if not same:
            held.append(f"{path.name}: changed since the lot was drawn; it waits for its own review")
        elif unchanged(store, path):  # a revision that is still its published page: nothing to publish, never a block
            held.append(f"{path.name}: a revision still byte for byte its published page: nothing to publish")
        else:
            paths.append(path)
    return paths, held


def mark_published(config: Config, name: str, commit: str | None, by: str | None = None) -> None:
    _set_state(config, name, PUBLISHED, commit, by)


def _set_state(config: Config, name: str, state: str, commit: str | None = None, by: str | None = None) -> None:
    """An open lot given up (dropped) or published (with its commit), by whom."""
    store = JudgmentStore(config)
    try:
        store.set_lot_state(name, state, commit, by)
    finally:
        store.close()


def lot_drafts(config: Config, names: list[str], subject: str | None, run: str | None,
               listing: Path | None) -> tuple[list[Path], str]:
    """The drafts a new lot is drawn from, and what they are ("run X", "subject S", "a list of N")."""
    from ..format.slug import slug
    from ..drafts.folder import DraftStore, draft_paths_in

    chosen = sum(x is not None and x != [] for x in (names or None, subject, run, listing))
    if chosen != 1:
        raise InputError("audit: draw a new lot from one of: DRAFT..., --subject S, --run RUN or --list FILE")
    store = DraftStore(config)
    if subject is not None:
        folder = slug(subject, config.slug_style)
        return [p for p in store.drafts() if p.parent.name == folder], f"subject {subject}"
    if run is not None:
        from ..batch.ledger import ledger_path
        from ..batch.ledger import Ledger
        from ..batch.entries import DONE

        if not ledger_path(config).is_file():
            raise InputError(f"run {run!r}: no such run (qtgen runs lists them)")
        ledger = Ledger(ledger_path(config))
        try:
            ledger.find_run(run)
            items = ledger.items(run, (DONE,))
        finally:
            ledger.close()
        paths = [Path(i.path) if Path(i.path).is_absolute() else config.root / i.path for i in items if i.path]
        return [p for p in paths if p.is_file()], f"run {run}"
    if listing is not None:
        try:
            from ..format.files import read_bounded

            lines = [line.strip() for line in read_bounded(listing, what="list of drafts").decode("utf-8").splitlines()]
        except UnicodeDecodeError as exc:
            raise InputError(f"{listing}: cannot be read ({exc})") from None
        wanted = [line for line in lines if line and not line.startswith("#")]
        return draft_paths_in(store, wanted), f"the list {listing.name}"
    return draft_paths_in(store, names), f"{len(names)} named draft(s)"
