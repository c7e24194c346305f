"""JSON columns go straight to numpy arrays only where pandas would infer the same type."""

from __future__ import annotations

import pandas as pd
import pytest

from creditrisk.serving.scoring import frame_from_columns, parse_json_body


@pytest.mark.parametrize("values", [
    (1, 2, 3),
    (1, 2.5, None),
    (None, 2.0, 3),
    (1, None),
    (2**70, None),
    (1.5, 2.25),
    (2**70, 1),  # beyond int64: pandas' object column
    (True, 1, 2.0),  # a boolean is the caller's error, found later: left for pandas
    ("1,5", 2, None),
    (None, None),
    ("a", "b"),
    ({"x": 1}, 1),
    ([1, 2], [3, 4]),  # lists numpy would nest into a second dimension
])
def test_each_column_is_typed_as_pandas_types_it(values: tuple) -> None:
    built = frame_from_columns({"column": values}, len(values))
    expected = pd.DataFrame({"column": pd.Series(list(values))})
    pd.testing.assert_frame_equal(built, expected)


def test_records_and_columnar_bodies_give_the_same_frame() -> None:
    records = b'[{"a": 1, "b": "x", "c": null}, {"a": 2, "b": null, "c": 0.5}]'
    columnar = b'{"columns": ["a", "b", "c"], "data": [[1, "x", null], [2, null, 0.5]]}'
    frame = parse_json_body(records)
    pd.testing.assert_frame_equal(frame, parse_json_body(columnar))
    assert frame["a"].dtype == "int64" and frame["c"].dtype == "float64"
    assert frame["c"].isna().tolist() == [True, False]


@pytest.mark.parametrize("body", [
    b'{"columns": ["a", "b"], "data": [[1, [2, 3]], [4, [5, 6]]]}',
    b'[{"a": 1, "b": [2, 3]}, {"a": 4, "b": [5, 6]}]',
    b'{"columns": ["a", "b"], "data": [[[1, 2], [2, 3]], [[4, 5], [5, 6]]]}',
])
def test_values_that_are_lists_stay_one_value_per_cell(body: bytes) -> None:
    frame = parse_json_body(body)
    assert frame.shape == (2, 2)
    assert frame["b"].tolist() == [[2, 3], [5, 6]]
