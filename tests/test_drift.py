"""Drift of a window against the reference: false-alarm rates, detection, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tests.shipped import shipped
from creditrisk.monitoring.drift import compare_window, DriftParams, FeatureDrift
from creditrisk.monitoring.profile import build_reference_profile

FEATURES = ["edad_cliente", "salario_cliente", "huella_consulta", "saldo_mora", "tipo_credito", "tendencia_ingresos"]


def drift_params(**overrides: object) -> DriftParams:
    paths = dict(reference_path="r", incoming_dir="i", model_path="m", metrics_path="x",
                 prediction_log="l", output_dir="o")
    return shipped(DriftParams, **{**paths, **overrides})  # type: ignore[arg-type]


def loans(rows: int, rng: np.random.Generator, product_shares: tuple[float, float, float] = (0.72, 0.27, 0.01),
          age_factor: float = 1.0) -> pd.DataFrame:
    """Loan-like columns: normal, lognormal, counts, a heavy tie at zero, two categories with missing."""
    trend = rng.choice(["Creciente", "Decreciente", "Estable"], rows, p=[0.68, 0.17, 0.15]).astype(object)
    trend[rng.random(rows) < 0.28] = None
    return pd.DataFrame({
        "edad_cliente": np.round(np.clip(rng.normal(43, 12, rows), 19, 69)) * age_factor,
        "salario_cliente": np.exp(rng.normal(14.99, 0.81, rows)),
        "huella_consulta": rng.poisson(4.2, rows).astype(float),
        "saldo_mora": np.where(rng.random(rows) < 0.02, rng.lognormal(5.5, 1, rows), 0.0),
        "tipo_credito": pd.Series(rng.choice(["4", "9", "10"], rows, p=list(product_shares)), dtype="string"),
        "tendencia_ingresos": pd.Series(trend, dtype="string"),
    })


def by_feature(results: list[FeatureDrift]) -> dict[str, FeatureDrift]:
    return {result.feature: result for result in results}


def compare(reference: pd.DataFrame, current: pd.DataFrame, **overrides: object) -> dict[str, FeatureDrift]:
    params = drift_params(**overrides)
    profile = build_reference_profile(reference, list(reference.columns), params.psi_bins)
    return by_feature(compare_window(profile, current, params, np.random.default_rng(0)).features)


def test_no_drift_alarm_rates_stay_near_nominal() -> None:
    """300 windows drawn like the reference: each test rejects at about alpha, windows are rarely flagged."""
    rng = np.random.default_rng(20241101)
    params = drift_params(bootstrap_samples=0)
    repetitions = 300
    ks_rejections = chi2_rejections = missing_rejections = flagged_windows = 0
    for _ in range(repetitions):
        reference, current = loans(1000, rng), loans(400, rng)
        profile = build_reference_profile(reference, FEATURES, params.psi_bins)
        results = by_feature(compare_window(profile, current, params, rng).features)
        ks_rejections += results["salario_cliente"].ks_pvalue < 0.05
        chi2_rejections += results["tendencia_ingresos"].chi2_pvalue < 0.05
        missing_rejections += results["tendencia_ingresos"].missing_pvalue < 0.05
        flagged_windows += any(result.level != "ok" for result in results.values())
    assert 0.025 <= ks_rejections / repetitions <= 0.075
    assert 0.025 <= chi2_rejections / repetitions <= 0.07
    assert missing_rejections / repetitions <= 0.075
    assert flagged_windows / repetitions <= 0.05


def test_a_ten_percent_mean_shift_is_flagged_and_untouched_columns_are_not() -> None:
    rng = np.random.default_rng(1)
    results = compare(loans(4000, rng), loans(1000, rng, age_factor=1.10))
    age = results["edad_cliente"]
    assert 0.1 < age.psi < 0.25 and 0.13 < age.ks_stat < 0.21, "between the warn and alert cut-offs"
    assert age.level == "warn"
    assert "KS" in age.reason
    assert {name for name, result in results.items() if result.level != "ok"} == {"edad_cliente"}


def test_a_product_mix_change_is_flagged_by_chi_square_and_psi() -> None:
    rng = np.random.default_rng(2)
    results = compare(loans(4000, rng), loans(1000, rng, product_shares=(0.50, 0.49, 0.01)))
    product = results["tipo_credito"]
    assert 0.1 <= product.psi < 0.25 and product.chi2_pvalue_adj < 1e-6
    assert product.level == "warn"
    assert {name for name, result in results.items() if result.level != "ok"} == {"tipo_credito"}


def test_a_missing_share_jump_alerts_even_when_values_look_the_same() -> None:
    rng = np.random.default_rng(3)
    current = loans(1000, rng)
    current.loc[current.index[:300], "salario_cliente"] = np.nan
    results = compare(loans(4000, rng), current)
    salary = results["salario_cliente"]
    assert salary.missing_share_change == pytest.approx(0.3)
    assert salary.psi < 0.1
    assert salary.level == "alert" and "missing share 0.0% -> 30.0%" in salary.reason
    assert {name for name, result in results.items() if result.level != "ok"} == {"salario_cliente"}


def test_huge_windows_do_not_alert_on_trivial_shifts() -> None:
    rng = np.random.default_rng(4)
    reference = pd.DataFrame({"salario_cliente": rng.lognormal(15, 0.8, 200_000)})
    current = pd.DataFrame({"salario_cliente": rng.lognormal(15.02, 0.8, 200_000)})
    salary = compare(reference, current)["salario_cliente"]
    assert salary.ks_pvalue_adj < 1e-6
    assert salary.level == "ok" and "below the minimum" in salary.reason


def test_an_empty_window_completes_with_empty_statuses() -> None:
    rng = np.random.default_rng(5)
    reference = loans(500, rng)
    for current in (pd.DataFrame(), reference.iloc[0:0]):
        results = compare(reference, current)
        assert {result.status for result in results.values()} == {"empty"}
        assert {result.level for result in results.values()} == {"ok"}
        assert all(result.rows == 0 and math.isnan(result.psi) for result in results.values())


def test_an_all_missing_column_is_empty_and_alerts_on_its_missing_share() -> None:
    rng = np.random.default_rng(6)
    current = loans(500, rng)
    current["salario_cliente"] = np.nan
    current["tipo_credito"] = pd.Series(pd.NA, index=current.index, dtype="string")
    results = compare(loans(2000, rng), current.drop(columns=["huella_consulta"]))
    for name in ("salario_cliente", "tipo_credito", "huella_consulta"):
        assert results[name].status == "empty"
        assert results[name].missing_share_cur == 1.0
        assert results[name].level == "alert"


def test_constant_columns_get_a_status_and_no_crash() -> None:
    rng = np.random.default_rng(7)
    reference, current = loans(2000, rng), loans(500, rng)
    reference["saldo_mora"] = 0.0
    current["huella_consulta"] = 3.0
    current["tipo_credito"] = pd.Series("4", index=current.index, dtype="string")
    results = compare(reference, current)
    assert results["saldo_mora"].status == "constant"
    assert results["saldo_mora"].level == "ok"
    assert results["huella_consulta"].status == "constant"
    assert results["huella_consulta"].level == "alert"
    assert results["tipo_credito"].status == "constant"


def test_an_unseen_category_lands_in_the_unseen_bin() -> None:
    rng = np.random.default_rng(8)
    params = drift_params()
    reference, current = loans(2000, rng), loans(500, rng)
    current.loc[current.index[:100], "tipo_credito"] = "68"
    profile = build_reference_profile(reference, FEATURES, params.psi_bins)
    window = compare_window(profile, current, params, rng)
    distribution = window.distributions["tipo_credito"]
    assert distribution["bins"][-1] == "__unseen__"
    assert distribution["reference"][-1] == 0.0 and distribution["current"][-1] == pytest.approx(0.2)
    assert by_feature(window.features)["tipo_credito"].level == "alert"


def test_a_one_row_window_is_reported_but_not_judged() -> None:
    rng = np.random.default_rng(9)
    reference = loans(2000, rng)
    current = reference.iloc[:1].copy()
    current["edad_cliente"] = 200.0
    results = compare(reference, current)
    assert {result.rows for result in results.values()} == {1}
    assert {result.level for result in results.values()} == {"ok"}
    assert "not judged" in results["edad_cliente"].reason
    assert results["edad_cliente"].ks_stat == 1.0


def test_nan_and_inf_values_count_as_missing() -> None:
    rng = np.random.default_rng(10)
    reference, current = loans(2000, rng), loans(500, rng)
    reference.loc[reference.index[:5], "salario_cliente"] = np.inf
    current.loc[current.index[:5], "salario_cliente"] = -np.inf
    current.loc[current.index[5:10], "salario_cliente"] = np.nan
    current["huella_consulta"] = np.inf
    results = compare(reference, current)
    assert results["salario_cliente"].status == "ok"
    assert results["salario_cliente"].missing_share_cur == pytest.approx(10 / 500)
    assert math.isfinite(results["salario_cliente"].psi) and math.isfinite(results["salario_cliente"].ks_stat)
    assert results["huella_consulta"].status == "empty"


def test_score_drift_is_compared_on_the_pd() -> None:
    rng = np.random.default_rng(11)
    params = drift_params()
    reference = loans(2000, rng)
    profile = build_reference_profile(reference, FEATURES, params.psi_bins, pd_values=rng.beta(2, 30, 2000))
    same = compare_window(profile, loans(500, rng), params, rng, pd_values=rng.beta(2, 30, 500))
    shifted = compare_window(profile, loans(500, rng), params, rng, pd_values=rng.beta(4, 30, 500))
    assert same.score is not None and shifted.score is not None
    assert same.score.level == "ok"
    assert shifted.score.level == "alert" and shifted.score.psi >= 0.25
    assert "__score__" in shifted.distributions


def test_bootstrap_limits_are_seeded_and_shrink_with_window_size() -> None:
    rng = np.random.default_rng(12)
    reference = loans(4000, rng)
    small = compare(reference, loans(100, np.random.default_rng(1)))["edad_cliente"].psi_limit
    again = compare(reference, loans(100, np.random.default_rng(1)))["edad_cliente"].psi_limit
    large = compare(reference, loans(2000, np.random.default_rng(1)))["edad_cliente"].psi_limit
    assert small == again
    assert large < small
    assert math.isnan(compare(reference, loans(100, rng), bootstrap_samples=0)["edad_cliente"].psi_limit)


def test_params_are_checked() -> None:
    with pytest.raises(ValueError, match="psi_warn"):
        drift_params(psi_warn=0.3, psi_alert=0.2)
    with pytest.raises(ValueError, match="alpha"):
        drift_params(alpha=1.5)


def test_dataset_shares_are_shares_but_need_not_be_ordered() -> None:
    assert drift_params(dataset_warn_share=0.25, dataset_alert_share=0.15).dataset_alert_share == 0.15
    with pytest.raises(ValueError, match="dataset_alert_share = 1.5 must be a share"):
        drift_params(dataset_alert_share=1.5)
    with pytest.raises(ValueError, match="psi_warn"):
        drift_params(psi_warn=0.3, psi_alert=0.25)
