"""The Open Inference Protocol's payloads in the library: requests to raw frames, whatever the body."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings, HealthCheck
from hypothesis import strategies as st

from creditrisk.data.contract import required_columns, DATE
from creditrisk.serving.open_inference import (
    available_outputs,
    input_tensors,
    parse_inference_request,
)
from creditrisk.serving.scoring import MalformedBatch
from tests.api_support import sample_frame, v2_inputs

OUTPUTS = available_outputs(points=True, reasons=True)


def parse(request: Any) -> Any:
    return parse_inference_request(orjson.dumps(request), OUTPUTS)


def test_metadata_inputs_are_the_contract_s_scoring_columns_with_their_datatypes() -> None:
    tensors = input_tensors()
    assert [tensor["name"] for tensor in tensors] == [*required_columns("scoring"), DATE]
    kinds = {tensor["name"]: tensor["datatype"] for tensor in tensors}
    assert kinds["salario_cliente"] == "FP64" and kinds["huella_consulta"] == "INT64"
    assert kinds["tipo_credito"] == "BYTES" and kinds["tendencia_ingresos"] == "BYTES"
    assert available_outputs(points=False, reasons=False) == ["pd", "band", "decision", "warnings"]


def test_a_request_becomes_the_frame_a_predict_body_becomes() -> None:
    frame = sample_frame(6, seed=41)
    request = parse({"id": "x", "inputs": v2_inputs(frame), "parameters": {"day_first": True, "lang": "es"}})
    assert request.id == "x" and request.day_first is True and request.language == "es"
    assert request.outputs == OUTPUTS and request.reasons
    assert list(request.frame.columns) == list(frame.columns)
    np.testing.assert_array_equal(request.frame["capital_prestado"].to_numpy(), frame["capital_prestado"])
    assert request.frame["plazo_meses"].dtype == np.int64
    assert request.frame["tipo_credito"].tolist() == [str(code) for code in frame["tipo_credito"]]
    assert parse({"inputs": v2_inputs(frame), "outputs": [{"name": "band"}, {"name": "band"}]}).outputs == ["band"]
    assert parse({"inputs": v2_inputs(frame)}).id is None


def test_nan_written_by_python_s_json_is_a_missing_value() -> None:
    frame = sample_frame(3, seed=42).assign(saldo_mora=[0.0, np.nan, 1.0])
    request = parse_inference_request(json.dumps({"inputs": v2_inputs(frame)}).replace("null", "NaN").encode(),
                                      OUTPUTS)
    assert np.isnan(request.frame["saldo_mora"].iloc[1])


def test_a_bad_element_is_refused_at_its_row() -> None:
    inputs = v2_inputs(sample_frame(4, seed=43))
    salary = next(tensor for tensor in inputs if tensor["name"] == "salario_cliente")
    salary["data"][2] = "3.000.000"
    with pytest.raises(MalformedBatch) as refused:
        parse({"inputs": inputs})
    [error] = refused.value.errors
    assert (error.row, error.field, error.rule) == (2, "salario_cliente", "datatype_mismatch")


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
                           lambda children: st.lists(children, max_size=3)
                           | st.dictionaries(st.text(max_size=8), children, max_size=3), max_leaves=10)
tensors = st.fixed_dictionaries({"name": st.sampled_from(["capital_prestado", "tipo_laboral", "x"]) | json_values},
                                optional={"shape": json_values | st.lists(st.integers(-1, 3), max_size=3),
                                          "datatype": st.sampled_from(["FP64", "BYTES", "BOOL"]) | json_values,
                                          "data": json_values, "parameters": json_values})
requests_ = st.fixed_dictionaries({}, optional={"id": json_values, "inputs": st.lists(tensors, max_size=3) | json_values,
                                                "outputs": json_values, "parameters": json_values})


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(requests_ | json_values)
def test_any_json_is_parsed_or_refused_as_a_malformed_batch(document: Any) -> None:
    try:
        parse_inference_request(json.dumps(document).encode(), OUTPUTS)  # integers of any size too
    except MalformedBatch as refused:
        assert refused.errors and refused.errors[0].rule
