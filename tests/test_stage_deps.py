"""Every project file a stage's script imports, transitively, is one of that stage's dvc.yaml deps.

The import closure is computed with `ast` from the stage command (`-m stages.<name>`): the script,
the packages it runs inside (`stages/__init__.py`), every project module it imports at any depth and
each of their packages' `__init__.py`. A second test changes a shared module in a temporary copy and
checks that `dvc status` names exactly the stages that import it.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.shipped import REPO_ROOT

PIPELINE = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]


def module_file(root: Path, dotted: str) -> Path | None:
    base = root.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_names(path: Path, root: Path) -> set[str]:
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base]) if base else ".".join(parent)
            names.add(base)
            names |= {f"{base}.{alias.name}" for alias in node.names}
    return names


def containing_packages(dotted: str) -> list[str]:
    parts = dotted.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts) + 1)]


def import_closure(root: Path, entry_module: str) -> set[Path]:
    """Project files that run when `python -m entry_module` starts in `root`."""
    todo = [found for name in containing_packages(entry_module) if (found := module_file(root, name))]
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported_names(path, root):
            todo += [found for prefix in containing_packages(name)
                     if (found := module_file(root, prefix)) and found not in seen]
    return {path.relative_to(root) for path in seen}


def stage_modules(stage: dict) -> list[str]:
    return re.findall(r"-m\s+(\S+)", stage["cmd"])


def declared_deps(stage: dict) -> list[str]:
    return [str(dep).rstrip("/") for dep in stage.get("deps", [])]


def is_covered(path: Path, deps: list[str]) -> bool:
    text = path.as_posix()
    return any(text == dep or text.startswith(dep + "/") for dep in deps)


def missing_deps(root: Path = REPO_ROOT) -> list[str]:
    missing = []
    for name, stage in PIPELINE.items():
        for module in stage_modules(stage):
            missing += [f"stage {name!r} imports {path} but does not depend on it"
                        for path in sorted(import_closure(root, module)) if not is_covered(path, declared_deps(stage))]
    return missing


def test_every_stage_runs_a_module_through_the_project_launcher() -> None:
    for name, stage in PIPELINE.items():
        assert stage["cmd"] == f"sh stages/python.sh -m stages.{name}", name
        assert "stages/python.sh" in declared_deps(stage), name


def test_every_imported_project_file_is_a_dependency_of_its_stage() -> None:
    assert missing_deps() == []


def test_the_closure_follows_imports_inside_functions_and_packages(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "sub" / "__init__.py").write_text("from . import deep\n")
    (tmp_path / "pkg" / "sub" / "deep.py").write_text("def late():\n    from pkg import shared\n")
    (tmp_path / "pkg" / "shared.py").write_text("import os\n")
    (tmp_path / "pkg" / "unused.py").write_text("")
    (tmp_path / "entry.py").write_text("from pkg.sub import deep\n")
    assert import_closure(tmp_path, "entry") == {Path(p) for p in (
        "entry.py", "pkg/__init__.py", "pkg/sub/__init__.py", "pkg/sub/deep.py", "pkg/shared.py")}


def importers_of(relative: str) -> set[str]:
    return {name for name, stage in PIPELINE.items()
            if any(Path(relative) in import_closure(REPO_ROOT, module) for module in stage_modules(stage))}


@pytest.mark.slow
def test_dvc_status_names_the_stages_that_import_a_changed_shared_module(tmp_path: Path) -> None:
    """In a copy with the committed lock and outputs, editing `creditrisk/params.py` (imported by every
    stage) and `creditrisk/metrics.py` (some stages) changes exactly the importing stages' status."""
    repo = tmp_path / "project"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO_ROOT), str(repo)], check=True)
    for tracked in ("dvc.yaml", "dvc.lock", "creditrisk", "stages"):
        source = REPO_ROOT / tracked
        if source.is_dir():
            shutil.copytree(source, repo / tracked, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, repo / tracked)
    dvc = [str(Path(sys.executable).parent / "dvc")]
    for shared in ("creditrisk/params.py", "creditrisk/metrics.py"):
        with (repo / shared).open("a") as module:
            module.write("\n# changed\n")
        status = subprocess.run([*dvc, "status", "--json"], cwd=repo, capture_output=True, text=True, check=True)
        changed = {name for name, changes in yaml.safe_load(status.stdout).items()
                   if any(shared in str(change) for change in changes)}
        assert changed == importers_of(shared), (shared, status.stdout)
