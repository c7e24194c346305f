"""The library's layout: one wing per lifecycle step over a small shared ground, imports running downward.

Layers, bottom to top: the shared ground (`params`, `io`, the `releases` package), `data`, `modeling`, `serving`,
`monitoring` (which reads the prediction log that serving writes). A module may import its own layer or
any layer below; nothing in the library imports the shells (`stages`, `app`, `dashboard`). No two library
modules import each other, directly or around a loop, counting imports inside functions too.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

from tests.shipped import REPO_ROOT

LIBRARY = REPO_ROOT / "creditrisk"
LAYERS = {"ground": 0, "data": 1, "modeling": 2, "serving": 3, "monitoring": 4}
# The ground beside params.py and io.py: the releases and the registry, one package so that a stage or the API
# that needs the record loads neither the release procedure nor the promotion code (each module of it is a
# dependency of the stages that import it). It is ground, not a wing: the evaluate stage and the API read it.
GROUND_PACKAGES = ("releases",)
SHELLS = ("stages", "app", "dashboard")


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in LAYERS else "ground"


def module_name(path: Path, root: Path = REPO_ROOT) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")


def imports_of(path: Path, root: Path = REPO_ROOT) -> set[str]:
    """Every module `path` imports, anywhere in it (inside functions too), relative imports resolved;
    `from package import module` names the module as well as the package."""
    package = module_name(path, root).split(".") if path.name == "__init__.py" else \
        module_name(path, root).split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join([*package[:len(package) - node.level + 1], *([node.module] if node.module else [])]) \
                if node.level else str(node.module)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names
                      if is_module(root, f"{base}.{alias.name}")}
    return found


def is_module(root: Path, dotted: str) -> bool:
    base = root.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def import_cycles(root: Path, package: str) -> list[str]:
    """A loop of imports among `package`'s modules (empty when there is none), as `a -> b -> a`.

    An edge goes to the module an import names; importing a submodule also runs its packages'
    `__init__`, but that is the loader's order, not a dependency, so a package that re-exports its
    modules is no loop unless one of them imports the package back.
    """
    files = sorted((root / package).rglob("*.py"))
    graph = {module_name(path, root): {name for name in imports_of(path, root)
                                       if name.split(".")[0] == package and is_module(root, name)}
             - {module_name(path, root)} for path in files}  # `from package import module` in its __init__
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        loop = list(reversed(error.args[1]))[:-1]  # importer first; the last repeats the first
        start = loop.index(min(loop))
        loop = loop[start:] + loop[:start]
        return [" -> ".join([*loop, loop[0]])]
    return []


LIBRARY_FILES = sorted(LIBRARY.rglob("*.py"))


def test_the_library_has_a_wing_per_lifecycle_step_and_a_small_ground() -> None:
    packages = sorted(path.name for path in LIBRARY.iterdir() if (path / "__init__.py").exists())
    assert packages == sorted([*(name for name in LAYERS if name != "ground"), *GROUND_PACKAGES])
    ground = sorted(path.name for path in LIBRARY.glob("*.py"))
    assert set(ground) <= {"__init__.py", "__main__.py", "io.py", "params.py"}, ground


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_imports_run_downward(path: Path) -> None:
    here = LAYERS[layer_of(module_name(path))]
    upward = [name for name in imports_of(path) if name.startswith("creditrisk.")
              and LAYERS[layer_of(name)] > here]
    shells = [name for name in imports_of(path) if name.split(".")[0] in SHELLS]
    assert upward == [] and shells == [], f"{path.name} imports {upward + shells}"


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    assert layer_of("creditrisk.monitoring.rules") == "monitoring" and layer_of("creditrisk.params") == "ground"
    assert LAYERS[layer_of("creditrisk.serving.scoring")] > LAYERS[layer_of("creditrisk.modeling.bundle")]


@pytest.mark.parametrize("package", ["creditrisk", "tooling"])
def test_no_modules_import_each_other_around_a_loop(package: str) -> None:
    assert import_cycles(REPO_ROOT, package) == []


def test_the_cycle_check_sees_a_loop_closed_inside_a_function(tmp_path: Path) -> None:
    package = tmp_path / "creditrisk"
    (package / "serving" / "log").mkdir(parents=True)
    for folder in (package, package / "serving", package / "serving" / "log"):
        (folder / "__init__.py").write_text("from creditrisk.serving.log import backends\n"
                                            if folder.name == "log" else "")
    (package / "serving" / "log" / "schema.py").write_text("TABLE = 'rows'\n")
    (package / "serving" / "log" / "backends.py").write_text(
        "from creditrisk.serving.log.schema import TABLE\n\n\ndef open_log():\n"
        "    from .postgres import PostgresLog\n    return PostgresLog()\n")
    (package / "serving" / "log" / "postgres.py").write_text("from creditrisk.serving.log.schema import TABLE\n")
    assert import_cycles(tmp_path, "creditrisk") == []  # a package re-exporting its modules is no loop

    (package / "serving" / "log" / "postgres.py").write_text(
        "def safe_url():\n    from creditrisk.serving.log.backends import open_log\n    return open_log\n")
    assert import_cycles(tmp_path, "creditrisk") == [
        "creditrisk.serving.log.backends -> creditrisk.serving.log.postgres -> creditrisk.serving.log.backends"]

    (package / "serving" / "log" / "postgres.py").write_text("import creditrisk.serving.log\n")  # the package
    assert import_cycles(tmp_path, "creditrisk") == [
        "creditrisk.serving.log -> creditrisk.serving.log.backends -> creditrisk.serving.log.postgres"
        " -> creditrisk.serving.log"]


def test_helpers_that_scripts_tests_and_benchmarks_share_are_written_once() -> None:
    """`tooling/` holds what they share (installed with the project, so none edits sys.path to import it)."""
    folders = ("creditrisk", "app", "dashboard", "stages", "scripts", "tests", "benchmarks", "tooling")
    defined = sorted(str(path.relative_to(REPO_ROOT)) for folder in folders for path in (REPO_ROOT / folder).rglob("*.py")
                     for node in ast.walk(ast.parse(path.read_text()))
                     if isinstance(node, ast.FunctionDef) and node.name == "free_port")
    assert defined == ["tooling/ports.py"]
