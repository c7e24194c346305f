"""params.yaml -> typed, validated objects.

Each library module declares a frozen dataclass for its own block; `section`
builds it from the YAML mapping and names the file, block and key of every
mistake (unknown key, missing key, wrong type) instead of failing later.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")
DEFAULT_PARAMS_PATH = Path("params.yaml")


class ParamsError(ValueError):
    pass


def load_params(path: Path | str = DEFAULT_PARAMS_PATH) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path}: parameter file not found")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: top level must be a mapping of stage blocks")
    return data


def _matches(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (list, tuple):
        return isinstance(value, (list, tuple))
    if origin is dict:
        return isinstance(value, dict)
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True


def _convert(value: Any, annotation: Any) -> Any:
    if annotation is float and isinstance(value, int):
        return float(value)
    if typing.get_origin(annotation) is tuple and isinstance(value, list):
        return tuple(value)
    return value


def section(params: dict[str, Any], name: str, cls: type[T], source: str = "params.yaml") -> T:
    """Build dataclass `cls` from block `name`; defaults fill absent keys."""
    block = params.get(name, {}) or {}
    if not isinstance(block, dict):
        raise ParamsError(f"{source}: block {name!r} must be a mapping")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(block) - set(fields))
    if unknown:
        raise ParamsError(f"{source}: block {name!r} has unknown key(s) {unknown}; known: {sorted(fields)}")
    values: dict[str, Any] = {}
    for key, spec in fields.items():
        if key not in block:
            if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                raise ParamsError(f"{source}: block {name!r} needs key {key!r}")
            continue
        value = block[key]
        if not _matches(value, hints[key]):
            raise ParamsError(
                f"{source}: {name}.{key} = {value!r} should be {hints[key]}"
            )
        values[key] = _convert(value, hints[key])
    return cls(**values)
