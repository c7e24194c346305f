"""Shared fixtures. Helper modules are imported as `tests.<module>` everywhere."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.postgres import running_postgres, PostgresServer
from tests.shipped import REPO_ROOT, SHIPPED_PARAMS
from tests.workspace import copy_working_tree

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient


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


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small test model (`tests.api_support.make_bundle`), saved once for the session."""
    from tests.api_support import save_test_bundle  # here, not above: only API tests pay for sklearn and Flask

    return save_test_bundle(tmp_path_factory.mktemp("model"))


@pytest.fixture
def api_settings() -> dict[str, Any]:
    """`ApiConfig` fields a test module sets for its `app` (override this fixture in the module)."""
    return {}


@pytest.fixture
def app(model_path: Path, tmp_path: Path, api_settings: dict[str, Any]) -> Flask:
    """The API on the test model, with its prediction log and dvc.lock in this test's tmp_path."""
    from app import create_app
    from tests.api_support import api_config

    return create_app(api_config(tmp_path, model_path, **api_settings))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
