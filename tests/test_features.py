"""Domain features and the model frame built from raw contract columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from creditrisk.modeling.features import (
    build_model_frame,
    candidate_columns,
    default_target,
    feature_kind,
    featurize_frame,
    raw_inputs,
    DomainFeatures,
    ENGINEERED,
    FeatureSet,
)
from creditrisk.data.contract import DATE, FEATURE_COLUMNS, MISSING_CATEGORY, TARGET
from tests.loan_frames import make_loans


def _two_loans() -> pd.DataFrame:
    return pd.DataFrame({
        "cuota_pactada": [200_000.0, 100_000.0],
        "salario_cliente": [1_000_000.0, 0.0],
        "capital_prestado": [2_000_000.0, 1_200_000.0],
        "plazo_meses": [12.0, 12.0],
        "saldo_mora": [0.0, np.nan],
        "promedio_ingresos_datacredito": [np.nan, 500_000.0],
        "tendencia_ingresos": pd.Series([pd.NA, "Creciente"], dtype="string"),
        DATE: pd.to_datetime(["2025-03-06 10:00", "2025-07-14 16:30"]),
    })


def test_engineered_values_by_hand():
    frame = build_model_frame(_two_loans(), [
        "debt_to_income", "loan_to_income", "repayment_ratio", "has_arrears", "bureau_income_missing",
        "income_trend_missing", "loan_month"], ["loan_weekday"])
    assert frame["debt_to_income"].iloc[0] == pytest.approx(0.2)
    assert np.isnan(frame["debt_to_income"].iloc[1])  # zero salary: no ratio, not infinity
    assert frame["loan_to_income"].iloc[0] == pytest.approx(2.0)
    assert frame["repayment_ratio"].tolist() == pytest.approx([1.2, 1.0])
    assert frame["has_arrears"].iloc[0] == 0.0 and np.isnan(frame["has_arrears"].iloc[1])
    assert frame["bureau_income_missing"].tolist() == [1.0, 0.0]
    assert frame["income_trend_missing"].tolist() == [1.0, 0.0]
    assert frame["loan_month"].tolist() == [3.0, 7.0]
    assert frame["loan_weekday"].tolist() == ["3", "0"]  # Thursday, Monday


def test_model_frame_tolerates_absent_columns_and_text_numbers():
    raw = pd.DataFrame({"cuota_pactada": ["200000", "oops"], "tipo_credito": [4, None]})
    frame = build_model_frame(raw, ["cuota_pactada", "salario_cliente", "debt_to_income", "loan_month"],
                              ["tipo_credito", "tendencia_ingresos"])
    assert frame["cuota_pactada"].iloc[0] == 200_000.0 and np.isnan(frame["cuota_pactada"].iloc[1])
    assert frame["salario_cliente"].isna().all() and frame["loan_month"].isna().all()
    assert frame["tipo_credito"].tolist() == ["4", MISSING_CATEGORY]
    assert frame["tendencia_ingresos"].tolist() == [MISSING_CATEGORY, MISSING_CATEGORY]


def test_domain_features_is_stateless_and_row_wise():
    loans = make_loans(50, seed=1)
    step = DomainFeatures(numeric=["debt_to_income", "edad_cliente"], categorical=["tipo_laboral"]).fit(loans)
    whole = step.transform(loans)
    reversed_rows = step.transform(loans.iloc[::-1])
    pd.testing.assert_frame_equal(whole.iloc[::-1], reversed_rows)
    assert list(step.get_feature_names_out()) == ["debt_to_income", "edad_cliente", "tipo_laboral"]


def test_domain_features_refuses_unknown_names():
    with pytest.raises(ValueError, match="neither contract columns nor engineered"):
        DomainFeatures(numeric=["salary_typo"]).fit(make_loans(10))


def test_raw_inputs_follow_engineered_features():
    assert raw_inputs(["debt_to_income", "cuota_pactada", "loan_month"]) == [
        "cuota_pactada", "salario_cliente", DATE]
    for feature in ENGINEERED.values():
        assert feature_kind(feature.name) == feature.kind
        assert set(feature.inputs) <= set(FEATURE_COLUMNS) | {DATE, "puntaje"}


def test_candidates_exclude_target_and_date_and_add_engineered_only_when_asked():
    loans = make_loans(20)
    raw_only = candidate_columns(loans, engineered=False)
    assert TARGET not in raw_only and DATE not in raw_only and "puntaje" in raw_only
    with_engineered = candidate_columns(loans, engineered=True)
    assert set(with_engineered) - set(raw_only) == set(ENGINEERED)
    without_leak = candidate_columns(loans.drop(columns="puntaje"), engineered=True)
    assert "internal_to_bureau_score" not in without_leak


def test_default_target_is_one_minus_paid_on_time():
    assert default_target(pd.DataFrame({TARGET: [1.0, 0.0, 1.0]})).tolist() == [0, 1, 0]


def test_featurize_frame_keeps_raw_inputs_target_and_engineered_columns():
    loans = make_loans(30)
    features = FeatureSet(numeric=["edad_cliente", "debt_to_income"], categorical=["loan_weekday"],
                          raw_inputs=["edad_cliente", "cuota_pactada", "salario_cliente", DATE],
                          engineered=["debt_to_income", "loan_weekday"], dropped={"puntaje": ["leak"]})
    frame = featurize_frame(loans, features)
    assert list(frame.columns) == [DATE, "edad_cliente", "cuota_pactada", "salario_cliente", TARGET,
                                   "debt_to_income", "loan_weekday"]
    assert "puntaje" not in frame.columns
    assert FeatureSet.from_dict(features.to_dict()) == features
