"""Shared fixtures. Helper modules are imported as `tests.<module>` everywhere."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.postgres import running_postgres, PostgresServer
from tests.shipped import REPO_ROOT, SHIPPED_PARAMS
from tests.workspace import copy_working_tree


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shipped_params() -> dict[str, Any]:
    """params.yaml as shipped (read once; tests must not change it in place)."""
    return SHIPPED_PARAMS


@pytest.fixture
def working_tree_copy(tmp_path: Path) -> Callable[..., Path]:
    """Make a committed copy of the working tree under this test's tmp_path: `working_tree_copy("name")`."""
    def make(name: str = "project", commit: bool = True) -> Path:
        return copy_working_tree(tmp_path / name, commit=commit)
    return make


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (tests/postgres.py); each test makes its own database."""
    with running_postgres() as server:
        yield server
