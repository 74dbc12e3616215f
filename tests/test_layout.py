"""The shape of the package, read from its own source: one-way layers, no import cycle anywhere (imports inside
functions and under TYPE_CHECKING included), modules and folders of a size a newcomer can read, and the rule
modules whose source keys stored findings found by name."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import parse_python

PACKAGE = Path(__file__).resolve().parent.parent / "qtgen"
LAYERS = ["errors", "paths", "locks", "config", "database", "format", "llm", "site", "checks", "drafts", "drafting",
          "batch", "judging", "insight", "team", "publishing", "studio", "cli"]


def module_of(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Every module of qtgen and the modules of qtgen it imports, wherever the import statement stands."""
    modules = {module_of(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        found = set()
        for node in ast.walk(parse_python(path)):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = ".".join(package[: len(package) - (node.level - 1)] + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            found.update(t for t in targets if t in modules and t != name)
        graph[name] = found
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                part = []
                while True:
                    top = stack.pop()
                    on.discard(top)
                    part.append(top)
                    if top == node:
                        break
                if len(part) > 1:
                    out.append(sorted(part))
    return out


def test_the_cycle_finder_finds_a_cycle_through_three_modules():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycle_anywhere_in_qtgen():
    graph = imports()
    assert sum(len(v) for v in graph.values()) > 400  # function-level imports are read too
    assert "qtgen.llm.pricing" in graph["qtgen.judging.judge"]  # an import inside a method
    assert cycles(graph) == []


def test_imports_only_go_down_the_layers():
    upward = []
    graph = imports()
    for name, targets in graph.items():
        layer = name.split(".")[1] if "." in name else ""
        if layer not in LAYERS:
            continue
        for target in targets:
            other = target.split(".")[1] if "." in target else ""
            if other in LAYERS and LAYERS.index(other) > LAYERS.index(layer):
                upward.append(f"{name} imports {target}")
    assert upward == []
    tops = {p.name.removesuffix(".py") for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").is_file()}
    assert tops - {"__init__", "__main__"} == set(LAYERS)  # every part of the package has its place


def test_modules_and_folders_a_newcomer_can_read():
    long = {module_of(p): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 500}
    assert long == {}
    crowded = {str(d.relative_to(PACKAGE)): n for d in [PACKAGE, *PACKAGE.rglob("*")] if d.is_dir()
               and (n := len([p for p in d.glob("*.py") if p.name != "__init__.py"])) > 12}
    assert crowded == {"cli/commands": crowded.get("cli/commands")}  # one module per command, as pre-commit has


def test_the_rule_modules_that_key_stored_findings_are_found_by_name():
    import importlib.util

    from qtgen.checks import findings

    found = [importlib.util.find_spec(name) for name in findings._RULE_MODULES]
    assert all(spec is not None and Path(spec.origin).is_file() for spec in found)
    assert "qtgen.checks.rules" in findings._RULE_MODULES and "qtgen.checks.lint" in findings._RULE_MODULES


def test_every_import_of_qtgen_names_something_that_exists():
    """An import inside a function runs only when that function does: one left pointing at a module that moved would
    fail in front of a user. Each is resolved here, as Python would, without running it."""
    import importlib

    modules = {module_of(p): p for p in PACKAGE.rglob("*.py")}
    broken, seen = [], 0
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(parse_python(path)):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = ".".join(package[: len(package) - (node.level - 1)] + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                if not base.startswith("qtgen"):
                    continue
                seen += 1
                if base not in modules:
                    broken.append(f"{name}: from {base}")
                    continue
                target = importlib.import_module(base)
                for alias in node.names:
                    if f"{base}.{alias.name}" not in modules and not hasattr(target, alias.name):
                        broken.append(f"{name}: {alias.name} from {base}")
            elif isinstance(node, ast.Import):
                broken += [f"{name}: import {a.name}" for a in node.names
                           if a.name.startswith("qtgen") and a.name not in modules]
    assert seen > 500 and broken == []


def test_each_table_is_written_and_read_by_the_one_store_that_owns_its_file():
    """Every SQL statement naming a table stands in one module: the store of that table's file."""
    import re

    statement = re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN|TABLE(?: IF NOT EXISTS)?|ON)\s+\[?([a-z_]+)\]?", re.I)
    sql = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|REPLACE)\b", re.I)
    owners: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(parse_python(path)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and sql.match(node.value):
                for table in statement.findall(node.value):
                    if table.lower() not in {"select", "values", "where", "set", "sqlite_master"}:
                        owners.setdefault(table, set()).add(module_of(path))
    assert {"judgments", "decisions", "lots", "lot_members", "judge_batches", "items", "runs", "api_batches"} <= set(owners)
    shared = {table: sorted(modules) for table, modules in owners.items() if len(modules) > 1}
    assert shared == {}
    assert owners["lots"] == {"qtgen.judging.store"} and owners["items"] == {"qtgen.batch.ledger"}


def test_the_workflows_are_importable_by_name_in_a_fresh_interpreter():
    import subprocess
    import sys

    code = ("from qtgen.batch import Batch, Options; from qtgen.drafts import DraftStore; import qtgen.drafts as d; "
            "from qtgen import draft, batch, batchlane, review, lint, load_config; "
            "assert d.DraftStore is DraftStore and batch.Batch is Batch and callable(draft.draft_question); "
            "import qtgen.batch as b; b.__dict__.pop('run', None)\n"
            "try:\n    b.nothing\nexcept AttributeError as e:\n    print('no', e)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "no module 'qtgen.batch' has no attribute 'nothing'"


def test_the_layout_page_names_every_module():
    """docs/reference/layout.md is written by hand: a module it does not name is a module a newcomer cannot find."""
    page = (PACKAGE.parent / "docs" / "reference" / "layout.md").read_text()
    unnamed = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
               if p.name not in ("__init__.py", "__main__.py") and "commands" not in p.parts
               and f"`{p.stem}`" not in page]
    assert unnamed == []
