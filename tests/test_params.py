"""params.yaml is the one source of defaults: every block builds, no dataclass carries a default."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil

import pytest

import creditrisk
from creditrisk.params import ParamsBlock, ParamsError, configured, section
from tests.shipped import SHIPPED_PARAMS


def params_blocks() -> list[type[ParamsBlock]]:
    for module in pkgutil.walk_packages(creditrisk.__path__, "creditrisk."):
        importlib.import_module(module.name)
    found, todo = [], list(ParamsBlock.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return sorted(found, key=lambda cls: cls.BLOCK)


def test_every_params_yaml_block_has_exactly_one_params_class() -> None:
    assert [cls.BLOCK for cls in params_blocks()] == sorted(SHIPPED_PARAMS)


@pytest.mark.parametrize("cls", params_blocks(), ids=lambda cls: cls.BLOCK)
def test_no_dataclass_default_exists_to_contradict_params_yaml(cls: type[ParamsBlock]) -> None:
    defaulted = [field.name for field in dataclasses.fields(cls)
                 if field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING]
    assert defaulted == [], f"{cls.__name__} has defaults of its own: {defaulted}; params.yaml is their place"
    built = configured(cls, SHIPPED_PARAMS)
    assert {field.name for field in dataclasses.fields(cls)} == set(SHIPPED_PARAMS[cls.BLOCK])
    for field in dataclasses.fields(cls):
        value = getattr(built, field.name)
        shipped_value = SHIPPED_PARAMS[cls.BLOCK][field.name]
        assert (list(value) if isinstance(value, tuple) else value) == shipped_value, field.name


def test_the_one_validation_hook_names_block_key_and_value() -> None:
    block = {**SHIPPED_PARAMS["drift"], "psi_warn": 0.5, "alpha": 2.0}
    with pytest.raises(ParamsError) as raised:
        section({"drift": block}, "drift", params_blocks_by_name()["drift"])
    message = str(raised.value)
    assert "drift.psi_warn = 0.5 must be" in message and "drift.alpha = 2.0 must be in (0, 1)" in message
    with pytest.raises(ParamsError, match=r"block 'train' has unknown key\(s\) \['n_trees'\]"):
        section({"train": {**SHIPPED_PARAMS["train"], "n_trees": 3}}, "train", params_blocks_by_name()["train"])
    with pytest.raises(ParamsError, match=r"evaluate.ece_bins = 'ten' should be"):
        section({"evaluate": {**SHIPPED_PARAMS["evaluate"], "ece_bins": "ten"}}, "evaluate",
                params_blocks_by_name()["evaluate"])


def params_blocks_by_name() -> dict[str, type[ParamsBlock]]:
    return {cls.BLOCK: cls for cls in params_blocks()}
