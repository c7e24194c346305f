"""The DVC stage scripts, one per stage: `sh stages/python.sh -m stages.<name>`, run by `dvc repro`.

Importing this package checks first that the interpreter has the project's dependencies, so a stage
started by the wrong interpreter stops at once, saying how to fix it, before it reads or writes a file.
"""

from __future__ import annotations

import importlib.util
import sys

REQUIRED_MODULES = ("pandas", "pyarrow", "numpy", "sklearn", "scipy", "yaml", "skops", "openpyxl", "creditrisk")


def missing_modules() -> list[str]:
    return [name for name in REQUIRED_MODULES if importlib.util.find_spec(name) is None]


if missing := missing_modules():
    sys.exit(f"stage: the interpreter {sys.executable} lacks the project's dependencies "
             f"({', '.join(missing)}). Run `make setup`, then `source .venv/bin/activate` before calling "
             "`dvc`, or use `make repro`.")
