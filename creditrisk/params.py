"""params.yaml -> typed, validated objects.

params.yaml is the only place a default value lives: each library module declares a
frozen dataclass for its own block with no defaults of its own, and `section` builds it
from the YAML mapping, naming the file, block and key of every mistake (unknown key,
missing key, wrong type, a value outside its rule) instead of failing later. Code that
wants the shipped configuration with a few changes (tests, benchmarks) calls
`configured`, so it never measures a configuration the pipeline does not run.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, TypeVar

import yaml

T = TypeVar("T")
DEFAULT_PARAMS_PATH = Path("params.yaml")


class ParamsError(ValueError):
    """A params.yaml value that breaks a rule; the message names the block and key."""


class ValidatedBlock:
    """The one validation hook of every params dataclass, top-level or nested.

    A subclass names its block in `BLOCK` and lists what is wrong in `problems`, as
    (key, "must be ...") pairs; construction then fails with every problem named as
    `block.key = value must be ...`.
    """

    BLOCK: ClassVar[str] = ""

    def problems(self) -> Iterable[tuple[str, str]]:
        return ()

    def __post_init__(self) -> None:
        found = [f"{self.BLOCK}.{key} = {getattr(self, key)!r} {why}" for key, why in self.problems()]
        if found:
            raise ParamsError("params.yaml: " + "; ".join(found))


class ParamsBlock(ValidatedBlock):
    """A top-level block of params.yaml (`BLOCK` is its key there)."""


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


def section(params: Mapping[str, Any], name: str, cls: type[T], source: str = "params.yaml") -> T:
    """Build dataclass `cls` from block `name`; every key the dataclass declares must be there."""
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


def configured(cls: type[T], params: Mapping[str, Any] | Path | str = DEFAULT_PARAMS_PATH,
               **overrides: Any) -> T:
    """The block of `cls` as params.yaml (or an already loaded mapping) sets it, with `overrides`."""
    loaded = params if isinstance(params, Mapping) else load_params(params)
    block = getattr(cls, "BLOCK", "")
    if not block:
        raise ParamsError(f"{cls.__name__} names no params.yaml block")
    base = section(loaded, block, cls)
    return dataclasses.replace(base, **overrides) if overrides else base  # type: ignore[type-var]
