"""Candidates, CV comparison, calibration, the saved artifact, and the checks a risk model must pass."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

from tests.shipped import shipped
from creditrisk.modeling.bundle import (
    load_bundle,
    save_bundle,
    trusted_module_prefixes,
    ArtifactError,
    ModelBundle,
    RiskBand,
    PIPELINE_MODULES,
)
from creditrisk.modeling.bands import band_table
from creditrisk.modeling.candidates import Candidate, EstimatorParams, CANDIDATES
from creditrisk.modeling.features import candidate_columns, default_target, FeaturizeParams
from creditrisk.modeling.leakage import feature_set, guard_config, screen_leakage
from creditrisk.modeling.calibration import CalibratedModel, ScoreCalibrator
from creditrisk.modeling.recipe import build_model
from creditrisk.modeling.selection import comparison_table, cross_validate_candidate, select_best, stratified_folds
from creditrisk.modeling.train_params import TrainParams
from creditrisk.modeling.training import train_bundle
from creditrisk.data.contract import FEATURE_COLUMNS
from tests.loan_frames import make_loans, split_out_of_time

FAST = {"logistic": {"C": 0.5}, "random_forest": {"n_estimators": 30, "max_depth": 4},
        "hist_gradient_boosting": {"max_iter": 40, "learning_rate": 0.1}}


def small_params(**changes) -> TrainParams:
    """Shipped params with fewer folds and smaller models; a candidate's name as a key changes its block."""
    estimators = {**FAST, **{name: changes.pop(name) for name in list(changes) if name in CANDIDATES}}
    settings = dict(version="test", candidates=["logistic", "hist_gradient_boosting"], cv_folds=3,
                    forward_folds=3, seed=5)
    params = shipped(TrainParams, **{**settings, **changes})
    for name, block in estimators.items():
        params = params.with_estimator(name, **block)
    return params


@pytest.fixture(scope="module")
def split() -> tuple[pd.DataFrame, pd.DataFrame]:
    return split_out_of_time(make_loans(3000, seed=21), test_fraction=0.25)


@pytest.fixture(scope="module")
def features(split):
    train, _ = split
    report = screen_leakage(train, default_target(train), candidate_columns(train, engineered=True),
                            guard_config(shipped(FeaturizeParams, seed=1)))
    return feature_set(report)


@pytest.fixture(scope="module")
def trained(split, features):
    train, _ = split
    return train_bundle(train, default_target(train), features, small_params())


def test_every_candidate_builds_one_pipeline_that_scores_raw_columns(split, features):
    train, test = split
    y = default_target(train)
    for name in CANDIDATES:
        model = build_model(name, small_params(), features)
        second = "binning" if CANDIDATES[name].reads_model_frame else "preprocess"
        assert [step for step, _ in model.steps] == ["domain", second, "model"]
        with threadpool_limits(limits=1):
            model.fit(train[features.raw_inputs], y)
            proba = model.predict_proba(test)[:, 1]  # extra columns (target, puntaje) are ignored
        assert proba.shape == (len(test),) and np.all((proba >= 0) & (proba <= 1))


def test_unknown_candidate_and_bad_hyperparameter_name_the_params_key(features):
    with pytest.raises(ValueError, match="train.candidates"):
        small_params(candidates=["svm"])
    with pytest.raises(ValueError, match=r"block 'train.estimators.logistic' has unknown key\(s\) \['Cee'\]"):
        small_params(logistic={"Cee": 1.0})
    with pytest.raises(ValueError, match=r"train.estimators.logistic.C = -1.0 must be > 0"):
        small_params(logistic={"C": -1.0})
    estimators = shipped(TrainParams).estimators
    with pytest.raises(ValueError, match=r"block 'train.estimators.random_forest' needs key 'max_depth'"):
        shipped(TrainParams, estimators={**estimators, "random_forest": {"n_estimators": 10}})
    with pytest.raises(ValueError, match=r"train.estimators.svm: no such candidate"):
        shipped(TrainParams, estimators={**estimators, "svm": {}})
    with pytest.raises(ValueError, match=r"train.candidates = \['logistic', 'random_forest'\] must be"):
        shipped(TrainParams, candidates=["logistic", "random_forest"],
                estimators={"logistic": estimators["logistic"]})
    with pytest.raises(ValueError, match="train.band_names"):
        small_params(band_names=["A", "B"])
    with pytest.raises(ValueError, match="strictly increasing"):
        small_params(band_cut_points=[0.2, 0.1])


def test_folds_are_shuffled_and_stratified():
    y = np.array([0] * 90 + [1] * 10)  # sorted by target, like a real export's tail
    for _, held in stratified_folds(5, seed=0).split(np.zeros(len(y)), y):
        assert y[held].sum() == 2
        assert not np.array_equal(held, np.arange(held[0], held[0] + len(held)))


def test_comparison_table_has_mean_and_std_per_metric(trained):
    table = trained.comparison
    assert list(table["model"]) == ["logistic", "logistic", "hist_gradient_boosting", "hist_gradient_boosting"]
    assert list(table["monotone"]) == [True, False, True, False]  # the shipped train.monotone first, competing
    assert not table.loc[~table["monotone"], "competes"].any()
    table = table[table["competes"]]
    for metric in ("roc_auc", "pr_auc", "ks", "brier", "log_loss", "f1"):
        assert {f"{metric}_mean", f"{metric}_std"} <= set(table.columns)
    assert (table["folds"] == 3).all()
    assert (table["roc_auc_std"] > 0).all()
    assert np.isfinite(trained.oof_pd[validated(trained)]).all()
    best = select_best(table, "roc_auc")
    assert trained.bundle.metadata["model"] == best
    assert table.loc[table["model"] == best, "roc_auc_mean"].item() == table["roc_auc_mean"].max()
    lowest_brier = select_best(table, "brier")
    assert table.loc[table["model"] == lowest_brier, "brier_mean"].item() == table["brier_mean"].min()


def test_cross_validation_predicts_every_row_once(split, features):
    train, _ = split
    y = default_target(train)
    result = cross_validate_candidate("logistic", small_params(), features, train[features.raw_inputs], y)
    assert len(result.fold_metrics) == 3
    assert not np.isnan(result.oof_pd).any()
    assert comparison_table([result])["model"].tolist() == ["logistic"]


def test_model_beats_a_constant_on_the_out_of_time_split(trained, split):
    train, test = split
    y_test = default_target(test)
    proba = trained.bundle.predict_pd(test)
    assert roc_auc_score(y_test, proba) > 0.62
    constant = np.full(len(y_test), default_target(train).mean())
    assert np.mean((proba - y_test) ** 2) < np.mean((constant - y_test) ** 2)


def test_calibrated_pd_mean_is_close_to_the_default_rate(trained, split):
    train, test = split
    y_train, y_test = default_target(train), default_target(test)
    rows = validated(trained)
    assert trained.oof_pd[rows].mean() == pytest.approx(y_train[rows].mean(), abs=0.01)
    assert trained.bundle.predict_pd(test).mean() == pytest.approx(y_test.mean(), abs=0.025)


def test_baseline_configuration_is_raw_columns_and_an_uncalibrated_logistic(split):
    """v1.0.0 by params only: no engineered features, logistic, no calibration (guard still on)."""
    train, _ = split
    y = default_target(train)
    report = screen_leakage(train, y, candidate_columns(train, engineered=False),
                            guard_config(shipped(FeaturizeParams, seed=1)))
    baseline = train_bundle(train, y, feature_set(report), small_params(candidates=["logistic"], calibration="none",
                                                                       calibration_in_the_large="off"))
    assert baseline.bundle.metadata["engineered_features"] == []
    assert set(baseline.bundle.features) <= set(FEATURE_COLUMNS)
    assert isinstance(baseline.bundle.pipeline.model.steps[-1][1], LogisticRegression)
    # class weights without calibration: PDs far above the default rate, which calibration fixes
    assert np.nanmean(baseline.oof_pd) > 3 * y.mean()


def test_bands_are_monotonic_on_train(trained, split):
    train, _ = split
    rows = validated(trained)
    table = band_table(trained.bundle.bands, trained.oof_pd[rows], default_target(train)[rows])
    assert table["default_rate"].is_monotonic_increasing
    assert table["rows"].min() > 0
    assert trained.bundle.bands[-1].upper_pd == 1.0


def test_bundle_records_features_leaks_and_cv(trained, features):
    bundle = trained.bundle
    assert bundle.features == [name for name in features.raw_inputs if name in bundle.features]
    assert "puntaje" not in bundle.features
    assert set(bundle.metadata["dropped_leaks"]) == {"puntaje", "internal_to_bureau_score"}
    assert bundle.metadata["version"] == "test"
    assert bundle.metadata["model"] in ("logistic", "hist_gradient_boosting")
    assert len(bundle.metadata["cv"]) == 4  # each candidate constrained and not
    assert 0 < bundle.threshold < 1


def test_saved_artifact_loads_with_trusted_types_only_and_scores_the_same(trained, split, tmp_path: Path):
    _, test = split
    path = tmp_path / "model.skops"
    save_bundle(trained.bundle, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert all(name.startswith(trusted_module_prefixes()) for name in untrusted)
    assert "creditrisk.modeling.features.DomainFeatures" in untrusted
    loaded = load_bundle(path)
    np.testing.assert_array_equal(loaded.predict_pd(test), trained.bundle.predict_pd(test))
    assert loaded.bands == trained.bundle.bands and loaded.threshold == trained.bundle.threshold


def test_tampered_artifact_is_refused(trained, tmp_path: Path):
    path = tmp_path / "model.skops"
    save_bundle(trained.bundle, path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="changed after it was saved"):
        load_bundle(path)


# ------------------------------------------------------------ the candidate registry


@dataclass(frozen=True)
class TreeParams(EstimatorParams):
    """A candidate the project does not ship, to show what adding one takes."""

    BLOCK: ClassVar[str] = "train.estimators.tree"
    max_depth: int
    min_samples_leaf: int
    class_weight: str | None


def _tree(block: TreeParams, seed: int, monotone: object) -> DecisionTreeClassifier:
    return DecisionTreeClassifier(random_state=seed, **asdict(block))  # one form: without constraints


def test_a_candidate_is_one_registry_entry_plus_one_params_block(split, features, monkeypatch, tmp_path: Path):
    monkeypatch.setitem(CANDIDATES, "tree", Candidate("tree", TreeParams, _tree, ("sklearn.tree.",), "Decision tree"))
    block = {"max_depth": 3, "min_samples_leaf": 50, "class_weight": "balanced"}
    base = small_params()
    params = replace(base, candidates=["logistic", "tree"], estimators={**base.estimators, "tree": block})
    train, test = split
    result = train_bundle(train, default_target(train), features, params)
    assert result.comparison["model"].tolist() == ["logistic", "logistic", "tree"]
    assert result.comparison["monotone"].tolist() == [True, False, False]
    path = tmp_path / "model.skops"
    save_bundle(result.bundle, path)
    np.testing.assert_array_equal(load_bundle(path).predict_pd(test), result.bundle.predict_pd(test))


def _tiny_bundle(name: str, split, features) -> ModelBundle:
    train = split[0].iloc[:800]
    y = default_target(train)
    with threadpool_limits(limits=1):
        model = build_model(name, small_params(), features).fit(train[features.raw_inputs], y)
        calibrator = ScoreCalibrator("sigmoid").fit(model.predict_proba(train[features.raw_inputs])[:, 1], y)
    return ModelBundle(CalibratedModel(model, calibrator), 0.1, [RiskBand("A", 0.05), RiskBand("B", 1.0)],
                       features.raw_inputs, {})


@pytest.mark.parametrize("name", list(CANDIDATES))
def test_each_candidate_names_the_modules_its_saved_types_come_from(name, split, features, monkeypatch,
                                                                    tmp_path: Path):
    """A saved model holds types from the pipeline's trusted modules and its candidate's own; a registry
    entry that forgot its own gets the file refused at load."""
    path = tmp_path / "model.skops"
    save_bundle(_tiny_bundle(name, split, features), path)
    allowed = PIPELINE_MODULES + CANDIDATES[name].trusted_modules
    assert all(type_name.startswith(allowed) for type_name in sio.get_untrusted_types(file=path))
    load_bundle(path)
    if CANDIDATES[name].trusted_modules:
        monkeypatch.setitem(CANDIDATES, name, replace(CANDIDATES[name], trusted_modules=()))
        with pytest.raises(ArtifactError, match="outside the allowed modules"):
            load_bundle(path)


# ------------------------------------------------------------ behaviour a risk model must show


def test_pd_is_a_probability_and_identical_rows_score_identically(trained, split):
    _, test = split
    row = test.iloc[[0]]
    copies = pd.concat([row] * 5, ignore_index=True)
    proba = trained.bundle.predict_pd(pd.concat([test, copies], ignore_index=True))
    assert np.all((proba >= 0) & (proba <= 1))
    assert np.unique(proba[-5:]).size == 1


def test_scores_do_not_depend_on_row_order_or_batch(trained, split):
    _, test = split
    whole = trained.bundle.predict_pd(test)
    shuffled = test.sample(frac=1.0, random_state=0)
    np.testing.assert_allclose(trained.bundle.predict_pd(shuffled), whole[shuffled.index.to_numpy()])
    np.testing.assert_allclose(trained.bundle.predict_pd(test.iloc[:7]), whole[:7])


def test_more_bureau_inquiries_do_not_lower_pd_by_much(trained, split):
    _, test = split
    base = test.copy()
    more = test.copy()
    more["huella_consulta"] = base["huella_consulta"] + 5
    delta = trained.bundle.predict_pd(more) - trained.bundle.predict_pd(base)
    assert delta.mean() >= 0
    assert np.quantile(delta, 0.05) > -0.02


def test_scoring_tolerates_missing_optional_columns(trained, split):
    """The API may send only required columns: absent optional ones count as missing."""
    _, test = split
    sparse = test.drop(columns=["promedio_ingresos_datacredito", "tendencia_ingresos", "fecha_prestamo"])
    proba = trained.bundle.predict_pd(sparse)
    assert np.isfinite(proba).all()


def test_training_is_reproducible(split, features):
    """Same data and params, same model: comparison table and PDs identical (liblinear is seeded)."""
    train, test = split
    y = default_target(train)
    params = small_params(candidates=["logistic"], calibration="sigmoid",
                          logistic={"C": 0.05, "l1_ratio": 1.0, "solver": "liblinear"})
    first, second = (train_bundle(train, y, features, params) for _ in range(2))
    pd.testing.assert_frame_equal(first.comparison, second.comparison)
    np.testing.assert_array_equal(first.bundle.predict_pd(test), second.bundle.predict_pd(test))


def validated(result) -> np.ndarray:
    """Rows the forward CV validated (the others have no out-of-fold PD)."""
    return np.flatnonzero(np.isfinite(result.oof_pd))
