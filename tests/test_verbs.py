"""Verbs are subcommands (`qtgen batch run|resume|cancel|export|import`, `qtgen judge run|poll|calibrate`, `qtgen
audit draw|show|publish|drop`, `qtgen runs list|poll|report`, `qtgen revise copy|regenerate|duplicates`), each with a
handful of options; the forms of the release before (`qtgen batch FILE --resume`, `qtgen approve --lot`) keep working
and are no longer listed. Run as real processes against the local OpenAI-protocol server and a real git site."""

from __future__ import annotations

import json

import click
import pytest

from qtgen.cli.main import cli

from conftest import clean_env, git, init_repo, run_qtgen, write_config
from fake_openai import FakeOpenAI

GLOBAL = {"help", "quiet"}  # -h/--help and -q/--quiet: taken by every command, and by qtgen itself


def every_command():
    """(name, click command) of every command and subcommand, hidden ones included."""
    ctx = click.Context(cli, info_name="qtgen")
    out = []
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        out.append((name, command))
        if isinstance(command, click.Group):
            out += [(f"{name} {sub}", c) for sub, c in command.commands.items()]
    return out


def shown_options(command) -> list[str]:
    return [p.name for p in command.params if isinstance(p, click.Option) and not p.hidden and p.name not in GLOBAL]


def test_no_command_takes_more_than_fourteen_options():
    commands = every_command()
    assert len(commands) > 45 and {"batch run", "batch export", "judge calibrate", "audit publish", "runs report",
                                   "revise duplicates"} <= {n for n, _ in commands}
    crowded = {name: len(shown_options(c)) for name, c in commands if len(shown_options(c)) > 14}
    assert crowded == {}


@pytest.mark.parametrize("group,verbs,gone", [
    ("batch", ["run", "resume", "cancel", "export", "import"], ["--resume", "--cancel", "--export-jsonl"]),
    ("judge", ["run", "poll", "calibrate"], []),
    ("audit", ["draw", "show", "publish", "drop"], []),
    ("runs", ["list", "poll", "report"], []),
    ("revise", ["copy", "regenerate", "duplicates"], []),
    ("related", ["refresh"], ["--refresh"]),
])
def test_help_lists_the_verbs_and_not_the_flags_they_replace(site, group, verbs, gone):
    r = run_qtgen(group, "--help", cwd=site)
    assert r.returncode == 0
    listed = [line.split()[0].rstrip("*") for line in r.stdout.split("Commands:")[1].splitlines()
              if line.startswith("  ") and not line.startswith("   ")]
    assert sorted(listed) == sorted(verbs)  # the earlier form's hidden default (audit's `lot`) is not listed
    default = run_qtgen(group, verbs[0], "--help", cwd=site).stdout
    for flag in gone + ["--poll", "--calibrate", "--drop", "--regenerate", "--duplicates", "--import-results"]:
        assert flag not in default
    assert "--lot" not in run_qtgen("approve", "--help", cwd=site).stdout


def site_with_server(site, server) -> dict:
    init_repo(site)
    write_config(site, batch_api_poll=0.0)
    return clean_env(site, OPENAI_BASE_URL=server.url, OPENAI_API_KEY="sk-test")


def test_a_whole_loop_with_the_verbs(site):
    with FakeOpenAI() as server:
        e = site_with_server(site, server)
        topics = ["inertia", "momentum", "friction", "torque", "pressure", "buoyancy", "entropy", "enthalpy", "voltage"]
        (site / "q.csv").write_text("question,subject\n" + "".join(f"What is {t}?,Physics\n" for t in topics))
        r = run_qtgen("batch", "run", "q.csv", "--limit", "4", cwd=site, env=e, timeout=300)
        assert r.returncode == 0, r.stderr
        assert "resume with: qtgen batch resume" in r.stderr
        run_id = json.loads(run_qtgen("runs", "list", "--json", cwd=site, env=e).stdout)[0]["run"]
        r = run_qtgen("batch", "resume", cwd=site, env=e, timeout=300)
        assert r.returncode == 0 and "(resumed)" in r.stderr, r.stderr
        assert len(list((site / "drafts" / "physics").glob("*.md"))) == 9 and len(server.requests) == 9
        assert run_qtgen("runs", "report", run_id, "report.jsonl", cwd=site, env=e).returncode == 0
        report = [json.loads(line) for line in (site / "report.jsonl").read_text().splitlines()]
        assert len(report) == 9 and {line["status"] for line in report} == {"done"}
        assert run_qtgen("runs", "report", run_id, "-", cwd=site, env=e).returncode == 2 and not (site / "-").exists()
        r = run_qtgen("runs", "report", "no-such-run", "x.jsonl", cwd=site, env=e)
        assert r.returncode == 2 and "no such run" in r.stderr and not (site / "x.jsonl").exists()

        assert run_qtgen("judge", "run", "--all", cwd=site, env=e).returncode == 0
        judged = len(server.requests)
        r = run_qtgen("audit", "draw", "w1", "--subject", "Physics", "--confidence", "0.8", "--max-defect", "0.2",
                      "--seed", "3", "--json", cwd=site, env=e)
        assert r.returncode == 0, r.stderr
        lot = json.loads(r.stdout)
        assert (lot["drafts"], lot["sample"]) == (9, 8)
        r = run_qtgen("audit", "draw", "w2", cwd=site, env=e)  # a draw names where from
        assert r.returncode == 2 and "--subject S" in r.stderr
        r = run_qtgen("audit", "publish", "w1", cwd=site, env=e)
        assert r.returncode != 0 and "8 of 8 sampled draft(s) still wait for a decision" in r.stderr
        assert run_qtgen("approve", *[s["path"] for s in lot["sampled"]], cwd=site, env=e).returncode == 0
        shown = run_qtgen("audit", "show", "w1", cwd=site, env=e)
        assert shown.returncode == 0 and "qtgen audit publish w1 publishes the rest" in shown.stdout
        r = run_qtgen("audit", "publish", "w1", cwd=site, env=e)
        assert r.returncode == 0, r.stderr
        assert "Qtgen-Lot: w1" in git(site, "log", "-1", "--format=%(trailers:only,unfold)")
        assert len(git(site, "show", "--name-only", "--format=", "HEAD").split()) == 1
        cal = json.loads(run_qtgen("judge", "calibrate", "--json", cwd=site, env=e).stdout)
        assert cal["matrix"]["pass"]["approve"] == 8 and len(server.requests) == judged  # asks no model

        page = next((site / "content" / "learn").rglob("what-is-torque.md"))
        r = run_qtgen("revise", "copy", str(page.relative_to(site)), cwd=site, env=e)
        assert r.returncode == 0 and "1 revision(s) waiting for review" in r.stderr
        r = run_qtgen("related", "refresh", str(page.relative_to(site)), cwd=site, env=e)
        assert r.returncode == 0 and "related article(s)" in r.stdout, r.stderr
        other = next((site / "content" / "learn").rglob("what-is-voltage.md"))
        r = run_qtgen("revise", "regenerate", str(other.relative_to(site)), "--feedback", "shorter", cwd=site, env=e,
                      timeout=300)
        assert r.returncode == 0, r.stderr
        assert "shorter" in json.dumps(server.requests[-1]["body"]["messages"]) and len(server.requests) == judged + 1


def test_drop_and_a_lot_given_up(site):
    with FakeOpenAI() as server:
        e = site_with_server(site, server)
        (site / "q.csv").write_text("question,subject\nWhat is inertia?,Physics\nWhat is torque?,Physics\n")
        assert run_qtgen("batch", "q.csv", cwd=site, env=e, timeout=300).returncode == 0
        assert run_qtgen("judge", "--all", cwd=site, env=e).returncode == 0
        assert run_qtgen("audit", "draw", "w", "--subject", "Physics", cwd=site, env=e).returncode == 0
        r = run_qtgen("audit", "drop", "w", cwd=site, env=e)
        assert r.returncode == 0 and "lot w dropped" in r.stderr
        assert json.loads(run_qtgen("audit", "show", "w", "--json", cwd=site, env=e).stdout)["state"] == "dropped"


def test_export_and_import_with_the_verbs_and_the_earlier_flags(site):
    from test_batch_api import engine_results

    init_repo(site)
    write_config(site, batch_api_poll=0.0)
    (site / "q.csv").write_text("question,subject\n" + "".join(f"What is idea {i}?,Economics\n" for i in range(4)))
    r = run_qtgen("batch", "export", "q.csv", "requests.jsonl", "--limit", "2", cwd=site, env=clean_env(site))
    assert r.returncode == 0, r.stderr
    run_id = r.stdout.strip()
    assert len((site / "requests.jsonl").read_text().splitlines()) == 2
    assert f"qtgen batch import {run_id} RESULTS.jsonl" in r.stderr
    with FakeOpenAI() as server:
        results = engine_results(server, site / "requests.jsonl")
    (site / "results.jsonl").write_text("".join(json.dumps(x) + "\n" for x in results))
    r = run_qtgen("batch", "import", run_id, "results.jsonl", cwd=site, env=clean_env(site))
    assert r.returncode == 0, r.stderr
    assert len(list((site / "drafts" / "economics").glob("*.md"))) == 2
    # the same steps in the form of the release before: the rest exported, imported, and the export cancelled
    r = run_qtgen("batch", "q.csv", "--export-jsonl", "rest.jsonl", cwd=site, env=clean_env(site))
    assert r.returncode == 0 and r.stdout.strip() == run_id
    assert len((site / "rest.jsonl").read_text().splitlines()) == 2
    r = run_qtgen("batch", "--cancel", run_id, cwd=site, env=clean_env(site))
    assert r.returncode == 0 and "cancelled" in r.stderr
    r = run_qtgen("batch", "cancel", run_id, cwd=site, env=clean_env(site))
    assert r.returncode == 2 and "nothing to cancel" in r.stderr


def test_the_earlier_forms_still_work(site):
    with FakeOpenAI() as server:
        e = site_with_server(site, server)
        (site / "q.csv").write_text("question,subject\nWhat is inertia?,Physics\nWhat is torque?,Physics\n")
        r = run_qtgen("batch", "q.csv", "--limit", "1", cwd=site, env=e, timeout=300)
        assert r.returncode == 0, r.stderr
        r = run_qtgen("batch", "--resume", cwd=site, env=e, timeout=300)  # `qtgen batch --resume`
        assert r.returncode == 0 and "(resumed)" in r.stderr and len(server.requests) == 2
        assert run_qtgen("runs", "--poll", cwd=site, env=e).returncode == 0
        assert run_qtgen("runs", cwd=site, env=e).returncode == 0
        assert run_qtgen("judge", "--all", cwd=site, env=e).returncode == 0
        assert run_qtgen("judge", "--calibrate", cwd=site, env=e).returncode == 0
        assert run_qtgen("audit", "old", "--subject", "Physics", cwd=site, env=e).returncode == 0
        assert run_qtgen("audit", "old", "--drop", cwd=site, env=e).returncode == 0
        assert json.loads(run_qtgen("audit", "old", "--json", cwd=site, env=e).stdout)["state"] == "dropped"
