"""Approval by audited sample (`qtgen audit`, `qtgen approve --lot`) against the local OpenAI-protocol server in
tests/ and a real git repository: the plan's sample sizes, the Clopper-Pearson bound checked against the binomial
distribution itself, a lot drawn from judge-passed drafts only, its sample reviewed as usual, and the rest published
in one commit only when the bound allows."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from qtgen.publishing.lots import sample_size, upper_bound

from conftest import clean_env, git, init_repo, run_qtgen
from fake_openai import FakeOpenAI, house_answer

TOPICS = ["inertia", "momentum", "friction", "torque", "pressure", "buoyancy", "entropy", "enthalpy", "voltage",
          "resistance", "capacitance", "inductance"]


def reply(question, subject, body):
    data = house_answer(question, subject)
    if "orbit" in question.lower():
        data["answer"] = data["answer"].replace("In summary,", "The Sun orbits the Earth once a year.\n\nIn summary,")
    return data


@pytest.fixture
def server():
    with FakeOpenAI(reply=reply) as s:
        yield s


def env(site, server) -> dict:
    return clean_env(site, OPENAI_BASE_URL=server.url, OPENAI_API_KEY="sk-test")


def drafted_and_judged(site, server, topics: list[str]) -> dict:
    """A git site with a judged Physics draft of each topic; the environment to run qtgen in."""
    init_repo(site)
    e = env(site, server)
    (site / "q.csv").write_text("question,subject\n" + "".join(f"What is {t}?,Physics\n" for t in topics))
    assert run_qtgen("batch", "q.csv", cwd=site, env=e, timeout=300).returncode == 0
    assert run_qtgen("judge", "--all", cwd=site, env=e).returncode == 0
    return e


def binomial_cdf(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k + 1))


@pytest.mark.parametrize("confidence,max_defect,n", [(0.95, 0.05, 59), (0.99, 0.01, 459), (0.90, 0.10, 22),
                                                     (0.80, 0.20, 8)])
def test_the_zero_defect_plan_is_the_fewest_pages_that_bound_the_rate(confidence, max_defect, n):
    assert sample_size(confidence, max_defect) == n
    assert (1 - max_defect) ** n <= 1 - confidence < (1 - max_defect) ** (n - 1)


@pytest.mark.parametrize("defects,n", [(0, 59), (1, 59), (3, 100), (0, 8), (7, 8)])
def test_the_upper_bound_is_where_the_binomial_leaves_that_few_defects_one_chance_in_twenty(defects, n):
    bound = upper_bound(defects, n, 0.95)
    assert binomial_cdf(defects, n, bound) == pytest.approx(0.05, abs=1e-9)  # Clopper-Pearson, by its definition
    if defects == 0:
        assert bound == pytest.approx(1 - 0.05 ** (1 / n))
    assert upper_bound(n, n) == 1.0


def test_a_lot_is_audited_by_its_sample_and_the_rest_published_in_one_commit(site, server):
    init_repo(site)
    e = env(site, server)
    (site / "q.csv").write_text("question,subject\n" + "".join(f"What is {t}?,Physics\n" for t in TOPICS)
                                + "How does the Sun orbit?,Physics\n")
    r = run_qtgen("batch", "q.csv", cwd=site, env=e, timeout=300)
    assert r.returncode == 0, r.stderr
    assert run_qtgen("judge", "--all", cwd=site, env=e).returncode == 0
    # a first draw from the batch run, given up: the same drafts and seed drawn again give the same sample
    run_id = json.loads(run_qtgen("runs", "--json", cwd=site, env=e).stdout)[0]["run"]
    r = run_qtgen("audit", "trial", "--run", run_id, "--confidence", "0.8", "--max-defect", "0.2", "--seed", "7",
                  "--json", cwd=site, env=e)
    assert r.returncode == 0, r.stderr
    trial = json.loads(r.stdout)
    assert trial["source"] == f"run {run_id}" and trial["seed_given"] is True
    r = run_qtgen("audit", "week-12", "--subject", "Physics", cwd=site, env=e)  # each draft in one open lot at a time
    assert r.returncode == 2 and "no draft of subject Physics" in r.stderr and "in the open lot trial" in r.stderr
    assert run_qtgen("audit", "trial", "--drop", cwd=site, env=e).returncode == 0
    r = run_qtgen("audit", "week-12", "--subject", "Physics", "--confidence", "0.8", "--max-defect", "0.2", "--seed", "7",
                  "--json", cwd=site, env=e)
    assert r.returncode == 0, r.stderr
    lot = json.loads(r.stdout)
    assert "how-does-the-sun-orbit.md: left out, the judge says revise" in r.stderr  # only judge-passed drafts
    assert (lot["drafts"], lot["sample"], lot["decided"], lot["bound"], lot["passed"]) == (12, 8, 0, None, None)
    sampled = [s["path"] for s in lot["sampled"]]
    assert sampled == [s["path"] for s in trial["sampled"]] and lot["earlier_dropped"] == ["trial"]
    r = run_qtgen("audit", "week-12", "--subject", "Physics", cwd=site, env=e)  # a lot's name is its own
    assert r.returncode == 2 and "exists already" in r.stderr
    # approve --all-clean leaves a lot's drafts to its audit
    r = run_qtgen("approve", "--all-clean", cwd=site, env=e)
    assert "12 held by the judge gate, an open lot or as unchanged revisions" in r.stderr and "in lot week-12, waiting for its audit" in r.stderr
    assert [p.name for p in (site / "content" / "learn").rglob("*.md")] == ["how-does-the-sun-orbit.md"]  # not in it
    r = run_qtgen("approve", "--lot", "week-12", cwd=site, env=e)
    assert r.returncode != 0 and "8 of 8 sampled draft(s) still wait for a decision" in r.stderr
    # the sample is reviewed as usual: approved unchanged, each is sound
    r = run_qtgen("approve", *sampled, cwd=site, env=e)
    assert r.returncode == 0, r.stderr
    rest = sorted(p.name for p in (site / "drafts" / "physics").glob("what-is-*.md"))
    assert len(rest) == 4
    # a draft of the lot edited after the draw is not published unread
    edited = site / "drafts" / "physics" / rest[0]
    edited.write_text(edited.read_text().replace("It is best understood", "It is most easily understood"))
    r = run_qtgen("audit", "week-12", "--json", cwd=site, env=e)
    lot = json.loads(r.stdout)
    assert (lot["decided"], lot["defects"], lot["passed"]) == (8, 0, True)
    assert lot["bound"] == pytest.approx(1 - 0.2 ** (1 / 8))
    r = run_qtgen("approve", "--lot", "week-12", cwd=site, env=e)
    assert r.returncode == 0, r.stderr
    assert f"{rest[0]}: changed since the lot was drawn" in r.stderr
    published = {p.name for p in (site / "content" / "learn").rglob("*.md")}
    assert set(rest[1:]) <= published and rest[0] not in published
    message = git(site, "log", "-1", "--format=%B")
    assert "Audited lot week-12 (subject Physics): 12 judge-passed drafts; a random sample of 8 read (seed 7" in message
    assert "), 0 defect(s); upper bound" in message
    assert "upper bound on the defect rate 18.22% at 80% confidence" in message and "published unread: 3" in message
    assert "seed 7, chosen by the operator" in message and "lots dropped before over some of these drafts: trial" in message
    assert "Qtgen-Lot: week-12" in git(site, "log", "-1", "--format=%(trailers:only,unfold)")
    assert len(git(site, "show", "--name-only", "--format=", "HEAD").split()) == 3  # one commit of exactly those
    r = run_qtgen("approve", "--lot", "week-12", cwd=site, env=e)
    assert r.returncode != 0 and "published already" in r.stderr
    # the lot's unread publications are not reviewers' decisions: calibration counts only the 8 read
    cal = json.loads(run_qtgen("judge", "--calibrate", "--json", cwd=site, env=e).stdout)
    assert cal["matrix"]["pass"]["approve"] == 8


def test_a_defect_in_the_sample_fails_the_lot(site, server):
    e = drafted_and_judged(site, server, TOPICS[:10])
    names = [p.stem for p in sorted((site / "drafts" / "physics").glob("*.md"))]
    listing = site / "lot.txt"
    listing.write_text("# this week's\n" + "\n".join(names) + "\n")
    r = run_qtgen("audit", "w13", "--list", str(listing), "--confidence", "0.8", "--max-defect", "0.2", "--seed", "1",
                  "--json", cwd=site, env=e)
    lot = json.loads(r.stdout)
    sampled = [s["path"] for s in lot["sampled"]]
    assert run_qtgen("reject", sampled[0], "--reason", "wrong", cwd=site, env=e).returncode == 0
    assert run_qtgen("approve", *sampled[1:], cwd=site, env=e).returncode == 0
    r = run_qtgen("audit", "w13", cwd=site, env=e)
    assert "failed: 1 defect(s) in the sample" in r.stdout and "reject" in r.stdout
    r = run_qtgen("approve", "--lot", "w13", cwd=site, env=e)
    assert r.returncode != 0 and "failed its audit: 1 defect(s) in its sample of 8" in r.stderr and "qtgen audit drop" in r.stderr
    assert len(list((site / "content" / "learn").rglob("*.md"))) == 7


def test_one_defect_fails_the_lot_at_once_and_the_rest_of_the_sample_is_not_asked_for(site, server):
    e = drafted_and_judged(site, server, TOPICS[:10])
    r = run_qtgen("audit", "w14", "--subject", "Physics", "--confidence", "0.8", "--max-defect", "0.2", "--seed", "1",
                  "--json", cwd=site, env=e)
    sampled = [s["path"] for s in json.loads(r.stdout)["sampled"]]
    assert run_qtgen("reject", sampled[0], "--reason", "wrong", cwd=site, env=e).returncode == 0
    r = run_qtgen("audit", "w14", cwd=site, env=e)  # 7 sampled drafts undecided: the lot has failed all the same
    assert "failed: 1 defect(s) in the sample" in r.stdout and "need no decision for the audit" in r.stdout
    assert "waiting" not in r.stdout.replace("still waiting need no decision", "")
    lot = json.loads(run_qtgen("audit", "w14", "--json", cwd=site, env=e).stdout)
    assert lot["passed"] is False and lot["decided"] == 1


def test_decisions_of_an_approval_killed_before_its_commit_are_recorded_by_recovery(site, server):
    """The sampled drafts approved by a process killed at `git commit`: the next command commits them and records
    their decisions (they are in the approval's journal), so the lot settles; then a kill during approve --lot."""
    from test_approve import wrapped

    e = drafted_and_judged(site, server, TOPICS)
    r = run_qtgen("audit", "w15", "--subject", "Physics", "--confidence", "0.8", "--max-defect", "0.2", "--seed", "3",
                  "--json", cwd=site, env=e)
    sampled = [s["path"] for s in json.loads(r.stdout)["sampled"]]
    r = run_qtgen("approve", *sampled, cwd=site, env=wrapped(site, server, KILL_AT="commit", KILL_WHEN="before"))
    assert r.returncode == -9
    lot = json.loads(run_qtgen("audit", "w15", "--json", cwd=site, env=e).stdout)  # any next command recovers
    assert (lot["decided"], lot["defects"], lot["passed"]) == (8, 0, True), lot
    r = run_qtgen("approve", "--lot", "w15", cwd=site, env=wrapped(site, server, KILL_AT="commit", KILL_WHEN="after"))
    assert r.returncode == -9
    r = run_qtgen("approve", "--lot", "w15", cwd=site, env=e)  # the same command again: what recovery finished
    assert r.returncode == 0 and "finished" in r.stderr, r.stderr
    lot = json.loads(run_qtgen("audit", "w15", "--json", cwd=site, env=e).stdout)
    assert lot["state"] == "published" and lot["commit"]
    assert len(list((site / "content" / "learn").rglob("*.md"))) == 12
    assert "Qtgen-Lot: w15" in git(site, "log", "-1", "--format=%(trailers:only,unfold)")


def test_bad_lots_are_one_line_errors(site, server):
    e = env(site, server)
    r = run_qtgen("audit", "nope", cwd=site, env=e)
    assert r.returncode == 2 and "no lot 'nope'" in r.stderr
    r = run_qtgen("audit", "x", "--subject", "Physics", "--run", "r1", cwd=site, env=e)
    assert r.returncode == 2 and "one of" in r.stderr
    r = run_qtgen("audit", "x", "--subject", "Physics", cwd=site, env=e)
    assert r.returncode == 2 and "no draft of subject Physics can be drawn" in r.stderr
    r = run_qtgen("audit", "x", "--run", "r1", cwd=site, env=e)
    assert r.returncode == 2 and "no such run" in r.stderr
    r = run_qtgen("audit", "a/b", "--subject", "Physics", cwd=site, env=e)
    assert r.returncode == 2 and "not a lot name" in r.stderr


def test_a_defect_stays_a_defect_and_a_lot_publishes_only_the_bytes_it_drew(site, server):
    from qtgen.config import load
    from qtgen.errors import QtgenError
    from qtgen.publishing.approval import approve

    init_repo(site)
    e = env(site, server)
    (site / "q.csv").write_text("question,subject\n" + "".join(f"What is {t}?,Physics\n" for t in TOPICS[:9]))
    assert run_qtgen("batch", "q.csv", cwd=site, env=e, timeout=300).returncode == 0
    assert run_qtgen("judge", "--all", cwd=site, env=e).returncode == 0
    lot = json.loads(run_qtgen("audit", "w", "--subject", "Physics", "--confidence", "0.8", "--max-defect", "0.2",
                               "--json", cwd=site, env=e).stdout)
    first = lot["sampled"][0]["path"]
    assert run_qtgen("reject", first, "--reason", "wrong", cwd=site, env=e).returncode == 0
    rejected = next((site / "drafts" / "rejected").rglob(Path(first).name))
    Path(first).write_bytes(rejected.read_bytes())  # put back by hand, and approved: still a defect
    assert run_qtgen("approve", *[s["path"] for s in lot["sampled"]], cwd=site, env=e).returncode == 0
    status = json.loads(run_qtgen("audit", "w", "--json", cwd=site, env=e).stdout)
    assert (status["defects"], status["passed"]) == (1, False)
    assert run_qtgen("audit", "w", cwd=site, env=e).returncode == 1
    # the approval under the lot's lock publishes only the bytes the lot drew
    rest = next(m for m in (site / "drafts" / "physics").glob("*.md"))
    with pytest.raises(QtgenError, match="changed since its lot was drawn"):
        approve(load(cwd=site), [rest], expect={str(rest): "0" * 64})
    assert rest.is_file()


def test_calibration_counts_only_what_the_gate_would_let_through(site):
    """A revise or reject verdict is refused by the gate whatever its score: such drafts, rejected by reviewers at
    high scores, do not push min_score up (nor count as let through)."""
    import time

    from qtgen.config import load
    from qtgen.judging.calibration import calibrate
    from qtgen.judging.store import JudgmentStore

    config = load(cwd=site, environ={})
    store = JudgmentStore(config)
    rows = [("pass", 90, "approve")] * 10 + [("revise", 96, "reject")] * 5 + [("reject", 97, "reject")] * 2
    with store.db:
        for n, (verdict, score, decision) in enumerate(rows):
            store.db.execute("INSERT INTO decisions (draft, data_sha, subject, question, decision, verdict, score, "
                             "model, grade, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (f"d{n}.md", f"{n:064x}", "Physics", f"Q{n}?", decision, verdict, score, "m", f"g{n}",
                              time.time()))
    store.close()
    cal = calibrate(config, target=0.05)
    assert (cal.min_score, cal.let_through, cal.rejected_share) == (90, 10, 0.0)
    assert cal.matrix["revise"]["reject"] == 5 and cal.matrix["reject"]["reject"] == 2


def test_an_unchanged_revision_in_a_lot_is_held_back_and_never_blocks_the_rest(site, server):
    e = drafted_and_judged(site, server, TOPICS[:10])
    first = site / "drafts" / "physics" / "what-is-inertia.md"
    assert run_qtgen("approve", str(first), cwd=site, env=e).returncode == 0
    page = next((site / "content" / "learn").rglob("what-is-inertia.md"))
    r = run_qtgen("revise", str(page.relative_to(site)), cwd=site, env=e)  # a revision, still its published bytes
    assert r.returncode == 0, r.stderr
    revision = next(p for p in (site / "drafts").rglob("what-is-inertia*.md") if p.is_file())
    assert revision.read_bytes() == page.read_bytes()
    assert run_qtgen("judge", "--all", cwd=site, env=e).returncode == 0
    for seed in range(40):  # a draw whose sample leaves the revision among the drafts published unread
        r = run_qtgen("audit", f"lot-{seed}", "--subject", "Physics", "--confidence", "0.8", "--max-defect", "0.2",
                      "--seed", str(seed), "--json", cwd=site, env=e)
        assert r.returncode == 0, r.stderr
        lot = json.loads(r.stdout)
        sampled = [s["path"] for s in lot["sampled"]]
        if str(revision) not in sampled:
            break
        assert run_qtgen("audit", f"lot-{seed}", "--drop", cwd=site, env=e).returncode == 0
    else:
        pytest.fail("every seed sampled the revision")
    assert lot["drafts"] == 10  # nine new drafts and the revision
    assert run_qtgen("approve", *sampled, cwd=site, env=e).returncode == 0
    r = run_qtgen("approve", "--lot", f"lot-{seed}", cwd=site, env=e)
    assert r.returncode == 0, r.stderr
    assert "what-is-inertia.md: a revision still byte for byte its published page: nothing to publish" in r.stderr
    assert len(git(site, "show", "--name-only", "--format=", "HEAD").split()) == 10 - len(sampled) - 1
    assert page.read_bytes() == revision.read_bytes()  # the page is untouched and the revision still waits
    assert "Qtgen-Lot: lot-" in git(site, "log", "-1", "--format=%(trailers:only,unfold)")
