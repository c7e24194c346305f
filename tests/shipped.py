"""The shipped configuration: params.yaml as the pipeline runs it, with a test's own changes.

Tests build params objects only through `shipped`, so they exercise the configuration the
pipeline runs, not defaults of their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from creditrisk.params import configured, load_params

T = TypeVar("T")
REPO_ROOT = Path(__file__).resolve().parents[1]
SHIPPED_PARAMS = load_params(REPO_ROOT / "params.yaml")


def shipped(cls: type[T], **overrides: Any) -> T:
    """The params.yaml block of `cls`, with `overrides`."""
    return configured(cls, SHIPPED_PARAMS, **overrides)
