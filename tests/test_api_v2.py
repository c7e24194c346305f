"""The Open Inference Protocol (KServe V2) routes through Flask's test client: metadata from the contract,
the same PDs, log rows and metrics as /predict, and the protocol's error shape with row, field and rule."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from flask.testing import FlaskClient

from app import create_app
from creditrisk.data.contract import required_columns, DATE
from creditrisk.releases import MODEL_NAME
from creditrisk.serving import predlog
from tests.api_support import api_config, sample_frame, v2_inputs

INFER = f"/v2/models/{MODEL_NAME}/infer"


def infer(client: FlaskClient, request: dict[str, Any], path: str = INFER, **kwargs: Any) -> Any:
    return client.post(path, data=orjson.dumps(request), content_type="application/json", **kwargs)


def outputs_of(response: Any) -> dict[str, list[Any]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return {output["name"]: output["data"] for output in response.get_json()["outputs"]}


def predict(client: FlaskClient, frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    response = client.post("/predict", data=orjson.dumps(rows), content_type="application/json")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["predictions"]


def error_of(response: Any, status: int) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert list(body) == ["error"]
    return body["error"]


def test_health_server_metadata_and_model_metadata_come_from_the_contract(client: FlaskClient) -> None:
    assert client.get("/v2/health/live").get_json() == {"live": True}
    assert client.get("/v2/health/ready").get_json() == {"ready": True}
    server = client.get("/v2").get_json()
    assert server["name"] == "creditrisk" and server["extensions"] == ["binary_tensor_data"]
    metadata = client.get(f"/v2/models/{MODEL_NAME}").get_json()
    assert metadata["name"] == MODEL_NAME and metadata["versions"] == ["test-1.0"]
    inputs = {tensor["name"]: tensor for tensor in metadata["inputs"]}
    assert list(inputs) == [*required_columns("scoring"), DATE]
    assert inputs["capital_prestado"]["datatype"] == "FP64" and inputs["plazo_meses"]["datatype"] == "INT64"
    assert inputs["tipo_laboral"]["datatype"] == "BYTES" and inputs[DATE]["datatype"] == "BYTES"
    assert all(tensor["shape"] == [-1] for tensor in metadata["inputs"] + metadata["outputs"])
    assert [output["name"] for output in metadata["outputs"]] == ["pd", "band", "decision", "points", "reasons",
                                                                 "warnings"]
    assert client.get(f"/v2/models/{MODEL_NAME}/versions/test-1.0").get_json() == metadata
    assert client.get(f"/v2/models/{MODEL_NAME}/ready").get_json() == {"name": MODEL_NAME, "ready": True}
    assert client.get(f"/v2/models/{MODEL_NAME}/versions/test-1.0/ready").status_code == 200


def test_infer_gives_predict_s_pds_bands_points_and_reasons_and_echoes_the_id(client: FlaskClient) -> None:
    frame = sample_frame(12, seed=31)
    frame.loc[3, "salario_cliente"] = np.nan  # a missing value
    frame.loc[5, "edad_cliente"] = 122  # a placeholder: treated as missing, with a warning
    expected = predict(client, frame)
    response = infer(client, {"id": "req-42", "inputs": v2_inputs(frame)})
    outputs = outputs_of(response)
    body = response.get_json()
    assert body["id"] == "req-42" and body["model_name"] == MODEL_NAME and body["model_version"] == "test-1.0"
    assert body["parameters"]["request_id"] == response.headers["X-Request-Id"]
    assert body["parameters"]["prediction_logged"] is True and body["parameters"]["rows_with_warnings"] == 1
    assert outputs["pd"] == [row["pd"] for row in expected]
    assert outputs["band"] == [row["band"] for row in expected]
    assert outputs["decision"] == [row["decision"] for row in expected]
    assert outputs["points"] == [row["points"] for row in expected]
    assert [orjson.loads(reasons) for reasons in outputs["reasons"]] == [row["reasons"] for row in expected]
    assert [orjson.loads(warnings) for warnings in outputs["warnings"]] == [row["warnings"] for row in expected]
    assert all(output["shape"] == [12] for output in body["outputs"])


def test_columns_of_shape_rows_by_1_nested_or_flat_the_pandas_content_type_and_nan_score_alike(
        client: FlaskClient) -> None:
    frame = sample_frame(4, seed=32)
    flat = outputs_of(infer(client, {"inputs": v2_inputs(frame)}))["pd"]
    nested = [dict(tensor, shape=[4, 1], data=[[value] for value in tensor["data"]]) for tensor in v2_inputs(frame)]
    as_pandas = {"parameters": {"content_type": "pd"}, "inputs": [dict(t, shape=[4, 1]) for t in v2_inputs(frame)]}
    assert outputs_of(infer(client, {"inputs": nested}))["pd"] == flat
    assert outputs_of(infer(client, as_pandas))["pd"] == flat
    with_gap = frame.assign(saldo_total=[1.0, np.nan, 3.0, 4.0])
    written = orjson.dumps({"inputs": v2_inputs(with_gap)}).replace(b"null", b"NaN", 1)  # Python's json writes NaN
    assert b"NaN" in written
    pds = outputs_of(client.post(INFER, data=written, content_type="application/json"))["pd"]
    assert pds == [row["pd"] for row in predict(client, with_gap)]


def binary_request(frame: pd.DataFrame, **request: Any) -> tuple[bytes, dict[str, str]]:
    """The rows with every input as binary tensor data after the JSON (numbers as FP64, text as BYTES)."""
    inputs, blobs = [], []
    for tensor in v2_inputs(frame):
        if tensor["datatype"] == "BYTES":
            texts = [str(value or "").encode() for value in tensor["data"]]
            blob = b"".join(len(text).to_bytes(4, "little") + text for text in texts)
        else:
            blob = np.array(tensor["data"], dtype=float).astype("<f8").tobytes()
        inputs.append({"name": tensor["name"], "shape": tensor["shape"], "parameters": {"binary_data_size": len(blob)},
                       "datatype": "FP64" if tensor["datatype"] != "BYTES" else "BYTES"})
        blobs.append(blob)
    header = orjson.dumps({"inputs": inputs, **request})
    return header + b"".join(blobs), {"Inference-Header-Content-Length": str(len(header))}


def test_binary_tensor_data_in_and_out_scores_alike(client: FlaskClient) -> None:
    frame = sample_frame(9, seed=37)
    expected = outputs_of(infer(client, {"inputs": v2_inputs(frame)}))
    body, headers = binary_request(frame, parameters={"binary_data_output": True},
                                   outputs=[{"name": "pd"}, {"name": "band"},
                                            {"name": "decision", "parameters": {"binary_data": False}}])
    response = client.post(INFER, data=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    header_length = int(response.headers["Inference-Header-Content-Length"])
    header = orjson.loads(response.get_data()[:header_length])
    blobs = response.get_data()[header_length:]
    pd_size, band_size = (output["parameters"]["binary_data_size"] for output in header["outputs"][:2])
    assert np.frombuffer(blobs[:pd_size], "<f8").tolist() == expected["pd"]
    bands, rest = [], blobs[pd_size:pd_size + band_size]
    while rest:
        length = int.from_bytes(rest[:4], "little")
        bands.append(rest[4:4 + length].decode())
        rest = rest[4 + length:]
    assert bands == expected["band"]
    assert header["outputs"][2]["data"] == expected["decision"]  # asked for as JSON
    short, headers = binary_request(frame)
    assert "rule invalid_binary_data" in error_of(client.post(INFER, data=short[:-3], headers=headers), 400)


def test_outputs_select_what_is_computed_and_returned(client: FlaskClient) -> None:
    frame = sample_frame(3, seed=33)
    response = infer(client, {"inputs": v2_inputs(frame), "outputs": [{"name": "pd"}, {"name": "band"}]})
    assert list(outputs_of(response)) == ["pd", "band"]
    assert "reasons;" not in response.headers["Server-Timing"]  # no reasons asked for: none computed
    with_reasons = infer(client, {"inputs": v2_inputs(frame), "outputs": [{"name": "reasons"}]})
    assert "reasons;" in with_reasons.headers["Server-Timing"]
    spanish = infer(client, {"inputs": v2_inputs(frame), "outputs": [{"name": "reasons"}],
                             "parameters": {"lang": "es"}})
    assert outputs_of(spanish)["reasons"] != outputs_of(with_reasons)["reasons"]


def test_every_v2_row_is_logged_once_and_counted_like_predict_s(client: FlaskClient, tmp_path: Path) -> None:
    frame = sample_frame(7, seed=34)
    response = infer(client, {"inputs": v2_inputs(frame)})
    request_id = response.get_json()["parameters"]["request_id"]
    logged = predlog.read_log(tmp_path / "predictions.sqlite")
    mine = logged[logged["request_id"] == request_id].sort_values("row_index")
    assert mine["row_index"].tolist() == list(range(7))
    assert mine["pd"].tolist() == outputs_of(response)["pd"]
    assert mine["model_version"].unique().tolist() == ["test-1.0"]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "creditrisk_rows_scored_total 7.0" in metrics
    assert f'creditrisk_http_requests_total{{endpoint="/v2/models/<model_name>/infer",method="POST",status="200"}} ' \
           "1.0" in metrics


def test_a_bad_value_is_a_400_naming_row_field_value_and_rule(client: FlaskClient) -> None:
    frame = sample_frame(5, seed=35)
    inputs = v2_inputs(frame)
    plazo = next(tensor for tensor in inputs if tensor["name"] == "plazo_meses")
    plazo["data"][3] = -3
    message = error_of(infer(client, {"inputs": inputs}), 400)
    assert "row 3, field plazo_meses, value '-3', rule below_minimum (plazo_meses must be >= 1)" in message
    missing = [tensor for tensor in v2_inputs(frame) if tensor["name"] != "cuota_pactada"]
    assert "field cuota_pactada, rule required_column_missing" in error_of(infer(client, {"inputs": missing}), 400)


@pytest.mark.parametrize(("change", "rule"), [
    (lambda request: request["inputs"][2].update(shape=[2]), "shape_mismatch"),
    (lambda request: request["inputs"][2].update(shape=[3, 2]), "invalid_shape"),
    (lambda request: request["inputs"][2].update(datatype="FP128"), "unknown_datatype"),
    (lambda request: request["inputs"][2]["data"].__setitem__(1, "3"), "datatype_mismatch"),
    (lambda request: request["inputs"].append(dict(request["inputs"][2])), "duplicate_input"),
    (lambda request: request["inputs"][3].update(shape=[2], data=[1, 2]), "rows_mismatch"),
    (lambda request: request.update(outputs=[{"name": "score"}]), "unknown_output"),
    (lambda request: request.update(parameters={"content_type": "np"}), "unsupported_content_type"),
    (lambda request: request.update(parameters={"day_first": "yes"}), "invalid_parameter"),
    (lambda request: request.update(parameters={"note": {"nested": 1}}), "invalid_parameter"),
    (lambda request: request.update(id=7), "invalid_id"),
    (lambda request: request.update(inputs=[]), "no_inputs"),
])
def test_requests_the_protocol_does_not_allow_are_400_naming_the_rule(client: FlaskClient, change: Any,
                                                                      rule: str) -> None:
    request = {"inputs": v2_inputs(sample_frame(3, seed=36))}
    change(request)
    assert f"rule {rule}" in error_of(infer(client, request), 400)


def test_malformed_json_and_a_row_limit_keep_the_protocol_s_error_shape(model_path: Path, tmp_path: Path) -> None:
    client = create_app(replace(api_config(tmp_path, model_path), max_rows=2)).test_client()
    assert "rule malformed_json" in error_of(client.post(INFER, data=b"{", content_type="application/json"), 400)
    assert "at most 2" in error_of(infer(client, {"inputs": v2_inputs(sample_frame(3))}), 413)
    assert error_of(client.post(INFER, data=b"x", content_type="text/csv"), 415)


def test_unknown_models_and_versions_are_404_and_a_missing_model_is_503(client: FlaskClient, tmp_path: Path) -> None:
    assert "no model named 'other'" in error_of(client.get("/v2/models/other"), 404)
    assert "no version '9.9.9'" in error_of(client.get(f"/v2/models/{MODEL_NAME}/versions/9.9.9/ready"), 404)
    assert error_of(infer(client, {"inputs": []}, path="/v2/models/other/infer"), 404)
    assert error_of(client.get("/v2/no-such-route"), 404)
    not_ready = create_app(api_config(tmp_path, tmp_path / "absent.skops")).test_client()
    assert not_ready.get("/v2/health/live").status_code == 200
    for path in ("/v2/health/ready", f"/v2/models/{MODEL_NAME}", f"/v2/models/{MODEL_NAME}/ready"):
        assert "absent.skops" in error_of(not_ready.get(path), 503)
    assert "absent.skops" in error_of(infer(not_ready, {"inputs": []}), 503)


def test_the_token_guards_metadata_and_inference_but_not_health(model_path: Path, tmp_path: Path) -> None:
    client = create_app(replace(api_config(tmp_path, model_path), api_token="s3cret")).test_client()
    assert "Authorization: Bearer" in error_of(client.get(f"/v2/models/{MODEL_NAME}"), 401)
    assert error_of(infer(client, {"inputs": v2_inputs(sample_frame(2))}), 401)
    assert client.get(f"/v2/models/{MODEL_NAME}/ready").status_code == 200
    allowed = infer(client, {"inputs": v2_inputs(sample_frame(2))}, headers={"Authorization": "Bearer s3cret"})
    assert allowed.status_code == 200
