"""The number rules are written once (`number_rule_masks`): a batch checked column by column and one checked
as a matrix give the same frame, the same nulled counts and the same rows, rule by rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from creditrisk.data import contract
from creditrisk.data.contract import COLUMNS, coerce_and_validate


def numbers_breaking_every_rule(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(index=range(rows))
    for spec in COLUMNS:
        if spec.kind not in ("numeric", "integer"):
            continue
        low = spec.minimum if spec.minimum is not None else -10.0
        high = spec.maximum if spec.maximum is not None else 1e6
        values = rng.uniform(low - 5, high * 1.1 + 5, rows)
        values[rng.random(rows) < 0.05] = np.nan
        values[rng.random(rows) < 0.02] = np.inf
        if spec.kind == "integer":
            values = np.where(rng.random(rows) < 0.8, np.round(values), values + 0.5)
        if spec.placeholder_range is not None:
            values[rng.random(rows) < 0.05] = spec.placeholder_range[0]
        if spec.minimum is not None:
            values[rng.random(rows) < 0.03] = spec.minimum
        frame[spec.name] = values
    return frame


def test_the_matrix_path_and_the_column_path_agree_rule_by_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    batch = numbers_breaking_every_rule(400, seed=3)
    as_matrix = coerce_and_validate(batch.copy(), purpose="scoring")
    monkeypatch.setattr(contract, "_NUMBER_BLOCK_ROWS", 0)
    by_column = coerce_and_validate(batch.copy(), purpose="scoring")
    pd.testing.assert_frame_equal(as_matrix.frame, by_column.frame)
    assert as_matrix.nulled == by_column.nulled
    assert as_matrix.nulled.keys() and any(len(rules) >= 3 for rules in as_matrix.nulled.values())
    for key, rows in by_column.nulled_rows.items():
        np.testing.assert_array_equal(as_matrix.nulled_rows[key], rows)
