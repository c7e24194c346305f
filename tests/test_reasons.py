"""Adverse-action reasons: exact attributions, their properties, the catalogue, and what scoring serves."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from creditrisk.data.contract import DATE, FEATURE_COLUMNS, MISSING_CATEGORY, TARGET
from creditrisk.modeling.bundle import ModelBundle, RiskBand
from creditrisk.modeling.calibration import CalibratedModel, ScoreCalibrator
from creditrisk.modeling.engine import build_engine, Engine
from creditrisk.modeling.engine.attribution import attributions, tree_tables
from creditrisk.modeling.engine.grid import cell_leaf_sums, threshold_grid, tree_values
from creditrisk.modeling.engine.trees import additive_form, check_form, leaf_value_sums, LeafPaths
from creditrisk.modeling.features import ENGINEERED, FeatureSet, raw_inputs
from creditrisk.modeling.reasons import (
    principal_reason_codes, principal_reasons, reason_catalogue, reference_applicant, LANGUAGES,
)
from creditrisk.modeling.recipe import build_model
from creditrisk.modeling.train_params import TrainParams
from creditrisk.modeling.validation import logit
from tests.loan_frames import make_loans
from tests.shipped import shipped

NUMERIC = ["capital_prestado", "plazo_meses", "edad_cliente", "salario_cliente", "cuota_pactada",
           "puntaje_datacredito", "huella_consulta", "promedio_ingresos_datacredito", "debt_to_income"]
CATEGORICAL = ["tipo_laboral", "tendencia_ingresos"]
FEATURES = FeatureSet(numeric=NUMERIC, categorical=CATEGORICAL, raw_inputs=raw_inputs(NUMERIC + CATEGORICAL),
                      engineered=["debt_to_income"], dropped={})


def brute_force_shapley(score: Callable[[np.ndarray], np.ndarray], x: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Shapley values of v(S) = score(x on S, r elsewhere), by enumerating every coalition."""
    inputs = len(x)
    values = np.zeros(inputs)
    for j in range(inputs):
        others = [k for k in range(inputs) if k != j]
        for size in range(inputs):
            weight = math.factorial(size) * math.factorial(inputs - size - 1) / math.factorial(inputs)
            for coalition in itertools.combinations(others, size):
                mixed = r.copy()
                mixed[list(coalition)] = x[list(coalition)]
                without = score(mixed[None])[0]
                mixed[j] = x[j]
                values[j] += weight * (score(mixed[None])[0] - without)
    return values


def toy_data(rows: int = 1500, missing: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    matrix = rng.normal(size=(rows, 5))
    target = (matrix[:, 0] * matrix[:, 1] + matrix[:, 2] + rng.normal(size=rows) > 0.5).astype(int)
    matrix[rng.random(matrix.shape) < missing] = np.nan
    return matrix, target


@pytest.mark.parametrize("kind", ["boosting", "forest", "linear"])
def test_attributions_equal_exact_shapley_values_against_one_reference(kind: str) -> None:
    matrix, target = toy_data(missing=0.05 if kind == "boosting" else 0.0)
    estimator = {"boosting": HistGradientBoostingClassifier(max_iter=25, max_depth=4, random_state=0),
                 "forest": RandomForestClassifier(n_estimators=15, max_depth=5, random_state=0),
                 "linear": LogisticRegression()}[kind].fit(matrix, target)
    form = additive_form(estimator)
    assert form is not None and check_form(estimator, form, matrix[:300])
    reference = np.nanmedian(matrix, axis=0)
    found = attributions(form, matrix[:6], reference)
    for row in range(6):
        expected = brute_force_shapley(form.raw_score, matrix[row], reference)
        np.testing.assert_allclose(found[row], expected, atol=1e-12)
        gap = form.raw_score(matrix[row:row + 1])[0] - form.raw_score(reference[None])[0]
        assert found[row].sum() == pytest.approx(gap, abs=1e-12)


def rows_on_thresholds(matrix: np.ndarray, thresholds: list[np.ndarray], rows: int) -> np.ndarray:
    """`rows` rows of `matrix` with each input set to one of its thresholds (or just above it) in turn."""
    picked = matrix[:rows].copy()
    for column, values in enumerate(thresholds):
        if len(values):
            on = values[np.arange(rows) % len(values)]
            picked[:, column] = np.where(np.arange(rows) % 2 == 0, on, np.nextafter(on, np.inf))
    return picked


@pytest.mark.parametrize("kind", ["boosting", "forest"])
def test_tree_tables_give_the_exact_attributions_on_any_row_even_at_a_threshold(kind: str) -> None:
    matrix, target = toy_data(missing=0.05 if kind == "boosting" else 0.0)
    estimator = {"boosting": HistGradientBoostingClassifier(max_iter=40, max_depth=3, random_state=0),
                 "forest": RandomForestClassifier(n_estimators=15, max_depth=3, random_state=0)}[kind]
    form = additive_form(estimator.fit(matrix, target))
    assert form is not None and form.leaves is not None
    reference = np.nanmedian(matrix, axis=0)
    tables = tree_tables(form.leaves, reference, matrix.shape[1])
    trees = int(form.leaves.tree.max()) + 1
    assert tables.rest is None and 0 < len(tables.grid.tables) < trees  # grouped
    rows = np.vstack([matrix[:300], rows_on_thresholds(matrix[300:], tables.grid.thresholds, 200)])
    if kind == "boosting":
        assert np.isnan(rows).any()
    np.testing.assert_allclose(tables.attributions(rows), attributions(form, rows, reference), rtol=0, atol=1e-12)


def test_deep_trees_get_no_table_and_are_attributed_leaf_by_leaf() -> None:
    matrix, target = toy_data()
    forest = RandomForestClassifier(n_estimators=6, max_depth=10, random_state=0).fit(matrix, target)
    form = additive_form(forest)
    assert form is not None and form.leaves is not None
    reference = np.median(matrix, axis=0)
    tables = tree_tables(form.leaves, reference, matrix.shape[1])
    assert tables.rest is not None and len(tables.rest.value) > 0
    rows = matrix[:200]
    np.testing.assert_allclose(tables.attributions(rows), attributions(form, rows, reference), rtol=0, atol=1e-12)


def test_trees_without_a_split_attribute_nothing_beside_the_others() -> None:
    matrix, target = toy_data(rows=400)
    stumps = HistGradientBoostingClassifier(max_iter=3, min_samples_leaf=400).fit(matrix, target)
    split = HistGradientBoostingClassifier(max_iter=3, max_depth=2, random_state=0).fit(matrix, target)
    forms = [additive_form(stumps), additive_form(split)]
    assert all(form is not None and form.leaves is not None for form in forms)
    leaves = [form.leaves for form in forms if form is not None and form.leaves is not None]
    assert not leaves[0].valid.any()  # every tree of the first model is one leaf
    shape = (len(leaves[0].value), leaves[1].feature.shape[1])  # the stumps' leaves padded to the others' steps
    stumps_padded = LeafPaths(np.zeros(shape, dtype="int64"), np.full(shape, -np.inf), np.full(shape, np.inf),
                              np.ones(shape, dtype=bool), np.zeros(shape, dtype=bool), leaves[0].value,
                              leaves[0].tree)
    both = LeafPaths(*(np.concatenate([getattr(stumps_padded, name), getattr(leaves[1], name)]) for name in
                       ("feature", "lower", "upper", "missing_follows", "valid", "value")),
                     tree=np.concatenate([leaves[0].tree, leaves[1].tree + leaves[0].tree.max() + 1]))
    reference = np.median(matrix, axis=0)
    found = tree_tables(both, reference, matrix.shape[1]).attributions(matrix[:50])
    np.testing.assert_allclose(found, tree_tables(leaves[1], reference, matrix.shape[1]).attributions(matrix[:50]),
                               rtol=0, atol=1e-12)
    assert np.abs(found).sum() > 0
    only_stumps = tree_tables(leaves[0], reference, matrix.shape[1]).attributions(matrix[:50])
    assert only_stumps.shape == (50, matrix.shape[1]) and not only_stumps.any()


@pytest.mark.parametrize("max_cells", [65_536, 1000])
def test_tree_values_give_the_boostings_own_raw_score_even_at_a_threshold(max_cells: int) -> None:
    matrix, target = toy_data(missing=0.05)
    boosting = HistGradientBoostingClassifier(max_iter=30, max_depth=4, random_state=0).fit(matrix, target)
    form = additive_form(boosting)
    assert form is not None
    values = tree_values(form, matrix.shape[1], max_cells)
    assert len(values.grid.tables) > 0 and (values.rest is not None) == (max_cells == 1000)  # small tables: some
    # trees' grids are too large and are walked leaf by leaf
    rows = np.vstack([matrix[:300], rows_on_thresholds(matrix[300:], values.grid.thresholds, 200)])
    np.testing.assert_allclose(values.raw_score(rows), boosting.decision_function(rows), rtol=0, atol=1e-12)


def assert_cell_sums_as_at_the_points(leaves: LeafPaths, inputs: int, max_cells: int,
                                      background: np.ndarray) -> None:
    grid = threshold_grid(leaves, inputs, max_cells)
    assert grid.tables
    for table in grid.tables:
        own = leaves.subset(np.isin(leaves.tree, table.trees))
        expected = leaf_value_sums(own, table.cell_points(background))
        found = cell_leaf_sums(table, own)
        assert found.tobytes() == expected.tobytes()  # the same additions: bit for bit, not merely close


@pytest.mark.parametrize("model", ["boosting", "forest"])
def test_a_tables_leaf_sums_by_code_are_those_at_its_cell_points_bit_for_bit(model: str) -> None:
    matrix, target = toy_data(rows=3000, missing=0.05)
    # Enough trees that the order of the additions shows (with 40 trees of depth 5, any order gave the same bits).
    estimator = (HistGradientBoostingClassifier(max_iter=100, max_depth=6, random_state=0) if model == "boosting"
                 else RandomForestClassifier(n_estimators=15, max_depth=5, random_state=0))
    form = additive_form(estimator.fit(np.nan_to_num(matrix) if model == "forest" else matrix, target))
    assert form is not None and form.leaves is not None
    for background in (np.zeros(matrix.shape[1]), np.full(matrix.shape[1], np.nan)):
        assert_cell_sums_as_at_the_points(form.leaves, matrix.shape[1], 65_536, background)


def test_a_boosting_split_only_on_missing_values_is_scored_and_attributed_exactly() -> None:
    """Where missing values alone carry the signal, the boosting splits an input into "missing" and "any number"
    (threshold +inf): an input the tables read without a threshold, and a path step no number follows."""
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(5000, 3))
    missing = rng.random(len(matrix)) < 0.3
    target = ((missing | (matrix[:, 1] > 1)) ^ (rng.random(len(matrix)) < 0.05)).astype(int)
    matrix[missing, 0] = np.nan
    boosting = HistGradientBoostingClassifier(max_iter=5, max_depth=2, random_state=0).fit(matrix, target)
    form = additive_form(boosting)
    assert form is not None and form.leaves is not None
    only_missing = form.leaves.valid & (form.leaves.feature == 0) & (form.leaves.lower == np.inf)
    assert only_missing.any()
    rows = matrix[:200]
    np.testing.assert_allclose(tree_values(form, 3).raw_score(rows), boosting.decision_function(rows),
                               rtol=0, atol=1e-12)
    reference = np.nanmedian(matrix, axis=0)
    found = tree_tables(form.leaves, reference, 3).attributions(rows[:8])
    assert np.isnan(rows[:8, 0]).any() and not np.isnan(rows[:8, 0]).all()
    for row in range(8):
        np.testing.assert_allclose(found[row], brute_force_shapley(form.raw_score, rows[row], reference), atol=1e-12)


def test_tree_values_keep_the_value_of_trees_without_a_split() -> None:
    matrix, target = toy_data(rows=400)
    stumps = HistGradientBoostingClassifier(max_iter=3, min_samples_leaf=400).fit(matrix, target)
    form = additive_form(stumps)
    assert form is not None and form.leaves is not None and not form.leaves.valid.any()
    np.testing.assert_allclose(tree_values(form, matrix.shape[1]).raw_score(matrix[:20]),
                               stumps.decision_function(matrix[:20]), rtol=0, atol=1e-12)
    form.leaves.value[:] = [0.25, -0.5, 1.0]  # fitted stumps barely move the score: give them values that do
    np.testing.assert_allclose(tree_values(form, matrix.shape[1]).raw_score(matrix[:20]), form.constant + 0.75,
                               rtol=0, atol=1e-12)


def test_a_misread_tree_is_caught_by_the_check() -> None:
    matrix, target = toy_data()
    estimator = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(matrix, target)
    form = additive_form(estimator)
    assert form is not None and form.leaves is not None
    form.leaves.value[:] *= 1.01
    assert not check_form(estimator, form, matrix[:200])


def fitted_engine(name: str, rows: int = 3000, **estimator: object) -> tuple[Engine, CalibratedModel, pd.DataFrame]:
    """The scoring engine of a calibrated `name` model fitted on `rows` loans, with the train median profile
    as the reference applicant (as the train stage ships it), the model and the loans."""
    loans = make_loans(rows, seed=11)
    model = build_model(name, shipped(TrainParams), FEATURES)
    model.set_params(**{f"model__{key}": value for key, value in estimator.items()})
    model = model.fit(loans[FEATURES.raw_inputs], 1 - loans[TARGET].to_numpy())
    raw = model.predict_proba(loans[FEATURES.raw_inputs])[:, 1]
    calibrated = CalibratedModel(model, ScoreCalibrator("sigmoid").fit(raw, 1 - loans[TARGET].to_numpy()))
    reference = reference_applicant(model.steps[0][1].transform(loans[FEATURES.raw_inputs]))
    bundle = ModelBundle(calibrated, 0.1, [RiskBand("A", 1.0)], FEATURES.raw_inputs,
                         {"reasons": {"top_k": 4, "reference_applicant": reference}})
    engine = build_engine(bundle)
    assert engine.explainer is not None
    return engine, calibrated, loans


@pytest.mark.parametrize("name", ["hist_gradient_boosting", "logistic", "random_forest"])
def test_contributions_add_up_to_the_served_pd_logit_gap(name: str) -> None:
    engine, model, loans = fitted_engine(name)
    assert engine.explainer is not None
    rows = loans.tail(300)
    contributions = engine.contributions_of(engine.encode(rows))
    served = model.predict_proba(rows)[:, 1]
    np.testing.assert_allclose(contributions.sum(axis=1), logit(served) - engine.explainer.reference_logit, atol=1e-9)
    assert engine.columns == list(engine.encode(rows).model_frame.columns)
    named = engine.explain(rows)  # one named column per model input, e.g. for a fair-lending check of age
    assert list(named.columns) == engine.columns and named.index.equals(rows.index)
    np.testing.assert_array_equal(named["edad_cliente"], contributions[:, engine.columns.index("edad_cliente")])


def test_a_riskier_value_never_lowers_its_own_contribution_for_a_monotone_feature() -> None:
    position = NUMERIC.index("huella_consulta")  # more inquiries, more risk: constrained so in the model
    constraint = [0] * (len(NUMERIC) + 6)  # numbers, then the one-hot levels of two categories
    constraint[position] = 1
    engine, _, loans = fitted_engine("hist_gradient_boosting", monotonic_cst=constraint)
    applicants = loans.sample(20, random_state=1)
    previous = None
    for inquiries in range(0, 16):
        own = engine.explain(applicants.assign(huella_consulta=float(inquiries)))["huella_consulta"].to_numpy()
        if previous is not None:
            assert (own >= previous - 1e-12).all()
        previous = own
    linear, _, loans = fitted_engine("logistic")
    lower_scores = [linear.explain(applicants.assign(puntaje_datacredito=s))["puntaje_datacredito"].to_numpy()
                    for s in (900.0, 800.0, 700.0, 600.0)]
    coefficient_sign = np.sign(lower_scores[-1] - lower_scores[0])
    for higher, lower in zip(lower_scores, lower_scores[1:]):
        assert (coefficient_sign * (lower - higher) >= -1e-12).all()  # linear: monotone either way


def test_the_reasons_of_a_high_debt_applicant_name_debt() -> None:
    engine, _, loans = fitted_engine("hist_gradient_boosting", rows=6000)
    ordinary = loans.sample(30, random_state=2)
    indebted = engine.encode(ordinary.assign(cuota_pactada=ordinary["salario_cliente"] * 1.2))
    reasons = principal_reasons(indebted.model_frame, engine.contributions_of(indebted), engine.columns, 4)
    catalogue = reason_catalogue()
    assert all(any(catalogue[r["feature"]].group == "debt" for r in row[:2]) for row in reasons)
    assert np.mean([catalogue[row[0]["feature"]].group == "debt" for row in reasons]) >= 0.9


def test_only_inputs_that_raise_the_pd_are_reasons_and_at_most_k() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 7.0], "b": [3.0, 4.0, 8.0], "c": [5.0, 6.0, 9.0]})
    catalogue_names = list(reason_catalogue())[:3]
    frame.columns = catalogue_names
    contributions = np.array([[0.5, -0.2, 0.1], [-0.1, -0.3, 0.0], [0.0, 0.2, 0.4]])
    reasons = principal_reasons(frame, contributions, catalogue_names, 2)
    assert [r["feature"] for r in reasons[0]] == [catalogue_names[0], catalogue_names[2]]
    assert [r["value"] for r in reasons[0]] == [1.0, 5.0]
    assert reasons[1] == []
    assert [(r["feature"], r["value"], r["contribution"]) for r in reasons[2]] == [
        (catalogue_names[2], 9.0, 0.4), (catalogue_names[1], 8.0, 0.2)]


@pytest.mark.parametrize("top_k", [0, 1, 4, 6])
def test_a_batchs_reason_codes_are_the_reasons_codes_in_order_ties_to_the_earlier_input(top_k: int) -> None:
    """The codes a batch keeps equal the API's reasons, joined; ties, NaN, infinities and amounts that round
    to nothing included. Against a stable sort of the negated contributions, the rule's first statement."""
    names = list(reason_catalogue())[:5]
    rng = np.random.default_rng(3)
    contributions = rng.choice([0.0, -0.0, 4e-7, 5e-7, 0.3, -0.2, np.nan, 2.0, -np.inf, np.inf], size=(3000, 5))
    contributions[::5] = rng.normal(size=(600, 5))
    frame = pd.DataFrame(rng.normal(size=(3000, 5)), columns=names)
    codes = principal_reason_codes(contributions, names, top_k)
    assert list(codes) == [";".join(r["code"] for r in row)
                           for row in principal_reasons(frame, contributions, names, top_k)]
    order = np.argsort(-contributions, axis=1, kind="stable")[:, :top_k]
    picked = np.round(np.take_along_axis(contributions, order, axis=1), 6)
    catalogue = reason_catalogue()
    assert list(codes) == [";".join(catalogue[names[i]].code for i, value in zip(row, values) if value > 0)
                           for row, values in zip(order, picked)]
    assert codes.dtype == "string" and list(codes[:0]) == []


def test_two_inputs_that_raise_the_pd_equally_are_reported_in_column_order() -> None:
    names = list(reason_catalogue())[:3]
    codes = principal_reason_codes(np.array([[0.2, 0.5, 0.5], [0.0, 0.0, 0.0]]), names, 2)
    catalogue = reason_catalogue()
    assert list(codes) == [f"{catalogue[names[1]].code};{catalogue[names[2]].code}", ""]


def test_a_missing_category_is_reported_as_no_value_not_as_its_marker() -> None:
    frame = pd.DataFrame({"tendencia_ingresos": pd.array([MISSING_CATEGORY, "Creciente"], dtype="string"),
                          "salario_cliente": [np.nan, 1_500_000.0]})
    contributions = np.array([[0.3, 0.2], [0.3, 0.2]])
    reasons = principal_reasons(frame, contributions, list(frame.columns), 2)
    assert [r["value"] for r in reasons[0]] == [None, None]
    assert [r["value"] for r in reasons[1]] == ["Creciente", 1_500_000.0]


def test_the_catalogue_names_every_possible_model_input_with_unique_codes_in_both_languages() -> None:
    catalogue = reason_catalogue()
    leaks = {"puntaje"}
    assert set(FEATURE_COLUMNS) - leaks - {DATE} <= set(catalogue)
    assert set(ENGINEERED) <= set(catalogue)
    codes = [entry.code for entry in catalogue.values()]
    assert len(codes) == len(set(codes))
    assert all(set(entry.text) == set(LANGUAGES) and all(entry.text.values()) for entry in catalogue.values())
