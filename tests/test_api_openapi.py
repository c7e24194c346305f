"""/openapi.json is valid OpenAPI 3 and describes what the API really does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from app import create_app
from creditrisk.data.contract import required_columns
from tests.api_support import api_config, sample_frame, v2_inputs


@pytest.fixture
def api_settings() -> dict[str, Any]:
    return {"max_rows": 20, "api_token": "tok"}


@pytest.fixture
def spec(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


AUTH = {"Authorization": "Bearer tok"}


def schema_validator(spec: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A validator for one schema of the document, with its `#/components/...` references resolvable."""
    return Draft202012Validator({**schema, "components": spec["components"]})


def documented_schema(spec: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    responses = spec["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} -> {status} is not documented"
    return responses[str(status)]["content"]["application/json"]["schema"]


def rows() -> list[dict[str, Any]]:
    frame = sample_frame(3)
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def test_document_is_valid_openapi_3(spec: dict[str, Any]) -> None:
    validate(spec)
    assert spec["openapi"].startswith("3.")


def test_every_route_is_documented_and_nothing_else(app: Flask, spec: dict[str, Any]) -> None:
    served = {(re.sub(r"<(\w+)>", r"{\1}", rule.rule), method.lower()) for rule in app.url_map.iter_rules()
              if rule.endpoint != "static" for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, operations in spec["paths"].items() for method in operations}
    assert served == documented


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), [
    ("post", "/predict", {"json": rows(), "headers": AUTH}, 200),
    ("post", "/predict", {"json": [{"capital_prestado": "x"}], "headers": AUTH}, 400),
    ("post", "/predict", {"data": b"[", "content_type": "application/json", "headers": AUTH}, 400),
    ("post", "/predict", {"json": rows()}, 401),
    ("post", "/predict", {"json": rows() * 7, "headers": AUTH}, 413),
    ("post", "/predict", {"data": b"x", "content_type": "text/xml", "headers": AUTH}, 415),
    ("get", "/predict", {}, 405),
    ("get", "/health", {}, 200),
    ("get", "/ready", {}, 200),
    ("get", "/model", {"headers": AUTH}, 200),
    ("get", "/model", {}, 401),
])
def test_responses_match_the_documented_schemas(client: FlaskClient, spec: dict[str, Any], method: str,
                                                path: str, kwargs: dict[str, Any], status: int) -> None:
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)
    schema = documented_schema(spec, path, method if status != 405 else "post", status)
    schema_validator(spec, schema).validate(response.get_json())


def test_not_ready_and_not_found_bodies_match_the_error_schema(tmp_path: Path, spec: dict[str, Any]) -> None:
    client = create_app(api_config(tmp_path, tmp_path / "absent.skops")).test_client()
    for response, path, method in ((client.get("/ready"), "/ready", "get"),
                                   (client.post("/predict", json=rows()), "/predict", "post"),
                                   (client.get("/model"), "/model", "get")):
        assert response.status_code == 503
        schema_validator(spec, documented_schema(spec, path, method, 503)).validate(response.get_json())
    missing = client.get("/nothing-here")
    assert missing.status_code == 404
    schema_validator(spec, spec["components"]["schemas"]["Error"]).validate(missing.get_json())


def test_record_schema_accepts_what_scores_and_rejects_what_is_refused(
        client: FlaskClient, spec: dict[str, Any]) -> None:
    record_schema = schema_validator(spec, spec["components"]["schemas"]["Record"])
    good = rows()
    for record in good:
        record_schema.validate(record)
    assert client.post("/predict", json=good, headers=AUTH).status_code == 200

    flagged = [dict(good[0], capital_prestado=True), dict(good[0], huella_consulta={"n": 1})]
    missing_required = {k: v for k, v in good[0].items() if k != "plazo_meses"}
    for record in [*flagged, missing_required]:
        assert not record_schema.is_valid(record)
        response = client.post("/predict", data=orjson.dumps([record]), content_type="application/json",
                               headers=AUTH)
        assert response.status_code == 400


def test_documented_limits_follow_the_configuration(spec: dict[str, Any]) -> None:
    too_large = spec["paths"]["/predict"]["post"]["responses"]["413"]["description"]
    assert "20 rows" in too_large
    assert spec["paths"]["/predict"]["post"]["security"] == [{"bearer": []}]


INFER_PATH = "/v2/models/{model_name}/infer"


def v2_request() -> dict[str, Any]:
    return {"id": "r1", "inputs": v2_inputs(sample_frame(3))}


@pytest.mark.parametrize(("method", "path", "template", "kwargs", "status"), [
    ("post", "/v2/models/credit-model/infer", INFER_PATH, {"json": v2_request(), "headers": AUTH}, 200),
    ("post", "/v2/models/credit-model/infer", INFER_PATH, {"json": {"inputs": 3}, "headers": AUTH}, 400),
    ("post", "/v2/models/credit-model/infer", INFER_PATH, {"json": v2_request()}, 401),
    ("post", "/v2/models/other/infer", INFER_PATH, {"json": v2_request(), "headers": AUTH}, 404),
    ("post", "/v2/models/credit-model/infer", INFER_PATH,
     {"json": {"inputs": v2_inputs(sample_frame(21))}, "headers": AUTH}, 413),
    ("get", "/v2/models/credit-model", "/v2/models/{model_name}", {"headers": AUTH}, 200),
    ("get", "/v2/models/credit-model/versions/test-1.0/ready",
     "/v2/models/{model_name}/versions/{model_version}/ready", {}, 200),
    ("get", "/v2/models/credit-model/versions/0.0.1/ready",
     "/v2/models/{model_name}/versions/{model_version}/ready", {}, 404),
    ("get", "/v2", "/v2", {}, 200),
    ("get", "/v2/health/live", "/v2/health/live", {}, 200),
    ("get", "/v2/health/ready", "/v2/health/ready", {}, 200),
])
def test_open_inference_responses_match_the_documented_schemas(client: FlaskClient, spec: dict[str, Any],
                                                                method: str, path: str, template: str,
                                                                kwargs: dict[str, Any], status: int) -> None:
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)
    schema_validator(spec, documented_schema(spec, template, method, status)).validate(response.get_json())


def test_the_one_row_inference_request_schema_admits_what_scores(client: FlaskClient, spec: dict[str, Any]) -> None:
    schema = spec["paths"][INFER_PATH]["post"]["requestBody"]["content"]["application/json"]["schema"]
    one_row = {"inputs": v2_inputs(sample_frame(1)[required_columns("scoring")])}  # in the contract's order
    schema_validator(spec, schema).validate(one_row)
    assert client.post("/v2/models/credit-model/infer", json=one_row, headers=AUTH).status_code == 200
    refused = {"inputs": one_row["inputs"][1:]}  # a required input missing
    assert not schema_validator(spec, schema).is_valid(refused)
    assert client.post("/v2/models/credit-model/infer", json=refused, headers=AUTH).status_code == 400


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_csv_body_the_pattern_admits_is_scored(client: FlaskClient, spec: dict[str, Any],
                                                     data: st.DataObject) -> None:
    pattern = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["text/csv"]["schema"]["pattern"]
    body = data.draw(st.from_regex(pattern))
    response = client.post("/predict", data=body.encode(), content_type="text/csv", headers=AUTH,
                           query_string={"reasons": "false"})
    assert response.status_code == 200, (body, response.get_data(as_text=True))
