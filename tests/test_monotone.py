"""Monotone constraints: each candidate keeps the `train.monotonic` directions along every constrained input
(ICE on out-of-time rows), the validation test turns red when a model does not, and the reasons never name an
input in its wrong direction."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from sklearn.linear_model import LogisticRegression

from creditrisk.modeling.candidates import SignConstrainedLogistic
from creditrisk.modeling.engine import build_engine
from creditrisk.modeling.evaluation import monotonicity_findings
from creditrisk.modeling.monotone import monotonicity_check, padded
from creditrisk.modeling.reasons import principal_reasons
from creditrisk.modeling.scorecard import scorecard_table
from creditrisk.modeling.validation import light_summary
from creditrisk.params import ParamsError
from tests.loan_frames import split_out_of_time
from tests.scorecard_support import RAW_INPUTS, fitted_bundle, labelled_loans, train_params

DIRECTIONS = train_params().monotonic
TOLERANCE = train_params().monotone_tolerance


@pytest.fixture(scope="module")
def split() -> tuple[pd.DataFrame, pd.DataFrame]:
    return split_out_of_time(labelled_loans(3000, seed=12), test_fraction=0.25)


@pytest.fixture(scope="module")
def bundles(split) -> dict[str, object]:
    train, _ = split
    return {name: fitted_bundle(name, train, train_params()) for name in
            ("logistic", "hist_gradient_boosting", "scorecard")}


def test_the_shipped_directions_follow_the_data_facts():
    assert DIRECTIONS["puntaje_datacredito"] == -1 and DIRECTIONS["edad_cliente"] == -1
    assert DIRECTIONS["huella_consulta"] == 1 and DIRECTIONS["saldo_mora"] == 1 and DIRECTIONS["has_arrears"] == 1


@pytest.mark.parametrize("name", ["logistic", "hist_gradient_boosting", "scorecard"])
def test_a_constrained_candidate_never_moves_its_pd_against_a_direction_out_of_time(name, bundles, split):
    _, test = split
    findings = monotonicity_check(bundles[name].pipeline, test[RAW_INPUTS], DIRECTIONS, TOLERANCE)
    assert {finding.feature for finding in findings} >= {"puntaje_datacredito", "huella_consulta", "edad_cliente"}
    for finding in findings:
        assert finding.light == "green", finding.to_dict()
        assert finding.worst_move <= 1e-12 and finding.violating_rows == 0  # exact, not only within tolerance


def test_the_validation_test_is_red_for_a_model_whose_pd_falls_with_inquiries(split):
    """A logistic regression whose inquiries coefficient is turned around (the data raise the PD with them)."""
    train, test = split
    bundle = fitted_bundle("logistic", train, train_params())
    estimator = bundle.pipeline.model.steps[-1][1]
    column = bundle.pipeline.model.steps[0][1].numeric.index("huella_consulta")
    estimator.coef_[0, column] = -abs(estimator.coef_[0, column]) - 0.5
    findings = monotonicity_findings(bundle, test)
    inquiries = next(finding for finding in findings if finding["feature"] == "huella_consulta")
    assert inquiries["light"] == "red" and inquiries["worst_move"] > TOLERANCE and inquiries["violating_rows"] > 0
    assert all(finding["light"] == "green" for finding in findings if finding["feature"] != "huella_consulta")
    assert "monotonicity huella_consulta" in light_summary({
        "auc_decline": {"light": "green"}, "calibration": {"light": "green"}, "hosmer_lemeshow": {"light": "green"},
        "calibration_in_the_large": {"light": "green"}, "bands": [], "monotonicity": findings})["red"]


def test_an_unconstrained_boosting_is_caught_where_the_constrained_one_is_not(split):
    train, test = split
    free = fitted_bundle("hist_gradient_boosting", train, train_params(), monotone=False)
    worst = max(finding.worst_move for finding in monotonicity_check(free.pipeline, test[RAW_INPUTS], DIRECTIONS,
                                                                     TOLERANCE))
    assert worst > TOLERANCE


def test_sign_constrained_logistic_refits_without_the_inputs_against_their_direction():
    """Golden: the constrained fit equals scikit-learn's on the inputs that keep their sign, and holds the
    others at zero."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(4000, 3))
    y = (rng.random(4000) < 1 / (1 + np.exp(-(-1 + 1.5 * x[:, 0] - 0.8 * x[:, 1] + 0.5 * x[:, 2])))).astype(int)
    free = LogisticRegression(C=1.0).fit(x, y)  # the data lower the PD with x1; the constraint says +1
    assert free.coef_[0, 1] < 0
    constrained = SignConstrainedLogistic(C=1.0, monotonic_cst=[1, 1]).fit(x, y)
    assert constrained.left_out_.tolist() == [1] and constrained.coef_[0, 1] == 0.0
    reference = LogisticRegression(C=1.0).fit(np.where([False, True, False], 0.0, x), y)
    np.testing.assert_allclose(constrained.coef_, reference.coef_ * [1, 0, 1], rtol=1e-6)
    rows = np.repeat(x[:1], 7, axis=0)
    scored = constrained.predict_proba(np.vstack([x, rows]))[:, 1]
    assert np.unique(scored[-7:]).size == 1 and scored[-1] == scored[0]  # identical rows, one PD


def test_directions_pad_to_the_fitted_width_and_the_spline_scaler_is_refused():
    assert padded([1, -1], 4).tolist() == [1, -1, 0, 0] and padded(-1, 3).tolist() == [-1, -1, -1]
    with pytest.raises(ValueError, match="monotonic"):
        dataclasses.replace(train_params(), monotonic={"tipo_laboral": 1})
    with pytest.raises(ValueError, match="must be 1 or -1"):
        dataclasses.replace(train_params(), monotonic={"huella_consulta": 2})
    from tests.scorecard_support import feature_set
    from creditrisk.modeling.recipe import build_model
    with pytest.raises(ParamsError, match="spline"):
        build_model("logistic", dataclasses.replace(train_params(), scaler="spline"), feature_set())


# ------------------------------------------------------------ the reasons never name a wrong direction

applicants = st.fixed_dictionaries({
    "row": st.integers(0, 700),
    "puntaje_datacredito": st.one_of(st.none(), st.floats(300, 999)),
    "huella_consulta": st.one_of(st.none(), st.integers(0, 25).map(float)),
    "edad_cliente": st.one_of(st.none(), st.integers(19, 69).map(float)),
    "saldo_mora": st.one_of(st.none(), st.sampled_from([0.0, 50.0, 5000.0])),
})


def _applicant(test: pd.DataFrame, drawn: dict[str, object]) -> pd.DataFrame:
    row = test[RAW_INPUTS].iloc[[drawn["row"] % len(test)]].reset_index(drop=True)
    return row.assign(**{name: [value] for name, value in drawn.items() if name != "row"})


@pytest.fixture(scope="module")
def boosting_engine(bundles):
    return build_engine(bundles["hist_gradient_boosting"])


@settings(max_examples=60, deadline=None)
@given(drawn=applicants)
def test_a_boosting_reason_is_never_a_value_on_the_safe_side_of_the_reference(bundles, boosting_engine, split,
                                                                              drawn):
    """A constrained input named as a reason is worse than the reference applicant's in its direction: a
    bureau score named is below the reference's, inquiries named are above it."""
    bundle, engine = bundles["hist_gradient_boosting"], boosting_engine
    frame = _applicant(split[1], drawn)
    batch = engine.encode(frame)
    reasons = principal_reasons(batch.model_frame, engine.contributions_of(batch), engine.columns, 10)[0]
    reference = bundle.metadata["reasons"]["reference_applicant"]
    for reason in reasons:
        direction = DIRECTIONS.get(reason["feature"])
        if direction is not None and reason["value"] is not None:
            assert direction * (reason["value"] - reference[reason["feature"]]) > 0, reason


@settings(max_examples=60, deadline=None)
@given(drawn=applicants, step=st.floats(1.0, 200.0))
def test_a_scorecard_reason_only_grows_as_its_input_moves_against_the_direction(bundles, split, drawn, step):
    """Points lost on a constrained characteristic never fall when its value moves the risky way, so the
    scorecard never names it for a value safer than one it does not name."""
    bundle = bundles["scorecard"]
    card = scorecard_table(bundle.pipeline, bundle.points_scale)
    frame = _applicant(split[1], drawn)
    for name in set(DIRECTIONS) & set(card.characteristics) & set(RAW_INPUTS):
        value = frame[name].iloc[0]
        if pd.isna(value):
            continue
        riskier = frame.assign(**{name: [value + DIRECTIONS[name] * step]})
        lost = card.points_lost(card.domain.transform(pd.concat([frame, riskier], ignore_index=True)))
        column = card.characteristics.index(name)
        assert lost[1, column] >= lost[0, column] - 1e-12
