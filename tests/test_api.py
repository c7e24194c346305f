"""The scoring API through Flask's test client: formats, contract errors, status codes, log, metrics."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry, Histogram

from app import create_app
from app.config import ApiConfig, ConfigError, config_from_env
from app.errors import BATCH_STATUS, batch_status
from app.metrics import ApiMetrics, PD_BUCKETS
from creditrisk.serving import predlog
from creditrisk.serving import scoring
from creditrisk.modeling.reasons import reason_catalogue
from creditrisk.modeling.bundle import load_bundle, ModelBundle
from creditrisk.data.contract import coerce_and_validate
from tests.api_support import sample_frame, api_config


@pytest.fixture(scope="module")
def bundle(model_path: Path) -> ModelBundle:
    return load_bundle(model_path)


def build_app(model_path: Path, tmp_path: Path, **overrides: Any) -> Flask:
    return create_app(api_config(tmp_path, model_path, **overrides))


def post_json(client: FlaskClient, payload: Any, **kwargs: Any) -> Any:
    return client.post("/predict", data=orjson.dumps(payload), content_type="application/json", **kwargs)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def in_process_pds(bundle: ModelBundle, frame: pd.DataFrame) -> np.ndarray:
    return bundle.predict_pd(coerce_and_validate(frame, purpose="scoring").frame)


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["status"] == status
    assert body["error"] == code
    assert body["message"]
    assert body["request_id"] == response.headers["X-Request-Id"]
    return body


# --- the four input forms give the same answer, equal to the model in-process -----------------


def test_records_columnar_and_csv_give_identical_pds_equal_to_the_model(
        client: FlaskClient, bundle: ModelBundle) -> None:
    frame = sample_frame(40, seed=7)
    frame.insert(0, "id", [f"loan-{i:03d}" for i in np.random.default_rng(3).permutation(40)])
    expected = in_process_pds(bundle, frame.drop(columns="id"))

    answers = {
        "records": post_json(client, records(frame)),
        "wrapped": post_json(client, {"records": records(frame)}),
        "columnar": post_json(client, {"columns": list(frame.columns),
                                       "data": frame.astype(object).values.tolist()}),
        "csv": client.post("/predict", data=frame.to_csv(index=False), content_type="text/csv"),
    }
    for name, response in answers.items():
        assert response.status_code == 200, (name, response.get_data(as_text=True))
        body = response.get_json()
        predictions = body["predictions"]
        assert [p["row"] for p in predictions] == list(range(40)), name
        assert [p["id"] for p in predictions] == frame["id"].tolist(), name
        np.testing.assert_allclose([p["pd"] for p in predictions], expected, rtol=1e-12, err_msg=name)
        assert [p["band"] for p in predictions] == bundle.band_of(expected).tolist()
        assert [p["decision"] for p in predictions] == bundle.decide(expected).tolist()
        assert body["rows"] == 40 and body["model_version"] == "test-1.0"
        assert body["threshold"] == pytest.approx(0.12)
        assert body["prediction_logged"] is True


def test_csv_with_quoted_comma_decimals_scores_like_dot_decimals(client: FlaskClient) -> None:
    frame = sample_frame(5, seed=2)
    frame["cuota_pactada"] = frame["cuota_pactada"] + 0.25
    dots = client.post("/predict", data=frame.to_csv(index=False), content_type="text/csv").get_json()
    commas = frame.astype(object)
    commas["cuota_pactada"] = [f"{value:.2f}".replace(".", ",") for value in frame["cuota_pactada"]]
    text = commas.to_csv(index=False, quoting=1)
    assert '"' in text and "," in commas.loc[0, "cuota_pactada"]
    answer = client.post("/predict", data=text, content_type="text/csv; charset=utf-8").get_json()
    assert [p["pd"] for p in answer["predictions"]] == [p["pd"] for p in dots["predictions"]]


def test_csv_response_when_asked(client: FlaskClient, bundle: ModelBundle) -> None:
    frame = sample_frame(6, seed=4)
    response = client.post("/predict", data=frame.to_csv(index=False), content_type="text/csv",
                           headers={"Accept": "text/csv"})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    table = pd.read_csv(pd.io.common.StringIO(response.get_data(as_text=True)))
    assert table.columns.tolist() == ["row", "id", "pd", "band", "points", "decision",
                                      "reason_1", "reason_2", "reason_3", "reason_4", "warnings"]
    np.testing.assert_allclose(table["pd"], in_process_pds(bundle, frame), rtol=1e-9)
    np.testing.assert_allclose(table["points"], bundle.points(table["pd"].to_numpy()), atol=0.051)
    codes = table[["reason_1", "reason_2", "reason_3", "reason_4"]].fillna("").to_numpy().ravel()
    assert {code for code in codes if code} <= {entry.code for entry in reason_catalogue().values()}
    assert response.headers["X-Model-Version"] == "test-1.0"


def test_each_row_has_points_and_reasons_that_only_push_pd_up(client: FlaskClient, bundle: ModelBundle) -> None:
    frame = sample_frame(20, seed=6)
    answer = post_json(client, records(frame)).get_json()
    scale = bundle.points_scale
    assert scale is not None
    for prediction in answer["predictions"]:
        assert prediction["points"] == pytest.approx(float(scale.points(prediction["pd"])), abs=0.051)
        reasons = prediction["reasons"]
        assert len(reasons) <= 4
        assert all(reason["contribution"] > 0 for reason in reasons)
        assert [r["contribution"] for r in reasons] == sorted((r["contribution"] for r in reasons), reverse=True)
        for reason in reasons:
            assert reason_catalogue()[reason["feature"]].code == reason["code"]
            assert set(reason) == {"code", "feature", "value", "text", "contribution"}
    spanish = post_json(client, records(frame), query_string={"lang": "es"}).get_json()
    first = next(p for p in spanish["predictions"] if p["reasons"])["reasons"][0]
    assert first["text"] == reason_catalogue()[first["feature"]].text["es"]


def test_reasons_false_skips_them_and_changes_no_decision(client: FlaskClient) -> None:
    frame = sample_frame(12, seed=7)
    full = post_json(client, records(frame)).get_json()["predictions"]
    quick = post_json(client, records(frame), query_string={"reasons": "false"})
    assert quick.status_code == 200
    assert "reasons=" not in quick.headers["Server-Timing"] and "reasons;" not in quick.headers["Server-Timing"]
    for with_reasons, without in zip(full, quick.get_json()["predictions"], strict=True):
        assert "reasons" not in without
        assert {k: v for k, v in with_reasons.items() if k != "reasons"} == without
    assert post_json(client, records(frame), query_string={"reasons": "maybe"}).status_code == 400
    assert post_json(client, records(frame), query_string={"lang": "fr"}).status_code == 400


def test_model_shows_each_band_points_range(client: FlaskClient, bundle: ModelBundle) -> None:
    bands = client.get("/model").get_json()["bands"]
    assert [band["name"] for band in bands] == [band.name for band in bundle.bands]
    assert bands[0]["points_to"] is None and bands[-1]["points_from"] is None
    for better, worse in zip(bands, bands[1:]):
        assert better["points_from"] == worse["points_to"]  # adjacent bands meet at their PD edge
        assert better["pd_up_to"] == worse["pd_above"]


def test_loan_date_is_optional_and_an_empty_one_is_reported(client: FlaskClient) -> None:
    frame = sample_frame(3, seed=5)
    without = post_json(client, records(frame.drop(columns="fecha_prestamo")))
    assert without.status_code == 200
    assert all(p["warnings"] == [] for p in without.get_json()["predictions"])
    rows = records(frame)
    rows[1]["fecha_prestamo"] = ""
    answer = post_json(client, rows).get_json()
    assert [w["rule"] for w in answer["predictions"][1]["warnings"]] == ["defaulted_to_request_time"]
    assert answer["predictions"][0]["warnings"] == []


def test_nullable_violations_are_scored_with_row_warnings(client: FlaskClient, bundle: ModelBundle) -> None:
    frame = sample_frame(4, seed=6)
    rows = records(frame)
    rows[1]["edad_cliente"] = 122
    rows[1]["tendencia_ingresos"] = "3.7"
    rows[3]["salario_cliente"] = "mucho"
    answer = post_json(client, rows).get_json()

    warnings = [p["warnings"] for p in answer["predictions"]]
    assert warnings[0] == [] and warnings[2] == []
    assert {(w["field"], w["rule"], w["value"]) for w in warnings[1]} == {
        ("edad_cliente", "placeholder", "122"), ("tendencia_ingresos", "unknown_category", "3.7")}
    assert [(w["field"], w["rule"]) for w in warnings[3]] == [("salario_cliente", "not_a_number")]
    assert answer["rows_with_warnings"] == 2
    nulled = frame.astype(object)
    nulled.loc[1, ["edad_cliente", "tendencia_ingresos"]] = None
    nulled.loc[3, "salario_cliente"] = None
    np.testing.assert_allclose([p["pd"] for p in answer["predictions"]], in_process_pds(bundle, nulled))


def test_unknown_columns_are_ignored_and_listed_once(client: FlaskClient) -> None:
    frame = sample_frame(3).assign(sucursal="norte", canal=1)
    response = post_json(client, records(frame))
    assert response.status_code == 200
    assert response.get_json()["ignored_columns"] == ["sucursal", "canal"]
    assert response.headers["X-Ignored-Columns"] == "sucursal,canal"


# --- 400: the caller's mistakes, stated per row ------------------------------------------------


@pytest.mark.parametrize(("body", "content_type", "code"), [
    (b'[{"capital_prestado": 1', "application/json", "malformed_json"),
    (b'{"loans": []}', "application/json", "unrecognised_body"),
    (b'"just text"', "application/json", "unrecognised_body"),
    (b'[1, 2]', "application/json", "invalid_records"),
    (b'{"columns": ["a", "a"], "data": [[1, 2]]}', "application/json", "duplicate_columns"),
    (b'{"columns": ["a", "b"], "data": [[1]]}', "application/json", "invalid_data"),
    (b'{"columns": "a", "data": []}', "application/json", "invalid_columns"),
    (b"", "text/csv", "empty_body"),
    (b'a,b\n1,2,3,4\n', "text/csv", "malformed_csv"),
    (b'\xff\xfe\x00a,b\n', "text/csv", "malformed_csv"),
])
def test_malformed_bodies_are_400(client: FlaskClient, body: bytes, content_type: str, code: str) -> None:
    body_json = assert_error(client.post("/predict", data=body, content_type=content_type), 400, code)
    assert body_json["errors"] and body_json["error_count"] >= 1


def test_missing_required_column_names_the_column(client: FlaskClient) -> None:
    body = assert_error(post_json(client, records(sample_frame(2).drop(columns="cuota_pactada"))),
                        400, "invalid_values")
    assert {"row": None, "field": "cuota_pactada", "value": None, "rule": "required_column_missing"} \
        .items() <= body["errors"][0].items()


def test_fatal_values_are_listed_by_row_field_value_rule(client: FlaskClient) -> None:
    rows = records(sample_frame(5))
    rows[1]["capital_prestado"] = "doce"
    rows[3]["plazo_meses"] = None
    rows[4]["cuota_pactada"] = -5
    body = assert_error(post_json(client, rows), 400, "invalid_values")
    found = {(e["row"], e["field"], e["value"], e["rule"]) for e in body["errors"]}
    assert found == {(1, "capital_prestado", "doce", "not_a_number"),
                     (3, "plazo_meses", None, "missing_value"),
                     (4, "cuota_pactada", "-5.0", "below_minimum")}
    assert body["error_count"] == 3


@pytest.mark.parametrize("value", [True, {"amount": 5}, [1, 2]])
@pytest.mark.parametrize("column", ["capital_prestado", "edad_cliente", "tipo_laboral", "id"])
def test_wrong_json_types_are_400_not_500(client: FlaskClient, column: str, value: Any) -> None:
    rows = records(sample_frame(2))
    rows[1][column] = value
    body = assert_error(post_json(client, rows), 400, "invalid_values")
    assert body["errors"][0]["row"] == 1 and body["errors"][0]["field"] == column
    assert body["errors"][0]["rule"] == "wrong_json_type"


def test_errors_are_capped_but_counted(model_path: Path, tmp_path: Path) -> None:
    client = build_app(model_path, tmp_path, max_errors=5).test_client()
    frame = sample_frame(30).assign(capital_prestado="nada")
    body = assert_error(post_json(client, records(frame)), 400, "invalid_values")
    assert len(body["errors"]) == 5
    assert body["error_count"] == 30
    assert [e["row"] for e in body["errors"]] == [0, 1, 2, 3, 4]


def test_empty_batch_and_bad_query_are_400(client: FlaskClient) -> None:
    assert_error(post_json(client, []), 400, "invalid_values")
    assert_error(post_json(client, records(sample_frame(1)), query_string={"day_first": "maybe"}),
                 400, "invalid_query")
    for empty in ("day_first", "reasons", "lang"):  # present but empty says neither yes nor no
        assert_error(post_json(client, records(sample_frame(1)), query_string={empty: ""}), 400, "invalid_query")


def test_a_two_row_csv_whose_date_order_cannot_be_told_is_scored_with_a_warning_and_logged_undated(
        client: FlaskClient, bundle: ModelBundle, tmp_path: Path) -> None:
    frame = sample_frame(2, seed=8)
    frame["fecha_prestamo"] = ["05/06/25 10:30", "07/08/25 11:00"]  # day and month <= 12: either order
    body = frame.to_csv(index=False)
    answer = client.post("/predict", data=body, content_type="text/csv")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    predictions = answer.get_json()["predictions"]
    for prediction, date in zip(predictions, frame["fecha_prestamo"], strict=True):
        assert [(w["field"], w["value"], w["rule"]) for w in prediction["warnings"]] == [
            ("fecha_prestamo", date, "ambiguous_date_order")]
        assert "day_first" in prediction["warnings"][0]["message"]
    undated = frame.drop(columns="fecha_prestamo")
    np.testing.assert_allclose([p["pd"] for p in predictions], in_process_pds(bundle, undated), rtol=1e-12)
    logged = predlog.read_log(tmp_path / "predictions.sqlite")
    assert len(logged) == 2 and logged["fecha_prestamo"].isna().all()

    ordered = client.post("/predict", data=body, content_type="text/csv", query_string={"day_first": "true"})
    assert all(p["warnings"] == [] for p in ordered.get_json()["predictions"])
    logged = predlog.read_log(tmp_path / "predictions.sqlite")
    assert sorted(logged["fecha_prestamo"].dropna().dt.strftime("%Y-%m-%d %H:%M")) == [
        "2025-06-05 10:30", "2025-08-07 11:00"]  # day first, as asked


# --- the other statuses -------------------------------------------------------------------------


def test_the_library_raises_kinds_of_batch_error_and_only_the_app_knows_their_status() -> None:
    kinds = [value for value in vars(scoring).values()
             if isinstance(value, type) and issubclass(value, scoring.BatchError)]
    assert {kind.__name__ for kind in kinds} >= {"BatchError", "MalformedBatch", "OversizedBatch", "InvalidValues"}
    for kind in kinds:
        error = kind("some_code", "a message")
        assert not hasattr(error, "status") and kind in BATCH_STATUS
    with pytest.raises(scoring.OversizedBatch) as raised:
        scoring.check_row_limit(sample_frame(3), max_rows=2)
    assert batch_status(raised.value) == 413 and raised.value.errors[0].rule == "too_many_rows"
    with pytest.raises(scoring.MalformedBatch):
        scoring.parse_json_body(b"[1, 2]")
    assert batch_status(scoring.InvalidValues("invalid_values", "m")) == 400



def test_unsupported_media_type_is_415(client: FlaskClient) -> None:
    assert_error(client.post("/predict", data="capital=1", content_type="text/plain"), 415,
                 "unsupported_media_type")
    assert_error(client.post("/predict", data=b"[]"), 415, "unsupported_media_type")


def test_body_and_row_limits_are_413(model_path: Path, tmp_path: Path) -> None:
    client = build_app(model_path, tmp_path, max_rows=10, max_body_mb=0.01).test_client()
    assert_error(post_json(client, records(sample_frame(11))), 413, "too_many_rows")
    big = b"[" + b" " * 20_000 + b"]"
    assert_error(client.post("/predict", data=big, content_type="application/json"), 413,
                 "payload_too_large")
    assert post_json(client, records(sample_frame(10))).status_code == 200


def test_not_found_and_method_not_allowed(client: FlaskClient) -> None:
    assert_error(client.get("/no-such-thing"), 404, "not_found")
    response = client.get("/predict")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]
    assert_error(client.post("/health"), 405, "method_not_allowed")


def test_token_protects_scoring_and_model_but_not_probes(model_path: Path, tmp_path: Path) -> None:
    client = build_app(model_path, tmp_path, api_token="s3cret").test_client()
    rows = records(sample_frame(2))
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
        response = post_json(client, rows, headers=headers)
        assert_error(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert_error(client.get("/model"), 401, "unauthorized")
    assert post_json(client, rows, headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/model", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 200


def test_missing_model_leaves_the_app_up_but_not_ready(tmp_path: Path) -> None:
    client = create_app(api_config(tmp_path, tmp_path / "nowhere.skops")).test_client()
    assert client.get("/health").status_code == 200
    body = assert_error(client.get("/ready"), 503, "model_not_ready")
    assert body["ready"] is False and "nowhere.skops" in body["reason"]
    assert_error(post_json(client, records(sample_frame(1))), 503, "model_not_ready")
    assert_error(client.get("/model"), 503, "model_not_ready")
    assert "creditrisk_model_ready 0.0" in client.get("/metrics").get_data(as_text=True)


def test_tampered_model_is_refused_with_a_clear_reason(model_path: Path, tmp_path: Path) -> None:
    tampered = tmp_path / "model.skops"
    tampered.write_bytes(model_path.read_bytes() + b"\0")
    (tmp_path / "model.skops.sha256").write_text(model_path.with_name("model.skops.sha256").read_text())
    client = create_app(api_config(tmp_path, tampered)).test_client()
    body = assert_error(client.get("/ready"), 503, "model_not_ready")
    assert "sha256" in body["reason"] and "changed" in body["reason"]
    assert_error(post_json(client, records(sample_frame(1))), 503, "model_not_ready")


def test_model_hash_in_dvc_lock_is_checked(model_path: Path, tmp_path: Path) -> None:
    model = tmp_path / "models" / "model.skops"
    model.parent.mkdir()
    model.write_bytes(model_path.read_bytes())
    lock = tmp_path / "dvc.lock"
    lock.write_text("schema: '2.0'\nstages:\n  train:\n    outs:\n    - path: models/model.skops\n"
                    "      md5: 0123456789abcdef0123456789abcdef\n")
    client = create_app(replace(api_config(tmp_path, model), dvc_lock=lock)).test_client()
    body = assert_error(client.get("/ready"), 503, "model_not_ready")
    assert "dvc.lock" in body["reason"]


# --- endpoints, log and metrics -------------------------------------------------------------------


def test_health_ready_and_model_describe_the_model(client: FlaskClient) -> None:
    assert client.get("/health").get_json() == {"status": "ok"}
    ready = client.get("/ready").get_json()
    assert ready["ready"] is True and ready["model_version"] == "test-1.0"
    assert "sha256" in ready["verified"]
    model = client.get("/model").get_json()
    assert model["version"] == "test-1.0"
    assert model["threshold"] == pytest.approx(0.12)
    assert [band["name"] for band in model["bands"]] == ["A", "B", "C", "D"]
    assert "capital_prestado" in model["features"]
    assert model["training_window"] == {"start": "2025-01-01", "end": "2025-05-31"}
    assert model["test_metrics"] == {"roc_auc": 0.7}


def test_prediction_log_holds_every_scored_row(client: FlaskClient, tmp_path: Path) -> None:
    first = post_json(client, records(sample_frame(7, seed=1))).get_json()
    second = client.post("/predict", data=sample_frame(5, seed=2).to_csv(index=False),
                         content_type="text/csv").get_json()
    assert_error(post_json(client, [{"capital_prestado": 1}]), 400, "invalid_values")

    logged = predlog.read_log(tmp_path / "predictions.sqlite")
    assert logged["request_id"].tolist() == [first["request_id"]] * 7 + [second["request_id"]] * 5
    assert logged["pd"].tolist() == [p["pd"] for p in first["predictions"] + second["predictions"]]
    assert logged["band"].tolist() == [p["band"] for p in first["predictions"] + second["predictions"]]
    assert logged["model_version"].unique().tolist() == ["test-1.0"]


def test_a_log_that_cannot_be_written_answers_503_and_shows_in_metrics(model_path: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the log's folder should be")
    app = build_app(model_path, tmp_path, prediction_log=blocked / "predictions.sqlite")
    client = app.test_client()
    response = post_json(client, records(sample_frame(3)))
    body = assert_error(response, 503, "prediction_log_unavailable")
    assert "not-a-directory" in body["reason"] and "predictions" not in body
    assert response.headers["Retry-After"] == "5"
    assert "creditrisk_prediction_log_failures_total 1.0" in client.get("/metrics").get_data(as_text=True)


def test_metrics_count_requests_rows_errors_and_pds(client: FlaskClient) -> None:
    answer = post_json(client, records(sample_frame(12))).get_json()
    post_json(client, records(sample_frame(3)))
    client.get("/missing")
    text = client.get("/metrics").get_data(as_text=True)
    assert "creditrisk_rows_scored_total 15.0" in text
    assert "creditrisk_predicted_pd_count 15.0" in text
    assert 'creditrisk_http_requests_total{endpoint="/predict",method="POST",status="200"} 2.0' in text
    assert 'creditrisk_http_errors_total{code="not_found",status="404"} 1.0' in text
    assert 'creditrisk_http_request_duration_seconds_count{endpoint="/predict"} 2.0' in text
    assert 'creditrisk_scoring_stage_duration_seconds_count{stage="validate"} 2.0' in text
    assert "creditrisk_model_ready 1.0" in text
    assert answer["rows"] == 12


def test_batch_pd_histogram_exposes_what_a_histogram_observing_one_by_one_does() -> None:
    values = np.array([0.0, 0.01, 0.015, 0.05, 0.2, 0.99, 1.0, np.nan, 0.3, 0.3])
    batched = ApiMetrics()
    batched.observe_pds(values[:4])
    batched.observe_pds(values[4:])
    batched.observe_pds(np.array([]))
    one_by_one = CollectorRegistry()
    histogram = Histogram("creditrisk_predicted_pd", "PD", buckets=PD_BUCKETS, registry=one_by_one)
    for value in values[np.isfinite(values)]:
        histogram.observe(value)

    def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in registry.collect()
                for s in family.samples if s.name.startswith("creditrisk_predicted_pd")
                and not s.name.endswith("_created")}
    expected = samples(one_by_one)
    assert expected[("creditrisk_predicted_pd_bucket", (("le", "0.01"),))] == 2.0
    assert samples(batched.registry) == pytest.approx(expected)


def test_decisions_are_counted_per_band_and_outcome() -> None:
    metrics = ApiMetrics()
    metrics.count_decisions(np.array(["A", "C", "A", "B", "A"]),
                            np.array(["approve", "decline", "approve", "review", "decline"]))
    counted = {tuple(sorted(s.labels.items())): s.value for family in metrics.decisions.collect()
               for s in family.samples if s.name.endswith("_total")}
    assert counted == {(("band", "A"), ("decision", "approve")): 2.0, (("band", "A"), ("decision", "decline")): 1.0,
                       (("band", "B"), ("decision", "review")): 1.0, (("band", "C"), ("decision", "decline")): 1.0}


def test_request_id_is_echoed_when_sane(client: FlaskClient) -> None:
    response = client.get("/health", headers={"X-Request-Id": "abc-123"})
    assert response.headers["X-Request-Id"] == "abc-123"
    odd = client.get("/health", headers={"X-Request-Id": "no spaces allowed"})
    assert odd.headers["X-Request-Id"] != "no spaces allowed"


def test_config_from_environment() -> None:
    config = config_from_env({"CREDITRISK_MODEL_PATH": "m/x.skops", "CREDITRISK_MAX_ROWS": "10",
                              "CREDITRISK_MAX_BODY_MB": "1.5", "CREDITRISK_API_TOKEN": "t",
                              "CREDITRISK_PREDICTION_LOG": ""})
    assert config.model_path == Path("m/x.skops") and config.max_rows == 10
    assert config.max_body_bytes == int(1.5 * 1024 * 1024)
    assert config.api_token == "t" and config.prediction_log is None
    assert config_from_env({}) == ApiConfig()
    with pytest.raises(ConfigError, match="CREDITRISK_MAX_ROWS"):
        config_from_env({"CREDITRISK_MAX_ROWS": "lots"})
