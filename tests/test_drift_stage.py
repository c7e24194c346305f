"""The drift stage end to end on files the test writes: reference, raw batches, a tiny model, a prediction log."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from tests.shipped import SHIPPED_PARAMS, shipped
from creditrisk.modeling.bundle import save_bundle, ModelBundle, RiskBand
from creditrisk.monitoring.drift import DriftParams
from creditrisk.monitoring.report import REPORT_FILES, SCORE
from creditrisk.modeling.validation import binomial_test_pvalue, jeffreys_test_pvalue, traffic_light
from creditrisk.monitoring.run import run_drift, window_band_tests, write_report
from creditrisk.serving.predlog import log_entry, PredictionLog
from creditrisk.data.contract import ContractError, DATE, FEATURE_COLUMNS, TARGET

REPO = Path(__file__).resolve().parents[1]
MODEL_INPUTS = ["puntaje_datacredito", "huella_consulta", "edad_cliente"]
WINDOW_KEYS = {
    "window", "start", "end", "source", "rows", "status", "share_drifted", "features_warn", "features_alert",
    "score_psi", "score_ks", "score_ks_pvalue", "mean_pd", "band_mix",
}
FEATURE_CSV_COLUMNS = [
    "window", "feature", "kind", "status", "rows", "missing_share_ref", "missing_share_cur", "missing_share_change",
    "ks_stat", "ks_pvalue", "ks_pvalue_adj", "psi", "js", "chi2_stat", "chi2_pvalue", "chi2_pvalue_adj", "level",
    "reason",
]
WRITTEN_ABS = 1e-6
"""Reports keep 6 significant digits (creditrisk.io): a difference of two written values of order 1 is exact to
this much."""
WRITTEN_P_REL = 1e-4
"""A p-value recomputed from a written (rounded) mean PD agrees with the written one to this much."""


def contract_loans(rows: int, seed: int, month: str, drift: float = 0.0, labelled: bool = True) -> pd.DataFrame:
    """Contract-typed loans of one month; `drift` lowers bureau scores, adds inquiries and moves products to 9."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(f"{month}-01")
    dates = start + pd.to_timedelta(rng.integers(0, 27 * 24 * 60, rows), unit="min")
    bureau = np.round(np.clip(rng.normal(792 - 60 * drift, 50, rows), 300, 999))
    inquiries = rng.poisson(4.2 + 4 * drift, rows).astype(float)
    age = np.round(np.clip(rng.normal(43, 12, rows), 19, 69))
    logit = -3.0 - 0.015 * (bureau - 792) + 0.15 * (inquiries - 4.2) - 0.03 * (age - 43)
    default = rng.random(rows) < 1 / (1 + np.exp(-logit))
    capital = np.round(np.exp(rng.normal(14.48, 0.66, rows)), -3)
    term = rng.choice([6.0, 10.0, 12.0, 24.0], rows)
    trend = rng.choice(["Creciente", "Decreciente", "Estable"], rows).astype(object)
    trend[rng.random(rows) < 0.28] = None
    frame = pd.DataFrame({
        "tipo_credito": pd.Series(rng.choice(["4", "9", "10"], rows, p=[0.72 - 0.3 * drift, 0.27 + 0.3 * drift, 0.01]),
                                  dtype="string"),
        DATE: dates.astype("datetime64[ns]"),
        "capital_prestado": capital,
        "plazo_meses": term,
        "edad_cliente": age,
        "tipo_laboral": pd.Series(rng.choice(["Empleado", "Independiente"], rows, p=[0.63, 0.37]), dtype="string"),
        "salario_cliente": np.round(np.exp(rng.normal(14.99, 0.81, rows)), -5) + 100_000,
        "total_otros_prestamos": np.round(np.exp(rng.normal(13.83, 1.12, rows)), -3),
        "cuota_pactada": np.round(capital / term * 1.1),
        "puntaje_datacredito": bureau,
        "cant_creditosvigentes": rng.poisson(5.7, rows).astype(float),
        "huella_consulta": inquiries,
        "saldo_mora": np.where(rng.random(rows) < 0.02, 250.0, 0.0),
        "saldo_total": np.round(np.exp(rng.normal(9.56, 1.95, rows))),
        "saldo_principal": np.round(np.exp(rng.normal(9.4, 1.95, rows))),
        "saldo_mora_codeudor": np.where(rng.random(rows) < 0.05, np.nan, 0.0),
        "creditos_sectorFinanciero": rng.poisson(2.8, rows).astype(float),
        "creditos_sectorCooperativo": rng.poisson(0.27, rows).astype(float),
        "creditos_sectorReal": rng.poisson(1.3, rows).astype(float),
        "promedio_ingresos_datacredito": np.where(trend == None, np.nan, 1.2e6),  # noqa: E711
        "tendencia_ingresos": pd.Series(trend, dtype="string"),
        TARGET: np.where(default, 0.0, 1.0) if labelled else np.nan,
    })
    return frame


def write_raw_batch(frame: pd.DataFrame, path: Path) -> None:
    """The export's own format: day-first two-digit-year dates, comma decimals in quotes, empty cells."""
    raw = frame.astype(object).where(frame.notna(), "")
    raw[DATE] = frame[DATE].dt.strftime("%d/%m/%y %H:%M")
    raw["cuota_pactada"] = [f"{value:.2f}".replace(".", ",") for value in frame["cuota_pactada"]]
    raw.to_csv(path, index=False)


def tiny_model(reference: pd.DataFrame) -> ModelBundle:
    pipeline = Pipeline([
        ("columns", ColumnTransformer([("numbers", SimpleImputer(strategy="median"), MODEL_INPUTS)])),
        ("model", LogisticRegression(max_iter=500)),
    ])
    pipeline.fit(reference[MODEL_INPUTS], 1 - reference[TARGET].to_numpy())
    bands = [RiskBand("A", 0.03), RiskBand("B", 0.08), RiskBand("C", 1.0)]
    return ModelBundle(pipeline, threshold=0.1, bands=bands, features=MODEL_INPUTS, metadata={"version": "test"})


def write_project(root: Path) -> dict[str, object]:
    reference = pd.concat([contract_loans(1500, seed, month) for seed, month in ((1, "2025-11"), (2, "2025-12"))],
                          ignore_index=True)
    (root / "data" / "prepared").mkdir(parents=True)
    reference.to_parquet(root / "data" / "prepared" / "train.parquet", index=False)
    incoming = root / "data" / "incoming"
    incoming.mkdir(parents=True)
    write_raw_batch(contract_loans(600, 3, "2026-05"), incoming / "loans_2026-05.csv")
    drifted = contract_loans(600, 4, "2026-07", drift=1.0)
    drifted["saldo_mora_codeudor"] = np.nan
    drifted["plazo_meses"] = 12.0
    drifted.loc[drifted.index[:60], "tipo_credito"] = "68"
    write_raw_batch(drifted, incoming / "loans_2026-07.csv")
    single = contract_loans(1, 5, "2026-08", labelled=False)
    single["salario_cliente"] = np.inf
    write_raw_batch(single, incoming / "loans_2026-08.csv")
    (root / "models").mkdir()
    save_bundle(tiny_model(reference), root / "models" / "model.skops")
    (root / "reports").mkdir()
    metrics = {"roc_auc": 0.70, "brier": 0.05, "default_rate": 0.05,
               "bands": {"A": {"share": 0.5, "default_rate": 0.02}, "B": {"share": 0.4, "default_rate": 0.05},
                         "C": {"share": 0.1, "default_rate": 0.12}}}
    (root / "reports" / "metrics.json").write_text(json.dumps(metrics))
    logged = contract_loans(200, 6, "2026-09", drift=0.5, labelled=False)
    bundle = tiny_model(reference)
    pds = bundle.predict_pd(logged)
    log = PredictionLog(root / "data" / "monitoring" / "predictions.sqlite")
    log.append(log_entry(logged, "request-1", "test", pds, bundle.band_of(pds), bundle.decide(pds)))
    log.close()
    params = {"drift": {
        **SHIPPED_PARAMS["drift"],
        "reference_path": "data/prepared/train.parquet", "incoming_dir": "data/incoming",
        "model_path": "models/model.skops", "metrics_path": "reports/metrics.json",
        "prediction_log": "data/monitoring/predictions.sqlite", "output_dir": "reports/drift",
        "bootstrap_samples": 50, "seed": 7,
    }, "fairness": SHIPPED_PARAMS["fairness"]}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return params


def run_stage(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "stages" / "drift.py")], cwd=root,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def stage_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The drift stage run once, as a subprocess, on the project `write_project` writes."""
    root = tmp_path_factory.mktemp("drift-stage")
    write_project(root)
    completed = run_stage(root)
    assert completed.returncode == 0, completed.stderr
    return root / "reports" / "drift"


def windows_by_label(out: Path) -> dict[str, dict]:
    return {window["window"]: window for window in json.loads((out / "windows.json").read_text())}


@pytest.mark.slow
def test_stage_writes_the_windows_in_the_documented_format(stage_output: Path) -> None:
    by_label = windows_by_label(stage_output)
    assert list(by_label) == ["2026-05", "2026-06", "2026-07", "2026-08", "log:2026-09"]
    for window in by_label.values():
        assert WINDOW_KEYS <= set(window)
    assert by_label["2026-05"]["status"] == "ok" and by_label["2026-05"]["rows"] == 600
    assert by_label["2026-06"]["rows"] == 0 and by_label["2026-06"]["status"] == "warn"
    assert by_label["2026-07"]["status"] == "alert" and by_label["2026-07"]["features_alert"] >= 3
    assert by_label["2026-08"]["rows"] == 1
    assert by_label["log:2026-09"]["source"] == "prediction_log" and by_label["log:2026-09"]["rows"] == 200
    for label in ("2026-05", "2026-07"):
        labelled = by_label[label]
        assert labelled["labelled_rows"] == 600
        assert 0 <= labelled["default_rate"] <= 1 and 0 <= labelled["roc_auc"] <= 1
        assert labelled["delta_roc_auc"] == pytest.approx(labelled["roc_auc"] - 0.70, abs=WRITTEN_ABS)
        assert set(labelled["band_mix"]) == {"A", "B", "C"}
        assert sum(labelled["band_mix"].values()) == pytest.approx(1.0)
    assert by_label["2026-07"]["score_psi"] > by_label["2026-05"]["score_psi"]
    assert by_label["2026-08"]["labelled_rows"] == 0


@pytest.mark.slow
def test_stage_writes_the_feature_table_in_the_documented_format(stage_output: Path) -> None:
    features = pd.read_csv(stage_output / "features.csv")
    assert list(features.columns[: len(FEATURE_CSV_COLUMNS)]) == FEATURE_CSV_COLUMNS
    assert len(features) == len(windows_by_label(stage_output)) * len(FEATURE_COLUMNS)
    assert set(features["level"]) <= {"ok", "warn", "alert"}
    assert set(features["status"]) <= {"ok", "empty", "constant"}
    july = features[features["window"] == "2026-07"].set_index("feature")
    assert july.loc["saldo_mora_codeudor", "status"] == "empty"
    assert july.loc["saldo_mora_codeudor", "level"] == "alert"
    assert july.loc["plazo_meses", "status"] == "constant"
    assert july.loc["tipo_credito", "level"] == "alert"
    assert july.loc["puntaje_datacredito", "level"] == "alert"
    assert features.loc[features["window"] == "2026-06", "status"].eq("empty").all()
    august = features[features["window"] == "2026-08"].set_index("feature")
    assert august.loc["salario_cliente", "status"] == "empty"
    may = features[features["window"] == "2026-05"]
    assert may["level"].eq("ok").all(), may[may["level"] != "ok"][["feature", "reason"]]


@pytest.mark.slow
def test_stage_writes_the_distributions_and_the_reference_profile(stage_output: Path) -> None:
    distributions = json.loads((stage_output / "distributions.json").read_text())
    assert list(distributions) == list(windows_by_label(stage_output))
    overlay = distributions["2026-07"]["tipo_credito"]
    assert overlay["bins"][-2:] == ["__missing__", "__unseen__"]
    assert len(overlay["bins"]) == len(overlay["reference"]) == len(overlay["current"])
    assert overlay["current"][-1] == pytest.approx(0.1)
    assert len(distributions["2026-05"][SCORE]["bins"]) == 10

    profile = json.loads((stage_output / "reference_profile.json").read_text())
    assert profile["rows"] == 3000
    assert len(profile["features"]["edad_cliente"]["bins"]) == 10
    assert profile["features"]["saldo_mora_codeudor"]["missing_share"] > 0


@pytest.mark.slow
def test_stage_writes_the_latest_verdicts_in_the_summary(stage_output: Path) -> None:
    by_label = windows_by_label(stage_output)
    features = pd.read_csv(stage_output / "features.csv")
    summary = json.loads((stage_output / "summary.json").read_text())
    assert summary["latest_window"] == "log:2026-09"
    assert summary["status"] == by_label["log:2026-09"]["status"] == "alert"
    assert summary["reason"].startswith("score alert: ")
    assert sum(summary["counts_by_level"].values()) == len(FEATURE_COLUMNS)
    assert summary["windows"] == 5
    assert summary["latest_labelled_window"] == "2026-07"
    assert summary["latest_labelled_delta_roc_auc"] == pytest.approx(by_label["2026-07"]["delta_roc_auc"])
    assert (summary["latest_labelled_roc_auc_level"], summary["retraining_review"]) == ("ok", False)
    assert summary["features_in_alert"]
    for feature, since in summary["features_in_alert"].items():
        assert since.startswith("log:")
        assert features.set_index(["window", "feature"]).loc[(summary["latest_window"], feature), "level"] == "alert"


def test_run_without_prediction_log_then_a_batch_missing_a_required_column(tmp_path: Path) -> None:
    write_project(tmp_path)
    params = drift_params(tmp_path)
    reference = pd.read_parquet(tmp_path / "data" / "prepared" / "train.parquet")
    batches = sorted((tmp_path / "data" / "incoming").glob("loans_*.csv"))
    missing_log = tmp_path / "no-such-log.sqlite"
    report = run_drift(params, reference, batches, None, None, missing_log)
    assert [window["source"] for window in report.windows] == ["incoming"] * 4
    assert report.summary["latest_window"] == "2026-08"
    assert report.windows[0]["score_psi"] is None and report.windows[0]["labelled_rows"] == 0

    broken = contract_loans(50, 9, "2026-10").drop(columns=["capital_prestado"])
    write_raw_batch(broken, tmp_path / "data" / "incoming" / "loans_2026-10.csv")
    with pytest.raises(ContractError, match="capital_prestado") as error:
        run_drift(params, reference, sorted((tmp_path / "data" / "incoming").glob("loans_*.csv")))
    assert "loans_2026-10.csv" in str(error.value)


def test_summary_carries_the_performance_verdict_and_the_rules_used(tmp_path: Path) -> None:
    """A labelled window far below the out-of-time ROC-AUC asks for a retraining review; the cut-offs are recorded."""
    params = write_project(tmp_path)
    reference = pd.read_parquet(tmp_path / "data" / "prepared" / "train.parquet")
    batches = sorted((tmp_path / "data" / "incoming").glob("loans_*.csv"))
    block = params["drift"]
    report = run_drift(drift_params(tmp_path), reference, batches, tiny_model(reference), {"roc_auc": 0.99},
                       tmp_path / "no-such-log.sqlite")
    summary = report.summary
    july = next(window for window in report.windows if window["window"] == "2026-07")
    assert july["defaults"] >= block["min_labelled_defaults"]
    assert -july["delta_roc_auc"] >= block["roc_auc_drop_alert"]
    assert july["status"] == "alert" and "vs out-of-time test" in july["reason"]
    assert summary["latest_labelled_window"] == "2026-07"
    assert (summary["latest_labelled_roc_auc_level"], summary["retraining_review"]) == ("alert", True)
    assert summary["thresholds"]["roc_auc_drop"] == {"warn": block["roc_auc_drop_warn"],
                                                     "alert": block["roc_auc_drop_alert"]}
    assert summary["thresholds"]["psi"] == summary["thresholds"]["score_psi"] == {"warn": block["psi_warn"],
                                                                                  "alert": block["psi_alert"]}
    assert summary["thresholds"]["share_drifted"] == {"warn": block["dataset_warn_share"]}
    assert summary["thresholds"]["share_in_alert"] == {"alert": block["dataset_alert_share"]}
    assert (summary["alpha"], summary["p_adjust"]) == (block["alpha"], block["p_adjust"])
    assert (summary["min_window_rows"], summary["min_labelled_defaults"]) == (block["min_window_rows"],
                                                                            block["min_labelled_defaults"])


def drift_params(root: Path) -> DriftParams:
    block = yaml.safe_load((root / "params.yaml").read_text())["drift"]
    return shipped(DriftParams, **block)


def test_batches_are_cut_by_loan_date_not_by_file(tmp_path: Path) -> None:
    """One file spanning January and March gives January, an empty February and March; a month-first file too."""
    january, march = contract_loans(40, 11, "2026-01"), contract_loans(30, 12, "2026-03")
    write_raw_batch(pd.concat([january, march], ignore_index=True), tmp_path / "loans_a.csv")
    april = contract_loans(35, 13, "2026-04")
    raw = april.astype(object).where(april.notna(), "")
    raw[DATE] = april[DATE].dt.strftime("%m/%d/%Y %H:%M")
    raw.to_csv(tmp_path / "loans_b.csv", index=False)
    reference = contract_loans(500, 14, "2025-12")
    params = shipped(DriftParams, reference_path="", incoming_dir="", model_path="", metrics_path="",
                         prediction_log="", output_dir="", bootstrap_samples=0)
    report = run_drift(params, reference, [tmp_path / "loans_b.csv", tmp_path / "loans_a.csv"])
    assert [(w["window"], w["rows"]) for w in report.windows] == [
        ("2026-01", 40), ("2026-02", 0), ("2026-03", 30), ("2026-04", 35)]
    assert report.windows[0]["files"] == ["loans_a.csv"] and report.windows[3]["files"] == ["loans_b.csv"]
    assert report.windows[0]["start"] == "2026-01-01T00:00:00" and report.windows[0]["end"] == "2026-01-31T23:59:59"
    quarterly = run_drift(dataclasses.replace(params, window="quarter"), reference,
                          [tmp_path / "loans_a.csv", tmp_path / "loans_b.csv"])
    assert [(w["window"], w["rows"]) for w in quarterly.windows] == [("2026-Q1", 70), ("2026-Q2", 35)]


def test_no_current_data_gives_an_empty_report(tmp_path: Path) -> None:
    params = shipped(DriftParams, reference_path="", incoming_dir="", model_path="", metrics_path="",
                         prediction_log="", output_dir="")
    report = run_drift(params, contract_loans(300, 15, "2025-12"), [], prediction_log=tmp_path / "absent.sqlite")
    assert report.windows == [] and report.features.empty and report.distributions == {}
    assert report.summary["latest_window"] is None and report.summary["reason"] == "no current data"
    write_report(report, tmp_path / "drift")
    assert sorted(p.name for p in (tmp_path / "drift").iterdir()) == sorted(REPORT_FILES)
    assert list(pd.read_csv(tmp_path / "drift" / "features.csv").columns[:3]) == ["window", "feature", "kind"]


@pytest.mark.slow
def test_on_the_sample_export_the_late_months_drift_and_the_early_ones_do_not(tmp_path: Path) -> None:
    from creditrisk.data.prepare import prepare_export, PrepareParams
    from creditrisk.data.synthetic import write_sample_export, GenerateParams

    generate = shipped(GenerateParams, history_formats=("csv",))
    write_sample_export(generate, root=tmp_path)
    reference = prepare_export(shipped(PrepareParams, source=str(tmp_path / generate.history_dir / "loans.csv"))).train
    params = shipped(DriftParams, reference_path="", incoming_dir="", model_path="", metrics_path="",
                         prediction_log="", output_dir="")
    report = run_drift(params, reference, sorted((tmp_path / generate.incoming_dir).glob("loans_*.csv")))
    statuses = [window["status"] for window in report.windows]
    assert len(statuses) == generate.incoming_months
    assert statuses[:2] == ["ok", "ok"]
    assert statuses[-1] == "alert" and report.windows[-1]["features_alert"] >= 2
    alerts = [window["features_alert"] for window in report.windows]
    assert alerts[:2] == [0, 0] and alerts[-1] > alerts[2]


def test_a_monitored_feature_missing_from_the_reference_is_named() -> None:
    params = shipped(DriftParams, reference_path="", incoming_dir="", model_path="", metrics_path="",
                         prediction_log="", output_dir="", features=["edad_cliente", "no_such_column"])
    with pytest.raises(ValueError, match=r"drift.features .*no_such_column"):
        run_drift(params, contract_loans(50, 16, "2025-12"), [])


def test_labelled_windows_carry_the_per_band_tests_with_their_lights(tmp_path: Path) -> None:
    """Each labelled window's bands get the validation pack's binomial and Jeffreys tests at the drift block's levels."""
    write_project(tmp_path)
    params = drift_params(tmp_path)
    reference = pd.read_parquet(tmp_path / "data" / "prepared" / "train.parquet")
    batches = sorted((tmp_path / "data" / "incoming").glob("loans_*.csv"))
    report = run_drift(params, reference, batches, tiny_model(reference), {"roc_auc": 0.70},
                       tmp_path / "data" / "monitoring" / "predictions.sqlite")
    by_label = {window["window"]: window for window in report.windows}
    for label in ("2026-05", "2026-07"):
        window = by_label[label]
        tests = window["band_tests"]
        assert [test["band"] for test in tests] == sorted(test["band"] for test in tests)
        assert {test["band"] for test in tests} <= {"A", "B", "C"}
        assert sum(test["rows"] for test in tests) == window["labelled_rows"]
        assert sum(test["defaults"] for test in tests) == window["defaults"]
        for test in tests:
            assert test["observed_rate"] == pytest.approx(test["defaults"] / test["rows"])
            assert test["binomial_pvalue"] == pytest.approx(
                binomial_test_pvalue(test["defaults"], test["rows"], test["mean_pd"]), rel=WRITTEN_P_REL)
            assert test["jeffreys_pvalue"] == pytest.approx(
                jeffreys_test_pvalue(test["defaults"], test["rows"], test["mean_pd"]), rel=WRITTEN_P_REL)
            for kind in ("binomial", "jeffreys"):
                assert test[f"{kind}_light"] == traffic_light(test[f"{kind}_pvalue"], params.band_test_yellow,
                                                              params.band_test_red)
    for label in ("2026-06", "2026-08", "log:2026-09"):
        assert "band_tests" not in by_label[label], "no labels, no band tests"
    assert report.summary["band_tests"] == {"yellow_below": params.band_test_yellow,
                                            "red_below": params.band_test_red}


def test_a_band_whose_pd_is_far_too_low_is_red_and_the_window_status_is_unchanged(tmp_path: Path) -> None:
    write_project(tmp_path)
    params = drift_params(tmp_path)
    reference = pd.read_parquet(tmp_path / "data" / "prepared" / "train.parquet")
    model = tiny_model(reference)
    frame = contract_loans(600, 3, "2026-05")
    pd_values = model.predict_pd(frame)
    in_a = model.band_of(pd_values) == "A"
    worse = frame.copy()
    worse.loc[in_a & (np.arange(len(frame)) % 5 == 0), TARGET] = 0.0  # a fifth of band A defaults, PD < 3 %
    tests = {test["band"]: test for test in window_band_tests(worse, pd_values, model, params.rules)["band_tests"]}
    assert tests["A"]["observed_rate"] >= 0.19
    assert (tests["A"]["binomial_light"], tests["A"]["jeffreys_light"]) == ("red", "red")
    assert window_band_tests(frame.assign(**{TARGET: np.nan}), pd_values, model, params.rules) == {}
    assert window_band_tests(frame, None, None, params.rules) == {}


def test_every_window_with_rows_carries_estimated_performance_and_labelled_ones_the_comparison(
        tmp_path: Path) -> None:
    write_project(tmp_path)
    params = drift_params(tmp_path)
    reference = pd.read_parquet(tmp_path / "data" / "prepared" / "train.parquet")
    batches = sorted((tmp_path / "data" / "incoming").glob("loans_*.csv"))
    model = tiny_model(reference)
    report = run_drift(params, reference, batches, model, {"roc_auc": 0.70},
                       tmp_path / "data" / "monitoring" / "predictions.sqlite")
    by_label = {window["window"]: window for window in report.windows}
    reference_auc = report.summary["reference_estimated_roc_auc"]
    assert 0.5 < reference_auc < 1
    for label in ("2026-05", "2026-07", "log:2026-09"):
        window = by_label[label]
        frame_pd = window["mean_pd"]
        assert window["estimated_default_rate"] == pytest.approx(frame_pd)
        assert window["estimated_default_rate_low"] <= frame_pd <= window["estimated_default_rate_high"]
        assert window["estimated_roc_auc_low"] <= window["estimated_roc_auc"] <= window["estimated_roc_auc_high"]
        assert window["delta_estimated_roc_auc"] == pytest.approx(window["estimated_roc_auc"] - reference_auc)
    for label in ("2026-05", "2026-07"):
        window = by_label[label]
        assert window["labelled_estimated_default_rate"] == pytest.approx(window["mean_pd_labelled"])
        within = (window["labelled_estimated_default_rate_low"] <= window["default_rate"]
                  <= window["labelled_estimated_default_rate_high"])
        assert window["default_rate_within_estimated_band"] is within
    assert "labelled_estimated_default_rate" not in by_label["log:2026-09"]
    assert "estimated_default_rate" not in by_label["2026-06"], "an empty window has nothing to estimate"
