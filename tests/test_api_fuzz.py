"""Property-based fuzzing of POST /predict: whatever the body, never a 5xx, and answers stay consistent.

1,000 generated bodies in total, across JSON of any shape, records of contract
columns holding any kind of value, columnar bodies and CSV text or bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creditrisk.serving import predlog
from creditrisk.data.contract import COLUMN_NAMES
from tests.api_support import sample_frame

# The examples of one fuzzer share its app (a function-scoped fixture, on purpose: the log and the metrics
# then hold every example's rows, which the check after each fuzzer compares).
BASE_SETTINGS = settings(deadline=None, derandomize=True, database=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                HealthCheck.function_scoped_fixture])


def fuzz(examples: int) -> settings:
    return settings(BASE_SETTINGS, max_examples=examples)


@pytest.fixture
def api_settings() -> dict[str, Any]:
    return {"max_rows": 200}


def rows_scored(client: FlaskClient) -> float:
    metrics = client.get("/metrics").get_data(as_text=True)
    return next(float(line.split()[-1]) for line in metrics.splitlines()
                if line.startswith("creditrisk_rows_scored_total"))


@pytest.fixture(autouse=True)
def the_log_holds_exactly_the_rows_scored(client: FlaskClient, tmp_path: Path) -> Iterator[None]:
    """After each fuzzer (its examples share one app): the log holds exactly the rows the API scored."""
    yield
    assert predlog.count_rows(tmp_path / "predictions.sqlite") == rows_scored(client)


BASE_RECORDS = sample_frame(6, seed=11).astype(object).to_dict("records")

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
)
number_text = st.from_regex(r"\s?-?\d{1,9}([.,]\d{0,4})?([eE][+-]?\d{1,3})?\s?", fullmatch=True)
date_text = st.one_of(
    st.from_regex(r"\d{1,2}/\d{1,2}/\d{2,4}( \d{1,2}:\d{2})?", fullmatch=True),
    st.datetimes().map(lambda moment: moment.isoformat()),
)
cells = st.one_of(scalars, number_text, date_text, st.lists(scalars, max_size=2),
                  st.dictionaries(st.text(max_size=3), scalars, max_size=2))
any_json = st.recursive(scalars, lambda children: st.lists(children, max_size=4)
                        | st.dictionaries(st.text(max_size=8), children, max_size=4), max_leaves=12)
column_names = st.one_of(st.sampled_from(COLUMN_NAMES + ("id",)), st.text(max_size=8))


def check(response: Any, rows: int | None = None) -> dict[str, Any] | None:
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code != 200:
        body = response.get_json()
        assert body["status"] == response.status_code and body["error"] and body["message"]
        return None
    body = response.get_json()
    if rows is not None:
        assert body["rows"] == rows == len(body["predictions"])
    assert [p["row"] for p in body["predictions"]] == list(range(body["rows"]))
    assert all(0.0 <= p["pd"] <= 1.0 for p in body["predictions"])
    return body


@fuzz(300)
@given(payload=any_json)
def test_any_json_value_is_answered_without_a_server_error(client: FlaskClient, payload: Any) -> None:
    check(client.post("/predict", data=json.dumps(payload), content_type="application/json"))


query_values = st.one_of(st.sampled_from(["true", "false", "1", "0", "yes", "no", "", "en", "es"]), st.text(max_size=6))


@fuzz(150)
@given(data=st.data(), count=st.integers(1, 4),
       query=st.dictionaries(st.sampled_from(["reasons", "lang", "day_first"]), query_values, max_size=3))
def test_records_with_any_values_are_scored_or_refused_cleanly(
        client: FlaskClient, data: st.DataObject, count: int, query: dict[str, str]) -> None:
    records = []
    for index in range(count):
        record = dict(BASE_RECORDS[index])
        record.update(data.draw(st.dictionaries(column_names, cells, max_size=4)))
        for name in data.draw(st.sets(st.sampled_from(sorted(record)), max_size=2)):
            record.pop(name, None)
        records.append(record)
    body = check(client.post("/predict", data=json.dumps(records), content_type="application/json",
                             query_string=query), count)
    if body is not None:
        skipped = query.get("reasons", "").lower() in ("false", "0", "no")
        for prediction in body["predictions"]:
            assert ("reasons" in prediction) is not skipped
            assert all(reason["contribution"] > 0 for reason in prediction.get("reasons", []))


@fuzz(250)
@given(columns=st.lists(column_names, max_size=6), rows=st.lists(st.lists(cells, max_size=7), max_size=4))
def test_columnar_bodies_never_fail_the_server(client: FlaskClient, columns: list[str],
                                               rows: list[list[Any]]) -> None:
    check(client.post("/predict", data=json.dumps({"columns": columns, "data": rows}),
                      content_type="application/json"))


csv_cell = st.one_of(st.text(alphabet='0123456789.,;-"\' \nabcETrue', max_size=8), number_text, date_text)


@fuzz(100)
@given(header=st.lists(column_names, min_size=1, max_size=8), data=st.data())
def test_csv_text_never_fails_the_server(client: FlaskClient, header: list[str], data: st.DataObject) -> None:
    base = sample_frame(3, seed=12)
    frame = base.reindex(columns=list(dict.fromkeys(list(base.columns) + header)))
    text = frame.to_csv(index=False)
    cells_to_change = data.draw(st.lists(st.tuples(st.integers(0, 2), st.sampled_from(list(frame.columns)),
                                                   csv_cell), max_size=4))
    for row, column, value in cells_to_change:
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
    text = frame.to_csv(index=False)
    check(client.post("/predict", data=text, content_type="text/csv"))


@fuzz(200)
@given(body=st.binary(max_size=300))
def test_csv_bytes_never_fail_the_server(client: FlaskClient, body: bytes) -> None:
    check(client.post("/predict", data=body, content_type="text/csv"))


def test_a_scored_batch_is_logged_whole(client: FlaskClient) -> None:
    """The check after each fuzzer has teeth: a scored batch counts, and is logged."""
    check(client.post("/predict", data=orjson.dumps(BASE_RECORDS), content_type="application/json"),
          len(BASE_RECORDS))
    assert rows_scored(client) == len(BASE_RECORDS)
