"""Drift of one window of current data against the reference profile.

A window is compared feature by feature in one pass (each numeric column is
sorted once; bins, KS and the bootstrap limit all reuse that sort):

- numeric: KS statistic and p-value, PSI and Jensen-Shannon distance on the
  reference quantile bins of the non-missing values;
- categorical: PSI and Jensen-Shannon on category shares with explicit missing
  and unseen bins, and a chi-square test of homogeneity on the same bins;
- every feature: the change of its missing share, with a two-proportion test.

The tests are corrected for multiplicity across the window's features, then
each feature gets its level from `creditrisk.monitoring.rules`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from creditrisk.params import ParamsBlock
from creditrisk.monitoring.profile import numeric_sample, CategoricalProfile, NumericProfile, ReferenceProfile
from creditrisk.monitoring.rules import feature_verdict, statistic_levels, Cutoffs, DriftRules, Level
from creditrisk.monitoring.statistics import (
    adjust_pvalues,
    chi2_homogeneity,
    js_distance,
    ks_2samp_compact,
    psi,
    psi_many,
    shares,
    two_proportion_test,
    PAdjust,
)

WindowKind = Literal["month", "quarter", "week"]
Engine = Literal["pandas", "dask"]


@dataclass(frozen=True)
class DriftParams(ParamsBlock):
    """The `drift` block of params.yaml."""

    BLOCK: ClassVar[str] = "drift"
    reference_path: str
    incoming_dir: str
    model_path: str
    metrics_path: str
    prediction_log: str
    output_dir: str
    incoming_pattern: str
    window: WindowKind
    features: list[str]
    day_first: bool | None
    psi_bins: int
    psi_epsilon: float
    psi_warn: float
    psi_alert: float
    js_warn: float
    js_alert: float
    ks_warn: float
    ks_alert: float
    alpha: float
    p_adjust: PAdjust
    missing_warn: float
    missing_alert: float
    min_window_rows: int
    dataset_warn_share: float
    dataset_alert_share: float
    roc_auc_drop_warn: float
    roc_auc_drop_alert: float
    min_labelled_defaults: int
    band_test_yellow: float
    band_test_red: float
    calibration_ratio_warn: float
    calibration_ratio_alert: float
    calibration_min_expected_defaults: float
    calibration_exact_below: float
    calibration_red_bands: int
    estimated_simulations: int
    estimated_roc_auc_drop_warn: float
    estimated_roc_auc_drop_alert: float
    bootstrap_samples: int
    bootstrap_quantile: float
    seed: int
    engine: Engine
    ks_grid_points: int

    def problems(self) -> list[tuple[str, str]]:
        found = [(f"{name}_warn", f"must be >= 0 and <= drift.{name}_alert ({getattr(self, f'{name}_alert')})")
                 for name in ("psi", "js", "ks", "missing")
                 if not 0 <= getattr(self, f"{name}_warn") <= getattr(self, f"{name}_alert")]
        # The two dataset shares count different things (features drifted at all vs features in
        # alert), so neither bounds the other.
        found += [(name, "must be a share in [0, 1]") for name in ("dataset_warn_share", "dataset_alert_share")
                  if not 0 <= getattr(self, name) <= 1]
        if not 0 < self.alpha < 1:
            found.append(("alpha", "must be in (0, 1)"))
        if self.psi_bins < 2:
            found.append(("psi_bins", "must be >= 2"))
        if not 0 < self.psi_epsilon < 0.01:
            found.append(("psi_epsilon", "must be in (0, 0.01)"))
        if not 0 < self.band_test_yellow < 1:
            found.append(("band_test_yellow", "must be a p-value level in (0, 1)"))
        if not 0 < self.band_test_red <= self.band_test_yellow:
            found.append(("band_test_red", f"must be in (0, drift.band_test_yellow ({self.band_test_yellow})]"))
        if not 1.0 < self.calibration_ratio_warn <= self.calibration_ratio_alert:
            found.append(("calibration_ratio_warn",
                          f"must be > 1 and <= drift.calibration_ratio_alert ({self.calibration_ratio_alert})"))
        found += [(name, "must be >= 0") for name in ("calibration_min_expected_defaults", "calibration_exact_below",
                                                      "calibration_red_bands") if getattr(self, name) < 0]
        if self.bootstrap_samples < 0:
            found.append(("bootstrap_samples", "must be >= 0"))
        if not 0 < self.bootstrap_quantile < 1:
            found.append(("bootstrap_quantile", "must be in (0, 1)"))
        if self.ks_grid_points < 2:
            found.append(("ks_grid_points", "must be >= 2"))
        return found

    @property
    def rules(self) -> DriftRules:
        """The cut-offs of this block, as the verdicts in `creditrisk.monitoring.rules` read them."""
        return DriftRules(
            psi=Cutoffs(self.psi_warn, self.psi_alert),
            js=Cutoffs(self.js_warn, self.js_alert),
            ks=Cutoffs(self.ks_warn, self.ks_alert),
            missing=Cutoffs(self.missing_warn, self.missing_alert),
            roc_auc_drop=Cutoffs(self.roc_auc_drop_warn, self.roc_auc_drop_alert),
            estimated_roc_auc_drop=Cutoffs(self.estimated_roc_auc_drop_warn, self.estimated_roc_auc_drop_alert),
            alpha=self.alpha,
            p_adjust=self.p_adjust,
            min_window_rows=self.min_window_rows,
            dataset_warn_share=self.dataset_warn_share,
            dataset_alert_share=self.dataset_alert_share,
            min_labelled_defaults=self.min_labelled_defaults,
            band_test_yellow=self.band_test_yellow,
            band_test_red=self.band_test_red,
            calibration_ratio=Cutoffs(self.calibration_ratio_warn, self.calibration_ratio_alert),
            calibration_min_expected_defaults=self.calibration_min_expected_defaults,
            calibration_exact_below=self.calibration_exact_below,
            calibration_red_bands=self.calibration_red_bands,
        )


@dataclass
class FeatureDrift:
    """One row of features.csv: one feature in one window; `level` and `reason` are set by the rules."""

    feature: str
    kind: str
    status: str
    rows: int
    values: int
    missing_share_ref: float
    missing_share_cur: float
    missing_share_change: float
    missing_pvalue: float
    ks_stat: float = float("nan")
    ks_pvalue: float = float("nan")
    psi: float = float("nan")
    js: float = float("nan")
    chi2_stat: float = float("nan")
    chi2_pvalue: float = float("nan")
    psi_limit: float = float("nan")
    ks_pvalue_adj: float = float("nan")
    chi2_pvalue_adj: float = float("nan")
    missing_pvalue_adj: float = float("nan")
    level: Level = "ok"
    reason: str = ""
    psi_level: str = ""
    js_level: str = ""
    ks_stat_level: str = ""
    missing_share_change_level: str = ""
    """Each statistic's own level (`rules.statistic_levels`); empty where it is not judged."""

    @property
    def test_pvalue_adj(self) -> float:
        return self.ks_pvalue_adj if self.kind == "numeric" else self.chi2_pvalue_adj


@dataclass
class WindowDrift:
    features: list[FeatureDrift]
    distributions: dict[str, dict[str, Any]]
    score: FeatureDrift | None = None


def missing_part(rows: int, missing: int, ref_rows: int, ref_missing: int) -> dict[str, float]:
    """The missing-share fields of a `FeatureDrift`: both shares, their change, and the two-proportion test's
    p-value (from counts, so both engines call it)."""
    share_ref = ref_missing / ref_rows if ref_rows else float("nan")
    share_cur = missing / rows if rows else float("nan")
    test = two_proportion_test(ref_missing, ref_rows, missing, rows)
    return {
        "missing_share_ref": share_ref,
        "missing_share_cur": share_cur,
        "missing_share_change": share_cur - share_ref,
        "missing_pvalue": test.pvalue,
    }


def bootstrap_psi_limit(
    reference_shares: np.ndarray, size: int, params: DriftParams, rng: np.random.Generator
) -> float:
    """The `bootstrap_quantile` of PSI between the reference and samples of `size` drawn from it.

    Resampling reference rows with replacement gives multinomial bin counts
    with the reference shares, so the bin counts are drawn directly: exact,
    and independent of the reference size.
    """
    if params.bootstrap_samples == 0 or size == 0:
        return float("nan")
    draws = rng.multinomial(size, reference_shares / reference_shares.sum(), size=params.bootstrap_samples)
    values = psi_many(reference_shares, draws / size, params.psi_epsilon)
    return float(np.quantile(values, params.bootstrap_quantile))


def bin_distribution(labels: list[str], reference: np.ndarray, current: np.ndarray,
                     missing_ref: float, missing_cur: float) -> dict[str, Any]:
    """A feature's reference and current shares per bin and missing shares, as distributions.json holds them."""
    return {
        "bins": labels,
        "reference": reference.tolist(),
        "current": current.tolist(),
        "missing_reference": missing_ref,
        "missing_current": missing_cur,
    }


def compare_numeric(
    profile: NumericProfile, column: pd.Series | np.ndarray, params: DriftParams, rng: np.random.Generator
) -> tuple[FeatureDrift, dict[str, Any]]:
    current = numeric_sample(column)
    result = FeatureDrift(
        feature=profile.name, kind="numeric", status="ok", rows=current.rows, values=current.values,
        **missing_part(current.rows, current.missing, profile.rows, profile.missing),
    )
    reference_shares = profile.shares
    if current.values == 0 or profile.sample.size == 0:
        result.status = "empty"
        current_shares = np.zeros_like(reference_shares)
    else:
        current_shares = shares(current.bin_counts(profile.edges))
        ks = ks_2samp_compact(profile.sample, current.sample)
        result.ks_stat, result.ks_pvalue = ks.statistic, ks.pvalue
        result.psi = psi(reference_shares, current_shares, params.psi_epsilon)
        result.js = js_distance(reference_shares, current_shares)
        result.psi_limit = bootstrap_psi_limit(reference_shares, current.values, params, rng)
        current_constant = current.values >= 2 and current.sample.values.size == 1
        result.status = "constant" if profile.constant or current_constant else "ok"
    distribution = bin_distribution(profile.labels, reference_shares, current_shares,
                                    result.missing_share_ref, result.missing_share_cur)
    return result, distribution


def compare_categorical(
    profile: CategoricalProfile, column: pd.Series, params: DriftParams, rng: np.random.Generator
) -> tuple[FeatureDrift, dict[str, Any]]:
    return compare_categorical_counts(profile, profile.bin_counts(column), params, rng)


def compare_categorical_counts(profile: CategoricalProfile, counts: np.ndarray, params: DriftParams,
                               rng: np.random.Generator) -> tuple[FeatureDrift, dict[str, Any]]:
    """A categorical feature's drift from its window's bin counts (the profile's bins: categories, then
    missing, then unseen): what the pandas engine computes from a column and the Dask engine from counts
    summed over partitions."""
    rows = int(counts.sum())
    missing = int(counts[-2])
    result = FeatureDrift(
        feature=profile.name, kind="categorical", status="ok", rows=rows, values=rows - missing,
        **missing_part(rows, missing, profile.rows, profile.missing),
    )
    reference_shares = profile.shares
    current_shares = shares(counts)
    if rows == missing or profile.rows == profile.missing:
        result.status = "empty"
    else:
        test = chi2_homogeneity(profile.counts, counts)
        result.chi2_stat, result.chi2_pvalue = test.statistic, test.pvalue
        result.psi = psi(reference_shares, current_shares, params.psi_epsilon)
        result.js = js_distance(reference_shares, current_shares)
        result.psi_limit = bootstrap_psi_limit(reference_shares, rows, params, rng)
        observed = np.count_nonzero(counts[:-2]) + int(counts[-1] > 0)
        result.status = "constant" if profile.constant or (result.values >= 2 and observed == 1) else "ok"
    distribution = bin_distribution(profile.labels, reference_shares, current_shares,
                                    result.missing_share_ref, result.missing_share_cur)
    return result, distribution


def _adjust(results: list[FeatureDrift], params: DriftParams) -> None:
    """Correct the features' tests for multiplicity within the window (one family each)."""
    primary = np.array([r.ks_pvalue if r.kind == "numeric" else r.chi2_pvalue for r in results], float)
    adjusted = adjust_pvalues(primary, params.p_adjust)
    missing = adjust_pvalues(np.array([r.missing_pvalue for r in results], float), params.p_adjust)
    for result, value, missing_value in zip(results, adjusted, missing):
        if result.kind == "numeric":
            result.ks_pvalue_adj = float(value)
        else:
            result.chi2_pvalue_adj = float(value)
        result.missing_pvalue_adj = float(missing_value)


def judge_features(results: list[FeatureDrift], params: DriftParams, window_rows: int) -> None:
    """Correct the window's tests for multiplicity, then set each feature's `level` and `reason`."""
    _adjust(results, params)
    rules = params.rules
    for result in results:
        verdict = feature_verdict(result, rules, window_rows)
        result.level, result.reason = verdict.level, verdict.reason
        for statistic, level in statistic_levels(result, rules, window_rows).items():
            setattr(result, f"{statistic}_level", level)


def _absent_column(frame: pd.DataFrame, profile: NumericProfile | CategoricalProfile) -> pd.Series:
    dtype = "float64" if profile.kind == "numeric" else "string"
    return pd.Series(pd.NA if dtype == "string" else np.nan, index=frame.index, dtype=dtype)


def compare_window(
    profile: ReferenceProfile,
    frame: pd.DataFrame,
    params: DriftParams,
    rng: np.random.Generator,
    pd_values: np.ndarray | None = None,
) -> WindowDrift:
    """Compare every profiled feature (and the PD, when given) of one window with the reference.

    A feature absent from the window counts as all missing. Never raises on
    empty, all-missing or constant data: those get a status instead. The
    score is judged on its own (a family of one, so its p-values are not adjusted).
    """
    results: list[FeatureDrift] = []
    distributions: dict[str, dict[str, Any]] = {}
    for name, feature in profile.features.items():
        column = frame[name] if name in frame.columns else _absent_column(frame, feature)
        if isinstance(feature, NumericProfile):
            result, distribution = compare_numeric(feature, column, params, rng)
        else:
            result, distribution = compare_categorical(feature, column, params, rng)
        results.append(result)
        distributions[name] = distribution
    judge_features(results, params, len(frame))
    score = None
    if profile.score is not None and pd_values is not None:
        score, distributions[profile.score.name] = compare_numeric(profile.score, pd_values, params, rng)
        score.ks_pvalue_adj = score.ks_pvalue
        score.missing_pvalue_adj = score.missing_pvalue
        verdict = feature_verdict(score, params.rules, len(frame))
        score.level, score.reason = verdict.level, verdict.reason
    return WindowDrift(results, distributions, score)


def feature_rows(window: str, source: str, drift: WindowDrift) -> list[dict[str, Any]]:
    return [{"window": window, "source": source, **asdict(result)} for result in drift.features]

