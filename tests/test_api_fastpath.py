"""The numpy scoring path gives the fitted pipeline's PDs, and the API falls back to the pipeline
whenever it cannot prove that."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from app import create_app
from tests.shipped import shipped, REPO_ROOT
from creditrisk.serving import predlog
from creditrisk.modeling.bundle import ModelBundle, RiskBand
from creditrisk.serving.fastpath import matches_pipeline, probe_frame, verified_predictor, FastPredictor
from creditrisk.serving.scoring import batch_scorer, validate_batch
from creditrisk.modeling.features import default_target, raw_inputs, FeatureSet
from creditrisk.modeling.calibration import CalibratedModel, ScoreCalibrator
from creditrisk.modeling.recipe import build_model
from creditrisk.modeling.train_params import TrainParams
from creditrisk.modeling.training import decision_metadata
from creditrisk.modeling.scorecard import PointsScale
from creditrisk.data.contract import coerce_and_validate, DATE
from tests.loan_frames import make_loans
from tests.api_support import api_config, make_bundle, sample_frame, save_test_bundle

NUMERIC = ["capital_prestado", "plazo_meses", "edad_cliente", "salario_cliente", "puntaje_datacredito",
           "huella_consulta", "saldo_mora_codeudor", "promedio_ingresos_datacredito", "debt_to_income",
           "repayment_ratio", "has_arrears", "bureau_income_missing", "income_trend_missing", "loan_month"]
CATEGORICAL = ["tipo_credito", "tipo_laboral", "tendencia_ingresos", "loan_weekday"]
FEATURES = FeatureSet(numeric=NUMERIC, categorical=CATEGORICAL, raw_inputs=raw_inputs(NUMERIC + CATEGORICAL),
                      engineered=[], dropped={})
SMALL = {"logistic": {"C": 0.5}, "random_forest": {"n_estimators": 15, "max_depth": 4},
         "hist_gradient_boosting": {"max_iter": 15, "learning_rate": 0.1}}


@pytest.fixture(scope="module")
def loans() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = make_loans(900, seed=4)
    return frame.iloc[:700], frame.iloc[700:]


def trained_bundle(train: pd.DataFrame, model: str, calibration: str | None = "isotonic", ensemble: bool = False,
                   **settings: object) -> ModelBundle:
    """The other shape the numpy path accelerates: Pipeline(domain features -> CalibratedClassifierCV of the
    rest) on three shuffled folds, one calibrated pair per fold when `ensemble` (None: no calibration)."""
    params = shipped(TrainParams, seed=3, **settings)
    for name, block in SMALL.items():
        params = params.with_estimator(name, **block)
    inputs = train.reindex(columns=FEATURES.raw_inputs)
    y = default_target(train)
    pipeline = build_model(model, params, FEATURES)
    with threadpool_limits(limits=1):
        if calibration is None:
            pipeline.fit(inputs, y)
        else:
            domain, scorer = pipeline.steps[0][1], Pipeline(pipeline.steps[1:])
            calibrated = CalibratedClassifierCV(scorer, method=calibration, ensemble=ensemble,
                                                cv=StratifiedKFold(n_splits=3, shuffle=True, random_state=3))
            calibrated.fit(domain.fit(inputs).transform(inputs), y)
            pipeline = Pipeline([("domain", domain), ("calibrated", calibrated)])
    return ModelBundle(pipeline, 0.1, [RiskBand("A", 0.05), RiskBand("B", 1.0)], FEATURES.raw_inputs, {})


@pytest.mark.parametrize(("model", "settings"), [
    ("logistic", {"calibration": "isotonic", "ensemble": False}),
    ("logistic", {"calibration": "sigmoid", "ensemble": True, "scaler": "spline"}),
    ("hist_gradient_boosting", {"calibration": "isotonic", "ensemble": True, "scaler": "quantile"}),
    ("random_forest", {"calibration": "isotonic", "ensemble": False}),
    ("random_forest", {"calibration": None}),
])
def test_numpy_path_gives_the_pipeline_pds(loans, model: str, settings: dict[str, object]) -> None:
    train, test = loans
    bundle = trained_bundle(train, model, **settings)
    predictor = FastPredictor.build(bundle)
    assert predictor is not None
    # gradient boosting scores through lookup tables of its trees, the other estimators do not
    assert all((scorer.trees is not None) == (model == "hist_gradient_boosting") for scorer in predictor.scorers)
    with threadpool_limits(limits=1):
        for frame in (test, test.iloc[[3]], probe_frame(bundle), test.drop(columns=[DATE, "tendencia_ingresos"])):
            np.testing.assert_allclose(predictor.predict_pd(frame), bundle.predict_pd(frame), rtol=1e-12,
                                       atol=1e-15)
        assert verified_predictor(bundle)[1].startswith("numpy path")


@pytest.mark.parametrize(("model", "method"), [("random_forest", "sigmoid"), ("logistic", "isotonic"),
                                             ("hist_gradient_boosting", "sigmoid")])
def test_a_model_with_a_time_respecting_calibrator_takes_the_numpy_path_too(loans, model: str, method: str) -> None:
    """CalibratedModel(pipeline, ScoreCalibrator): the calibrator's own transform on the estimator's P(default),
    shift in the large included."""
    train, test = loans
    params = shipped(TrainParams, seed=3)
    for name, block in SMALL.items():
        params = params.with_estimator(name, **block)
    inputs, y = train.reindex(columns=FEATURES.raw_inputs), default_target(train)
    with threadpool_limits(limits=1):
        pipeline = build_model(model, params, FEATURES).fit(inputs, y)
        scores = pipeline.predict_proba(inputs)[:, 1]
    calibrator = ScoreCalibrator(method).fit(scores, y).set_mean(scores, 0.04)
    bundle = ModelBundle(CalibratedModel(pipeline, calibrator), 0.1, [RiskBand("A", 0.05), RiskBand("B", 1.0)],
                         FEATURES.raw_inputs, {})
    predictor, route = verified_predictor(bundle)
    assert predictor is not None and route.startswith("numpy path"), route
    with threadpool_limits(limits=1):
        for frame in (test, test.iloc[[3]], probe_frame(bundle)):
            np.testing.assert_allclose(predictor.predict_pd(frame), bundle.predict_pd(frame), rtol=1e-12,
                                       atol=1e-15)


def test_probe_rows_cover_unseen_and_missing_categories_and_numbers(loans) -> None:
    bundle = trained_bundle(loans[0], "logistic")
    probe = probe_frame(bundle)
    assert set(probe.columns) == set(bundle.features)
    for column in ("tipo_credito", "tipo_laboral", "tendencia_ingresos"):
        values = set(probe[column].dropna())
        assert {"never seen", "", " padded "} <= values and probe[column].isna().any()
    assert probe["capital_prestado"].isna().any() and (probe["capital_prestado"] == 0).any()
    assert probe[DATE].isna().any() and probe[DATE].dt.day_of_week.nunique() == 7


def test_a_predictor_that_differs_from_the_pipeline_is_not_used(loans) -> None:
    bundle = trained_bundle(loans[0], "logistic")
    predictor = FastPredictor.build(bundle)
    assert predictor is not None and matches_pipeline(predictor, bundle)
    scorer = predictor.scorers[0]
    numeric = scorer.preprocess.blocks[0]
    wrong_fill = replace(numeric, fill=numeric.fill * 3.0 + 1000.0)
    broken = replace(predictor, scorers=[replace(scorer, preprocess=replace(
        scorer.preprocess, blocks=[wrong_fill, *scorer.preprocess.blocks[1:]]))])
    assert not matches_pipeline(broken, bundle)


def test_pipelines_of_another_shape_keep_the_pipeline() -> None:
    bundle = make_bundle()  # ColumnTransformer -> logistic regression, no DomainFeatures step
    assert FastPredictor.build(bundle) is None
    predictor, how = verified_predictor(bundle)
    assert predictor is None and how.startswith("pipeline")


numbers = st.one_of(st.none(), st.floats(min_value=-1e6, max_value=1e9))
texts = st.one_of(st.none(), st.sampled_from(["4", "9", "10", "68", "Empleado", "Independiente", "Creciente",
                                             "Estable", " Decreciente ", "", "otro"]))


@settings(max_examples=60, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_rows_score_the_same_both_ways(loans, data: st.DataObject) -> None:
    bundle = _shared_bundle(loans)
    predictor = FastPredictor.build(bundle)
    rows = data.draw(st.integers(1, 5))
    frame = pd.DataFrame({
        name: (pd.array(data.draw(st.lists(texts, min_size=rows, max_size=rows)), dtype="string")
               if name in ("tipo_credito", "tipo_laboral", "tendencia_ingresos") else
               pd.to_datetime(data.draw(st.lists(st.datetimes(), min_size=rows, max_size=rows)))
               if name == DATE else
               np.array([np.nan if v is None else v for v in data.draw(st.lists(numbers, min_size=rows,
                                                                                  max_size=rows))]))
        for name in bundle.features
    })
    np.testing.assert_allclose(predictor.predict_pd(frame), bundle.predict_pd(frame), rtol=1e-12, atol=1e-15)


_BUNDLES: dict[str, ModelBundle] = {}


def _shared_bundle(loans: tuple[pd.DataFrame, pd.DataFrame]) -> ModelBundle:
    if "logistic" not in _BUNDLES:
        _BUNDLES["logistic"] = trained_bundle(loans[0], "logistic")
    return _BUNDLES["logistic"]


def test_the_api_scores_the_same_with_the_numpy_path_and_without(loans, tmp_path) -> None:
    """The numpy path is a route inside the batch scorer: same PDs, bands, warnings and log rows."""
    bundle = _shared_bundle(loans)
    assert batch_scorer(bundle).route.startswith("numpy path")
    assert batch_scorer(bundle, numpy_path=False).fast is None
    raw = sample_frame(30, seed=8).astype(object)
    raw.loc[3, "edad_cliente"] = 122
    raw.loc[5, "tendencia_ingresos"] = None
    raw.loc[7, "salario_cliente"] = "mucho"
    body = orjson.dumps(raw.where(raw.notna(), None).to_dict("records"))
    model = save_test_bundle(tmp_path, bundle)
    answers, logs = [], []
    for numpy_path in (True, False):
        log = tmp_path / f"log-{numpy_path}.sqlite"
        client = create_app(api_config(tmp_path, model, prediction_log=log, numpy_path=numpy_path)).test_client()
        response = client.post("/predict", data=body, content_type="application/json",
                               headers={"X-Request-Id": "same"})
        assert response.status_code == 200, response.get_data(as_text=True)
        answers.append(response.get_json())
        logs.append(predlog.read_log(log).drop(columns=["logged_at"]))
    with_numpy, without = answers
    np.testing.assert_allclose([p["pd"] for p in with_numpy["predictions"]],
                               [p["pd"] for p in without["predictions"]], rtol=1e-12, atol=1e-15)
    assert [{**p, "pd": None} for p in with_numpy["predictions"]] == [{**p, "pd": None} for p in without["predictions"]]
    pd.testing.assert_frame_equal(logs[0].drop(columns=["pd"]), logs[1].drop(columns=["pd"]))


def test_the_reasons_read_the_model_frame_the_numpy_path_scored(loans) -> None:
    """With the numpy path the PDs and the reasons share one model frame, and give what each route alone gives."""
    inputs, y = loans[0].reindex(columns=FEATURES.raw_inputs), default_target(loans[0])
    model = build_model("hist_gradient_boosting", shipped(TrainParams), FEATURES).fit(inputs, y)
    calibrated = CalibratedModel(model, ScoreCalibrator("sigmoid").fit(model.predict_proba(inputs)[:, 1], y))
    bundle = ModelBundle(calibrated, 0.1, [RiskBand("A", 0.05), RiskBand("B", 1.0)], FEATURES.raw_inputs,
                         decision_metadata(model, inputs, 4, PointsScale(600, 50, 20)))
    assert batch_scorer(bundle).route.startswith("numpy path")
    batch = validate_batch(sample_frame(40, seed=5))
    shared = batch_scorer(bundle).score(batch, reasons=True)
    alone = batch_scorer(bundle, numpy_path=False).score(batch, reasons=True)
    assert shared.model_frame is not None and alone.model_frame is None
    assert shared.reasons == alone.reasons and shared.reasons is not None and any(shared.reasons)
    np.testing.assert_allclose(shared.pds, alone.pds, rtol=1e-12, atol=1e-15)


def _imports_fastpath(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        names = ([alias.name for alias in node.names] if isinstance(node, ast.Import) else
                 [node.module or "", *(alias.name for alias in node.names)] if isinstance(node, ast.ImportFrom) else [])
        if any("fastpath" in name for name in names):
            return True
    return False


def test_nothing_outside_serving_uses_the_numpy_path() -> None:
    """The fast path is confined to creditrisk/serving/ (and its own tests), behind BatchScorer."""
    users = {path.relative_to(REPO_ROOT).as_posix()
             for folder in ("creditrisk", "app", "stages", "dashboard", "benchmarks")
             for path in (REPO_ROOT / folder).rglob("*.py") if _imports_fastpath(path)}
    assert users == {"creditrisk/serving/scoring.py"}


def test_extreme_but_valid_values_are_scored_not_a_500(loans, tmp_path) -> None:
    """A salary just above zero makes debt-to-income overflow: the ratio counts as missing, on both
    scoring paths and through the API (no model step accepts infinity)."""
    bundle = _shared_bundle(loans)
    rows = sample_frame(3, seed=9).astype(object)
    rows.loc[0, "salario_cliente"] = 1e-300
    rows.loc[1, ["salario_cliente", "cuota_pactada"]] = [1e-300, 1e300]
    rows.loc[2, "capital_prestado"] = 1e10
    frame = coerce_and_validate(rows, purpose="scoring").frame
    pds = bundle.predict_pd(frame)
    assert np.isfinite(pds).all()
    np.testing.assert_allclose(FastPredictor.build(bundle).predict_pd(frame), pds, rtol=1e-12, atol=1e-15)
    client = create_app(api_config(tmp_path, save_test_bundle(tmp_path, bundle))).test_client()
    response = client.post("/predict", data=orjson.dumps(rows.where(rows.notna(), None).to_dict("records")),
                           content_type="application/json")
    assert response.status_code == 200, response.get_data(as_text=True)
    np.testing.assert_allclose([p["pd"] for p in response.get_json()["predictions"]], pds, rtol=1e-12)
