"""The leakage guard flags leaks of every shape, raw or engineered, and keeps honest columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.shipped import shipped
from creditrisk.modeling.features import candidate_columns, default_target
from creditrisk.modeling.leakage import folded_auc, screen_leakage, separates_perfectly, GuardConfig
from creditrisk.data.prepare import split_out_of_time
from creditrisk.data.contract import coerce_and_validate
from creditrisk.data.synthetic import generate_history, GenerateParams
from tests.loan_frames import make_loans

CONFIG = GuardConfig(threshold=0.98, folds=5, tree_depth=3, min_class_rows=5, seed=7, drop=())


@pytest.fixture(scope="module")
def loans() -> pd.DataFrame:
    return make_loans(3000, seed=11)


def _with_column(loans: pd.DataFrame, name: str, values: np.ndarray) -> pd.DataFrame:
    frame = loans.copy()
    frame[name] = values
    return frame


def test_puntaje_and_its_ratio_are_dropped_and_nothing_else(loans):
    y = default_target(loans)
    report = screen_leakage(loans, y, candidate_columns(loans, engineered=True), CONFIG)
    assert set(report.dropped) == {"puntaje", "internal_to_bureau_score"}
    ratio = next(c for c in report.columns if c.column == "internal_to_bureau_score")
    assert ratio.rank_auc >= 0.98  # caught on its own scores, not only through its parent
    puntaje = next(c for c in report.columns if c.column == "puntaje")
    assert puntaje.separates_perfectly and puntaje.rank_auc == 1.0
    assert all(c.rank_auc < 0.8 for c in report.columns if not c.dropped)
    payload = report.to_dict()
    assert set(payload["dropped"]) == {"puntaje", "internal_to_bureau_score"}
    assert "puntaje" not in payload["kept"]


def test_on_the_sample_export_the_guard_drops_puntaje_and_its_ratio_only():
    """The project's own sample (quirks and all), prepared as the pipeline does, screened on its train split."""
    export = generate_history(shipped(GenerateParams, rows=4000, seed=3))
    prepared = coerce_and_validate(export).frame
    train = split_out_of_time(prepared, test_fraction=0.2).train
    report = screen_leakage(train, default_target(train), candidate_columns(train, engineered=True), CONFIG)
    assert set(report.dropped) == {"puntaje", "internal_to_bureau_score"}
    reasons = report.to_dict()["dropped"]["internal_to_bureau_score"]
    assert any(reason.startswith("rank_auc") for reason in reasons)  # caught on its own scores too


def test_a_column_built_to_leak_is_flagged(loans):
    y = default_target(loans)
    noise = np.random.default_rng(1).normal(0, 0.05, len(y))
    frame = _with_column(loans, "collections_flag", y + noise)
    report = screen_leakage(frame, y, ["collections_flag", "edad_cliente"], CONFIG)
    assert report.dropped == ["collections_flag"]


def test_a_non_monotonic_leak_is_caught_by_the_tree_check(loans):
    y = default_target(loans)
    rng = np.random.default_rng(2)
    # defaults sit at BOTH extremes, payers in the middle: rank AUC ~0.5, a tree separates them
    side = rng.choice([-1.0, 1.0], len(y))
    values = np.where(y == 1, side * rng.uniform(2, 3, len(y)), rng.uniform(-1, 1, len(y)))
    frame = _with_column(loans, "days_since_review", values)
    screen = screen_leakage(frame, y, ["days_since_review"], CONFIG).columns[0]
    assert screen.rank_auc < 0.7
    assert screen.tree_oof_auc >= 0.98
    assert screen.dropped and any("tree_oof_auc" in reason for reason in screen.reasons)


def test_a_leaky_ratio_is_flagged_even_without_its_parent(loans):
    y = default_target(loans)
    frame = loans.drop(columns="puntaje")
    frame["score_over_bureau"] = loans["puntaje"] / loans["puntaje_datacredito"]
    report = screen_leakage(frame, y, ["score_over_bureau", "puntaje_datacredito"], CONFIG)
    assert report.dropped == ["score_over_bureau"]


def test_missingness_that_leaks_is_flagged(loans):
    y = default_target(loans)
    values = np.where(y == 1, np.nan, np.random.default_rng(3).normal(size=len(y)))
    screen = screen_leakage(_with_column(loans, "recovery_amount", values), y, ["recovery_amount"],
                            CONFIG).columns[0]
    assert screen.missing_indicator_auc == 1.0 and screen.dropped


def test_a_leaky_category_is_flagged(loans):
    y = default_target(loans)
    frame = _with_column(loans, "tipo_laboral", pd.Series(np.where(y == 1, "Castigado", "Empleado"),
                                                          dtype="string"))
    screen = screen_leakage(frame, y, ["tipo_laboral"], CONFIG).columns[0]
    assert screen.kind == "category" and screen.dropped


def test_explicit_drop_list_and_derived_columns(loans):
    y = default_target(loans)
    config = GuardConfig(**{**CONFIG.__dict__, "drop": ("salario_cliente",)})
    report = screen_leakage(loans, y, ["salario_cliente", "debt_to_income", "edad_cliente"], config)
    assert report.dropped == ["salario_cliente", "debt_to_income"]
    derived = next(c for c in report.columns if c.column == "debt_to_income")
    assert any("computed from dropped" in reason for reason in derived.reasons)


def test_separation_and_auc_helpers():
    y = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    assert separates_perfectly(y, np.arange(10.0), min_class_rows=5)
    assert not separates_perfectly(y, np.arange(10.0), min_class_rows=6)  # too few rows to judge
    tied = np.array([0, 1, 2, 3, 4, 4, 6, 7, 8, 9], dtype=float)
    assert not separates_perfectly(y, tied, min_class_rows=5)
    with_missing = np.where(np.arange(10) % 3 == 0, np.nan, np.arange(10.0))
    assert folded_auc(y, with_missing) == 1.0  # NaN-safe: scored on present rows
    assert folded_auc(y, 9 - np.arange(10.0)) == 1.0  # folded: a reversed leak is still a leak
    assert folded_auc(np.zeros(4, dtype=int), np.arange(4.0)) == 0.5
