"""The scoring engine's compiled path gives the fitted pipeline's PDs, one encoding of a batch serves the PDs
and the reasons, and the engine falls back to the pipeline whenever it cannot prove its numbers."""

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
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from app import create_app
from tests.shipped import shipped, REPO_ROOT
from creditrisk.serving import predlog
from creditrisk.modeling.bundle import ModelBundle, RiskBand
from creditrisk.modeling.engine import build_engine, Engine
from creditrisk.modeling.engine import compiled
from creditrisk.modeling.engine.compiled import matches_pipeline, probe_frame
from creditrisk.modeling.engine.encoding import CompiledPreprocessor
from creditrisk.modeling.engine.trees import AdditiveForm, LeafPaths
from creditrisk.io import file_digest
from creditrisk.serving.batch import read_scores, run_in_process, score_dataset, worker_scorer
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
BANDS = [RiskBand("A", 0.05), RiskBand("B", 1.0)]


@pytest.fixture(scope="module")
def loans() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = make_loans(900, seed=4)
    return frame.iloc[:700], frame.iloc[700:]


def fitted_pipeline(train: pd.DataFrame, model: str, **settings: object) -> Pipeline:
    """The train stage's recipe for `model` (DomainFeatures -> preprocessor -> estimator), fitted, one thread."""
    params = shipped(TrainParams, seed=3, **settings)
    for name, block in SMALL.items():
        params = params.with_estimator(name, **block)
    inputs = train.reindex(columns=FEATURES.raw_inputs)
    with threadpool_limits(limits=1):
        return build_model(model, params, FEATURES).fit(inputs, default_target(train))


def calibrated_bundle(train: pd.DataFrame, model: str, method: str = "sigmoid", reasons: bool = False,
                      **settings: object) -> ModelBundle:
    """What the train stage ships: the fitted pipeline and a time-respecting calibrator (shift in the large
    included), with the reasons' reference applicant when `reasons`."""
    pipeline = fitted_pipeline(train, model, **settings)
    inputs, y = train.reindex(columns=FEATURES.raw_inputs), default_target(train)
    with threadpool_limits(limits=1):
        scores = pipeline.predict_proba(inputs)[:, 1]
    calibrator = ScoreCalibrator(method).fit(scores, y).set_mean(scores, 0.04)
    metadata = decision_metadata(pipeline, inputs, 4, PointsScale(600, 50, 20)) if reasons else {}
    return ModelBundle(CalibratedModel(pipeline, calibrator), 0.1, BANDS, FEATURES.raw_inputs, metadata)


@pytest.fixture(scope="module")
def shared_bundle(loans) -> ModelBundle:
    """A calibrated logistic regression with its reasons' reference applicant."""
    return calibrated_bundle(loans[0], "logistic", "isotonic", reasons=True)


@pytest.fixture(scope="module")
def shared_engine(shared_bundle: ModelBundle) -> Engine:
    return build_engine(shared_bundle)


def assert_same_pds(engine: Engine, bundle: ModelBundle, frames: list[pd.DataFrame]) -> None:
    with threadpool_limits(limits=1):
        for frame in frames:
            np.testing.assert_allclose(engine.predict_pd(frame), bundle.predict_pd(frame), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("model", "settings"), [
    ("logistic", {"scaler": "standard"}),
    ("logistic", {"scaler": "spline", "monotone": False}),  # the spline basis carries no direction
    ("hist_gradient_boosting", {"scaler": "quantile"}),
    ("random_forest", {"scaler": "standard"}),
])
def test_the_compiled_path_gives_the_uncalibrated_pipelines_pds(loans, model: str, settings: dict[str, object]) -> None:
    train, test = loans
    bundle = ModelBundle(fitted_pipeline(train, model, **settings), 0.1, BANDS, FEATURES.raw_inputs, {})
    engine = build_engine(bundle)
    assert engine.route.startswith("numpy path") and engine.scorer is not None, engine.route
    # gradient boosting scores through lookup tables of its trees, the other estimators do not
    assert (engine.scorer.trees is not None) == (model == "hist_gradient_boosting")
    assert_same_pds(engine, bundle, [test, test.iloc[[3]], probe_frame(bundle),
                                     test.drop(columns=[DATE, "tendencia_ingresos"])])


@pytest.mark.parametrize(("model", "method"), [("random_forest", "sigmoid"), ("logistic", "isotonic"),
                                             ("hist_gradient_boosting", "sigmoid")])
def test_a_model_with_a_time_respecting_calibrator_takes_the_compiled_path_too(loans, model: str, method: str) -> None:
    """CalibratedModel(pipeline, ScoreCalibrator): the calibrator's own transform on the estimator's P(default),
    shift in the large included."""
    train, test = loans
    bundle = calibrated_bundle(train, model, method)
    engine = build_engine(bundle)
    assert engine.route.startswith("numpy path"), engine.route
    assert_same_pds(engine, bundle, [test, test.iloc[[3]], probe_frame(bundle)])


def test_probe_rows_cover_unseen_and_missing_categories_and_numbers(shared_bundle: ModelBundle) -> None:
    bundle = shared_bundle
    probe = probe_frame(bundle)
    assert set(probe.columns) == set(bundle.features)
    for column in ("tipo_credito", "tipo_laboral", "tendencia_ingresos"):
        values = set(probe[column].dropna())
        assert {"never seen", "", " padded "} <= values and probe[column].isna().any()
    assert probe["capital_prestado"].isna().any() and (probe["capital_prestado"] == 0).any()
    assert probe[DATE].isna().any() and probe[DATE].dt.day_of_week.nunique() == 7


def test_a_compiled_encoder_that_differs_from_the_pipeline_is_not_used(shared_engine: Engine) -> None:
    engine = shared_engine
    assert engine.encoder is not None and matches_pipeline(engine)
    numeric = engine.encoder.blocks[0]
    wrong_fill = replace(numeric, fill=numeric.fill * 3.0 + 1000.0)
    broken = replace(engine, encoder=CompiledPreprocessor([wrong_fill, *engine.encoder.blocks[1:]]))
    assert not matches_pipeline(broken)


def test_pipelines_the_engine_does_not_compile_are_scored_by_the_pipeline(loans) -> None:
    """A sparse one-hot encoder, and a scikit-learn calibration wrapper around the whole model: the
    pipeline scores them, unchanged."""
    sparse = make_bundle()  # DomainFeatures -> ColumnTransformer (sparse one-hot) -> logistic regression
    engine = build_engine(sparse)
    assert engine.scorer is None and engine.route.startswith("pipeline"), engine.route
    frame = coerce_and_validate(sample_frame(20, seed=3), purpose="scoring").frame
    np.testing.assert_array_equal(engine.predict_pd(frame), sparse.predict_pd(frame))
    train, test = loans
    wrapped = CalibratedClassifierCV(build_model("logistic", shipped(TrainParams), FEATURES), cv=3)
    wrapped.fit(train.reindex(columns=FEATURES.raw_inputs), default_target(train))
    bundle = ModelBundle(wrapped, 0.1, BANDS, FEATURES.raw_inputs, {})
    engine = build_engine(bundle)
    assert engine.parts is None and engine.explainer is None and engine.route.startswith("pipeline")
    np.testing.assert_array_equal(engine.predict_pd(test), bundle.predict_pd(test))


def _misread(form: AdditiveForm | None) -> AdditiveForm | None:
    """What a scikit-learn release that kept the private fields' names but changed their meaning would
    make the reading give: trees whose leaf values are slightly off."""
    if form is None or form.leaves is None:
        return form
    leaves = form.leaves
    return replace(form, leaves=LeafPaths(leaves.feature, leaves.lower, leaves.upper, leaves.missing_follows,
                                          leaves.valid, leaves.value * 1.001, leaves.tree))


def test_a_misread_boosting_falls_back_to_the_pipeline_and_refuses_reasons(loans, monkeypatch, tmp_path) -> None:
    """When the private fields read at load no longer mean what they did, the checks at load fail: PDs come
    from the pipeline, bit for bit, and the API refuses reasons instead of giving wrong ones."""
    train, test = loans
    bundle = calibrated_bundle(train, "hist_gradient_boosting", reasons=True)
    assert build_engine(bundle).explainer is not None
    read = compiled.additive_form
    monkeypatch.setattr(compiled, "additive_form", lambda estimator: _misread(read(estimator)))
    engine = build_engine(bundle)
    assert engine.route == "pipeline (the numpy path differed from it on probe rows)"
    assert engine.scorer is None and engine.explainer is None
    np.testing.assert_array_equal(engine.predict_pd(test), bundle.predict_pd(test))
    client = create_app(api_config(tmp_path, save_test_bundle(tmp_path, bundle))).test_client()
    body = orjson.dumps(sample_frame(5, seed=2).to_dict("records"))
    assert client.post("/predict", data=body, content_type="application/json",
                       query_string={"reasons": "true"}).status_code == 501
    answer = client.post("/predict", data=body, content_type="application/json")
    assert answer.status_code == 200 and all("reasons" not in row for row in answer.get_json()["predictions"])


def test_a_boosting_whose_trees_cannot_be_read_keeps_the_compiled_preprocessor(loans, monkeypatch) -> None:
    """Private fields that are gone make the reading give None: the estimator's public predict_proba scores
    the compiled preprocessor's matrix, and there are no reasons."""
    train, test = loans
    bundle = calibrated_bundle(train, "hist_gradient_boosting", reasons=True)
    monkeypatch.setattr(compiled, "additive_form", lambda estimator: None)
    engine = build_engine(bundle)
    assert engine.route.startswith("numpy path") and engine.scorer is not None and engine.scorer.trees is None
    assert engine.explainer is None
    assert_same_pds(engine, bundle, [test, test.iloc[[3]]])


numbers = st.one_of(st.none(), st.floats(min_value=-1e6, max_value=1e9))
texts = st.one_of(st.none(), st.sampled_from(["4", "9", "10", "68", "Empleado", "Independiente", "Creciente",
                                             "Estable", " Decreciente ", "", "otro"]))


@settings(max_examples=60, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_rows_score_the_same_both_ways(shared_bundle: ModelBundle, shared_engine: Engine,
                                          data: st.DataObject) -> None:
    bundle, engine = shared_bundle, shared_engine
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
    np.testing.assert_allclose(engine.predict_pd(frame), bundle.predict_pd(frame), rtol=1e-12, atol=1e-15)


def test_the_api_scores_the_same_with_the_compiled_path_and_without(shared_bundle: ModelBundle, tmp_path) -> None:
    """The compiled path is a route inside the engine: same PDs, bands, reasons, warnings and log rows."""
    bundle = shared_bundle
    assert batch_scorer(bundle).route.startswith("numpy path")
    assert batch_scorer(bundle, numpy_path=False).engine.scorer is None
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
    assert any(p["reasons"] for p in with_numpy["predictions"])
    np.testing.assert_allclose([p["pd"] for p in with_numpy["predictions"]],
                               [p["pd"] for p in without["predictions"]], rtol=1e-12, atol=1e-15)
    assert [{**p, "pd": None} for p in with_numpy["predictions"]] == [{**p, "pd": None} for p in without["predictions"]]
    pd.testing.assert_frame_equal(logs[0].drop(columns=["pd"]), logs[1].drop(columns=["pd"]))


def test_one_encoding_of_a_batch_serves_the_pds_and_the_reasons(loans, monkeypatch) -> None:
    """With reasons, a batch's model frame and estimator input are built once, and PDs and reasons equal what
    the pipeline route gives."""
    bundle = calibrated_bundle(loans[0], "hist_gradient_boosting", reasons=True)
    scorer = batch_scorer(bundle)
    assert scorer.route.startswith("numpy path") and scorer.explainer is not None
    encodings = []
    encode = CompiledPreprocessor.transform
    monkeypatch.setattr(CompiledPreprocessor, "transform",
                        lambda self, model_frame: encodings.append(len(model_frame)) or encode(self, model_frame))
    batch = validate_batch(sample_frame(40, seed=5))
    shared = scorer.score(batch)
    scorer.explain(batch, shared)  # the API's order: PDs first, then the reasons on request
    assert encodings == [40]
    alone = batch_scorer(bundle, numpy_path=False).score(batch, reasons=True)
    assert shared.reasons == alone.reasons and shared.reasons is not None and any(shared.reasons)
    np.testing.assert_allclose(shared.pds, alone.pds, rtol=1e-12, atol=1e-15)


def test_batch_scoring_encodes_each_partition_once(loans, monkeypatch, tmp_path) -> None:
    """A partition of a batch job is encoded once for its PDs and its reasons' codes."""
    model = save_test_bundle(tmp_path, calibrated_bundle(loans[0], "hist_gradient_boosting", reasons=True))
    sample_frame(60, seed=6).to_parquet(tmp_path / "rows.parquet", row_group_size=20)  # three partitions
    assert worker_scorer(str(model.resolve()), file_digest(model), True).route.startswith("numpy path")  # loaded
    encodings = []
    encode = CompiledPreprocessor.transform
    monkeypatch.setattr(CompiledPreprocessor, "transform",
                        lambda self, model_frame: encodings.append(len(model_frame)) or encode(self, model_frame))
    score_dataset(tmp_path / "rows.parquet", tmp_path / "scored", model, run_in_process, "pandas", reasons=True)
    assert encodings == [20, 20, 20]
    assert (read_scores(tmp_path / "scored")["reason_codes"].str.len() > 0).any()


def _imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


PRIVATE_SKLEARN_FIELDS = {"_predictors", "_baseline_prediction", "_CalibratedClassifier", "_SigmoidCalibration"}


def _names_used(path: Path) -> set[str]:
    """Attribute names, names and whole string constants (as in `getattr(model, "_predictors")`) in the code."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)
    return found


def test_the_engine_is_used_through_its_package_and_reads_private_fields_in_one_module() -> None:
    """Outside `creditrisk/modeling/engine/` the project imports the engine's package, never its modules; and
    the scikit-learn fields that are not public are read in one module of it."""
    engine = REPO_ROOT / "creditrisk" / "modeling" / "engine"
    outside = [path for folder in ("creditrisk", "app", "stages", "dashboard", "benchmarks")
               for path in (REPO_ROOT / folder).rglob("*.py") if engine not in path.parents]
    reaching_in = {path.relative_to(REPO_ROOT).as_posix(): sorted(name for name in _imported_modules(path)
                                                                  if name.startswith("creditrisk.modeling.engine."))
                   for path in outside}
    assert {path: names for path, names in reaching_in.items() if names} == {}
    readers = {path.relative_to(REPO_ROOT).as_posix() for path in (REPO_ROOT / "creditrisk").rglob("*.py")
               if _names_used(path) & PRIVATE_SKLEARN_FIELDS}
    assert readers == {"creditrisk/modeling/engine/trees.py"}


def test_extreme_but_valid_values_are_scored_not_a_500(shared_bundle: ModelBundle, shared_engine: Engine,
                                                       tmp_path) -> None:
    """A salary just above zero makes debt-to-income overflow: the ratio counts as missing, on both
    scoring paths and through the API (no model step accepts infinity)."""
    bundle = shared_bundle
    rows = sample_frame(3, seed=9).astype(object)
    rows.loc[0, "salario_cliente"] = 1e-300
    rows.loc[1, ["salario_cliente", "cuota_pactada"]] = [1e-300, 1e300]
    rows.loc[2, "capital_prestado"] = 1e10
    frame = coerce_and_validate(rows, purpose="scoring").frame
    pds = bundle.predict_pd(frame)
    assert np.isfinite(pds).all()
    np.testing.assert_allclose(shared_engine.predict_pd(frame), pds, rtol=1e-12, atol=1e-15)
    client = create_app(api_config(tmp_path, save_test_bundle(tmp_path, bundle))).test_client()
    response = client.post("/predict", data=orjson.dumps(rows.where(rows.notna(), None).to_dict("records")),
                           content_type="application/json")
    assert response.status_code == 200, response.get_data(as_text=True)
    np.testing.assert_allclose([p["pd"] for p in response.get_json()["predictions"]], pds, rtol=1e-12)
