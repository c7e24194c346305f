"""The library's layout: one wing per lifecycle step over a small shared ground, imports running downward.

Layers, bottom to top: the shared ground (`params`, `io`, `releases`), `data`, `modeling`, `serving`,
`monitoring` (which reads the prediction log that serving writes). A module may import its own layer or
any layer below; nothing in the library imports the shells (`stages`, `app`, `dashboard`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.shipped import REPO_ROOT

LIBRARY = REPO_ROOT / "creditrisk"
LAYERS = {"ground": 0, "data": 1, "modeling": 2, "serving": 3, "monitoring": 4}
SHELLS = ("stages", "app", "dashboard")


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in LAYERS else "ground"


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names
                      if (LIBRARY.parent / f"{node.module}.{alias.name}".replace(".", "/")).with_suffix(".py").exists()}
    return found


LIBRARY_FILES = sorted(LIBRARY.rglob("*.py"))


def test_the_library_has_a_wing_per_lifecycle_step_and_a_small_ground() -> None:
    wings = sorted(path.name for path in LIBRARY.iterdir() if (path / "__init__.py").exists())
    assert wings == sorted(name for name in LAYERS if name != "ground")
    ground = sorted(path.name for path in LIBRARY.glob("*.py"))
    assert set(ground) <= {"__init__.py", "__main__.py", "io.py", "params.py", "releases.py"}, ground


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
