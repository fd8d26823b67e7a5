"""The architecture as a test (DESIGN.md): the import contracts of pyproject.toml hold on the tree,
each of them fails on a throwaway tree that breaks it, no module imports another in a cycle, and
nothing outside storage/ imports what builds SQL."""

from __future__ import annotations

import ast
import importlib
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import grimp
import pytest

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = REPO / "pyproject.toml"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def importlinter_config() -> dict[str, Any]:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]


def lint_imports(cwd: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """`lint-imports` as `make lint` runs it, on the pyproject.toml of `cwd`. PYTHONPATH puts
    `cwd` first, so that a throwaway `bot` there shadows the installed one; COLUMNS keeps rich
    from wrapping an import chain."""
    env = {**os.environ, "PYTHONPATH": str(cwd), "COLUMNS": "250"}
    args = [str(LINT_IMPORTS), "--no-cache"]
    args += [f"--contract={contract}" for contract in contracts]
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_import_contracts_hold() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    count = len(importlinter_config()["contracts"])
    assert f"Contracts: {count} kept, 0 broken." in result.stdout


# --- each contract can fail ------------------------------------------------------------------


def throwaway_tree(root: Path, files: dict[str, str]) -> None:
    """A tree holding every package our contracts name, plus `files`, and a pyproject.toml with
    our contracts but not the imports they ignore (those modules are not there)."""
    config = importlinter_config()
    roots = tuple(config["root_packages"])
    named: set[str] = set()
    contracts = []
    for contract in config["contracts"]:
        for key in ("source_modules", "forbidden_modules", "ancestors"):
            named.update(name for name in contract.get(key, ()) if name.startswith(roots))
        contracts.append({k: v for k, v in contract.items() if k != "ignore_imports"})
    modules = {".".join(Path(path).with_suffix("").parts) for path in files}
    # Packages: the ones the contracts name (unless a file is that module) and those of the files.
    packages = named - modules
    packages |= {".".join(Path(path).parent.parts) for path in files}
    for name in packages:
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            package = root.joinpath(*parts[:depth])
            package.mkdir(exist_ok=True)
            (package / "__init__.py").touch()
    for path, text in files.items():
        (root / path).write_text(text, encoding="utf-8")
    lines = ["[tool.importlinter]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in config.items() if key != "contracts"]
    for contract in contracts:
        lines.append("\n[[tool.importlinter.contracts]]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in contract.items()]
    (root / "pyproject.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


# One violation per case, all in one throwaway tree (one run of lint-imports for them all):
# (the contract that must report it, the modules that break it, what the report must say; of
# a tuple, one of them: a cycle is broken at either end).
VIOLATIONS: dict[str, tuple[str, dict[str, str], list[str | tuple[str, ...]]]] = {
    "the domain imports HTTP": (
        "domain",
        {"bot/leads/capture.py": "import bot.web\n"},
        ["bot.leads.capture -> bot.web"],
    ),
    "a deferred import of a transport library": (
        "domain",
        {"bot/scoring/score.py": "def why():\n    from slack_sdk import WebClient\n"},
        ["bot.scoring.score -> slack_sdk"],
    ),
    "a TYPE_CHECKING import of the CLI": (
        "domain",
        {"bot/dedupe/index.py": "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
                                "    import bot.cli\n"},
        ["bot.dedupe.index -> bot.cli"],
    ),
    "an indirect import of the SMTP listener": (
        "domain",
        {"bot/nurture/send.py": "import bot.mail_in.pipeline\n",
         "bot/mail_in/pipeline.py": "import bot.mail_in.smtp\n"},
        ["bot.nurture.send -> bot.mail_in.pipeline", "bot.mail_in.pipeline -> bot.mail_in.smtp"],
    ),
    "storage imports bot": (
        "storage",
        {"storage/models.py": "from bot.leads import fields\n"},
        ["storage.models -> bot.leads"],
    ),
    "two packages import each other, one inside a function": (
        "acyclic",
        {"bot/leads/views.py": "import bot.scoring.grade\n",
         "bot/scoring/grade.py": "def grade():\n    import bot.leads.views\n"},
        ["No cycles are allowed in bot.", (".leads -> .scoring", ".scoring -> .leads")],
    ),
    "two modules of one package import each other": (
        "acyclic",
        {"bot/dedupe/match.py": "from bot.dedupe import scan\n",
         "bot/dedupe/scan.py": "from bot.dedupe import match\n"},
        ["No cycles are allowed in bot.dedupe.", (".match -> .scan", ".scan -> .match")],
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def broken_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """lint-imports on a throwaway tree holding every violation: contract id → its report."""
    files: dict[str, str] = {}
    for _, modules, _ in VIOLATIONS.values():
        assert not set(files) & set(modules), "one module per violation"
        files.update(modules)
    root = tmp_path_factory.mktemp("violations")
    throwaway_tree(root, files)
    result = lint_imports(root)
    contracts = importlinter_config()["contracts"]
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"Contracts: 0 kept, {len(contracts)} broken." in result.stdout, result.stdout
    # Each broken contract's report runs from its name (under "Broken contracts") to the next.
    reports = result.stdout.split("Broken contracts", 1)[1]
    starts = sorted((reports.index(f"\n{c['name']}\n"), c["id"]) for c in contracts)
    ends = [start for start, _ in starts[1:]] + [len(reports)]
    return {cid: reports[start:end] for (start, cid), end in zip(starts, ends, strict=True)}


@pytest.mark.parametrize("case", VIOLATIONS)
def test_each_contract_reports_a_tree_that_breaks_it(
    broken_report: dict[str, str], case: str
) -> None:
    contract, _, reported = VIOLATIONS[case]
    for expected in reported:
        alternatives = (expected,) if isinstance(expected, str) else expected
        assert any(text in broken_report[contract] for text in alternatives), broken_report[
            contract
        ]


def test_the_throwaway_tree_without_a_violation_keeps_every_contract(tmp_path: Path) -> None:
    """The other half of the proof: the failures above come from the violations, not the tree."""
    throwaway_tree(tmp_path, {"bot/leads/capture.py": "import bot.dedupe.match\n"})
    result = lint_imports(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


# --- no module imports another in a cycle -----------------------------------------------------


def imports_in_cycles(graph: grimp.ImportGraph, allowed: set[tuple[str, str]]) -> list[str]:
    """Each import `a -> b` from which a chain of imports leads back to `a`, once the `allowed`
    imports are left out.

    acyclic_siblings looks at packages and at the modules of one package; a cycle of modules
    across packages through an import it was told to ignore would pass it, so this looks at
    every module of the tree at once."""
    for importer, imported in allowed:
        graph.remove_import(importer=importer, imported=imported)
    return sorted(
        f"{module} -> {imported}"
        for module in graph.modules
        for imported in graph.find_modules_directly_imported_by(module)
        if graph.chain_exists(importer=imported, imported=module)
    )


def test_no_modules_import_each_other_in_a_cycle() -> None:
    config = importlinter_config()
    graph = grimp.build_graph(
        *config["root_packages"],
        exclude_type_checking_imports=config["exclude_type_checking_imports"],
        cache_dir=None,
    )
    # No exemption: the worker processes' entry points no longer import what starts them.
    assert imports_in_cycles(graph, set()) == []


def test_a_cycle_of_modules_across_packages_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {
        "throwaway/leads/capture.py": "from throwaway.dedupe import store_match\n",
        "throwaway/dedupe/store_match.py": "def merge():\n    import throwaway.leads.capture\n",
        "throwaway/dedupe/match.py": "from throwaway.leads import capture\n",
    }
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        for package in (tmp_path / path).relative_to(tmp_path).parents[:-1]:
            (tmp_path / package / "__init__.py").touch()
        (tmp_path / path).write_text(text, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("throwaway", cache_dir=None)
    assert imports_in_cycles(graph, set()) == [
        "throwaway.dedupe.store_match -> throwaway.leads.capture",
        "throwaway.leads.capture -> throwaway.dedupe.store_match",
    ]
    allowed = {("throwaway.dedupe.store_match", "throwaway.leads.capture")}
    assert imports_in_cycles(graph, allowed) == []


# --- SQL is built only in storage/ -----------------------------------------------------------

SQL_LIBRARIES = ("sqlalchemy", "sqlmodel")


def _passes_through(module: str, name: str) -> bool:
    """A Session may be passed through and an error caught; nothing else of the SQL libraries
    is used outside storage/ (`select`, `insert`, `text`, `func`, `col`, the engine, …)."""
    if name == "Session":
        return True
    value = getattr(importlib.import_module(module), name, None)
    if isinstance(value, ModuleType):
        return value.__name__ == "sqlalchemy.exc"
    return isinstance(value, type) and issubclass(value, BaseException)


def sql_imports(root: Path) -> list[str]:
    """`path:line: what` for every import from sqlalchemy or sqlmodel under `root` that is not
    a Session or an exception class (imports inside functions included)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            where = f"{path.relative_to(root)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module.split(".")[0] in SQL_LIBRARIES:
                    found += [
                        f"{where}: {node.module}.{alias.name}"
                        for alias in node.names
                        if not _passes_through(node.module, alias.name)
                    ]
            elif isinstance(node, ast.Import):
                found += [
                    f"{where}: {alias.name}"
                    for alias in node.names
                    if alias.name.split(".")[0] in SQL_LIBRARIES and alias.name != "sqlalchemy.exc"
                ]
    return found


def test_nothing_outside_storage_imports_what_builds_sql() -> None:
    assert sql_imports(REPO / "bot") == []


def test_an_import_that_builds_sql_is_found(tmp_path: Path) -> None:
    (tmp_path / "leads.py").write_text(
        "import sqlalchemy\n"
        "import sqlalchemy.exc\n"
        "from sqlalchemy import exc, func, text\n"
        "from sqlalchemy.exc import IntegrityError\n"
        "from sqlmodel import Session, col, select\n"
        "\n"
        "def later():\n"
        "    from sqlalchemy.dialects.postgresql import insert\n",
        encoding="utf-8",
    )
    assert sql_imports(tmp_path) == [
        "leads.py:1: sqlalchemy",
        "leads.py:3: sqlalchemy.func",
        "leads.py:3: sqlalchemy.text",
        "leads.py:5: sqlmodel.col",
        "leads.py:5: sqlmodel.select",
        "leads.py:8: sqlalchemy.dialects.postgresql.insert",
    ]
