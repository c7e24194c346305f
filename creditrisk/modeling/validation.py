"""The validation pack: the statistical tests a model-risk team runs on a PD model.

Every function takes the outcomes (`y`, 1 = default) and the calibrated PDs, or counts, and returns plain
numbers, so the evaluate stage can write them as DVC metrics and the dashboard can show them without
recomputing anything. Each test names its source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.genmod.families import Binomial
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.tools.tools import add_constant

from creditrisk.data.vintages import wilson_interval
from creditrisk.modeling.metrics import calibration_table, ks_statistic

TrafficLight = Literal["green", "yellow", "red"]
PD_FLOOR = 1e-6
"""PDs are clipped to [PD_FLOOR, 1 - PD_FLOOR] before a logit, so a PD of exactly 0 or 1 stays finite."""


def _clipped(pd_values: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(pd_values, dtype="float64"), PD_FLOOR, 1.0 - PD_FLOOR)


def logit(pd_values: np.ndarray) -> np.ndarray:
    clipped = _clipped(pd_values)
    return np.log(clipped / (1.0 - clipped))


# ---------------------------------------------------------------- discrimination


def _midrank(values: np.ndarray) -> np.ndarray:
    return stats.rankdata(values, method="average")


def delong_components(y: np.ndarray, score: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC and DeLong's structural components V10 (one per default) and V01 (one per payer).

    DeLong, DeLong & Clarke-Pearson (1988), Biometrics 44(3):837-845, computed with midranks as in
    Sun & Xu (2014), IEEE Signal Processing Letters 21(11):1389-1393: O(n log n) instead of O(m n).
    """
    y = np.asarray(y).astype(bool)
    score = np.asarray(score, dtype="float64")
    positives, negatives = score[y], score[~y]
    m, n = len(positives), len(negatives)
    if m == 0 or n == 0:
        raise ValueError("the AUC needs at least one default and one payer")
    pooled = _midrank(np.concatenate([positives, negatives]))
    within_positive, within_negative = _midrank(positives), _midrank(negatives)
    v10 = (pooled[:m] - within_positive) / n
    v01 = 1.0 - (pooled[m:] - within_negative) / m
    auc = float(v10.mean())
    return auc, v10, v01


def delong_auc_variance(y: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """(AUC, variance of the AUC) by DeLong's method (see `delong_components`)."""
    auc, v10, v01 = delong_components(y, score)
    variance = (np.var(v10, ddof=1) if len(v10) > 1 else 0.0) / len(v10) + \
        (np.var(v01, ddof=1) if len(v01) > 1 else 0.0) / len(v01)
    return auc, float(variance)


@dataclass(frozen=True)
class AucInterval:
    auc: float
    standard_error: float
    lower: float
    upper: float

    @property
    def gini(self) -> tuple[float, float, float]:
        """Gini = 2 AUC - 1 (accuracy ratio), with the interval mapped the same way."""
        return 2 * self.auc - 1, 2 * self.lower - 1, 2 * self.upper - 1


def auc_confidence_interval(y: np.ndarray, score: np.ndarray, confidence: float = 0.95) -> AucInterval:
    """ROC-AUC with a normal-approximation interval on DeLong's standard error, clipped to [0, 1]."""
    auc, variance = delong_auc_variance(y, score)
    error = float(np.sqrt(variance))
    half = stats.norm.ppf(0.5 + confidence / 2) * error
    return AucInterval(auc, error, max(0.0, auc - half), min(1.0, auc + half))


@dataclass(frozen=True)
class PairedAucTest:
    """Two scores' ROC-AUCs on the same rows, and the test of their difference (`second - first`)."""

    first_auc: float
    second_auc: float
    difference: float
    standard_error: float
    statistic: float
    pvalue: float
    lower: float
    upper: float

    def to_record(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}{name}": value for name, value in asdict(self).items()}


def paired_delong_test(y: np.ndarray, first: np.ndarray, second: np.ndarray,
                       confidence: float = 0.95) -> PairedAucTest:
    """DeLong's test of two correlated ROC-AUCs: two models scoring the same rows.

    DeLong, DeLong & Clarke-Pearson (1988), Biometrics 44(3):837-845, section 3: each score's structural
    components (`delong_components`), their covariance matrices S10 (over the defaults, m of them) and S01
    (over the payers, n), S = S10 / m + S01 / n, and z = (AUC2 - AUC1) / sqrt(S11 + S22 - 2 S12), two-sided
    against the standard normal (as pROC's `roc.test(method = "delong", paired = TRUE)`). The interval is
    the difference plus or minus the normal quantile times that standard error. Two scores that order the
    rows alike (a recalibration keeps the order) have equal AUCs and a difference of variance 0: p is 1.
    """
    first_auc, first10, first01 = delong_components(y, first)
    second_auc, second10, second01 = delong_components(y, second)
    covariance = np.zeros((2, 2))
    for first_part, second_part in ((first10, second10), (first01, second01)):
        if len(first_part) > 1:
            covariance += np.cov(np.vstack([first_part, second_part]), ddof=1) / len(first_part)
    variance = float(covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1])
    difference = second_auc - first_auc
    error = float(np.sqrt(max(variance, 0.0)))
    if error > 0:
        statistic = difference / error
        pvalue = float(min(1.0, 2 * stats.norm.sf(abs(statistic))))
    else:
        statistic, pvalue = (0.0, 1.0) if difference == 0 else (float(np.sign(difference) * np.inf), 0.0)
    half = float(stats.norm.ppf(0.5 + confidence / 2) * error)
    return PairedAucTest(first_auc, second_auc, difference, error, float(statistic), pvalue,
                         difference - half, difference + half)


def auc_decline_test(development_auc: float, y: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """One-sided test that discrimination fell from development to now.

    S = (AUC_development - AUC_current) / s_current, with s_current DeLong's standard error of the current
    AUC; p = 1 - Phi(S). A small p says the decline is more than sampling noise. ECB, "Instructions for
    reporting the validation results of internal models", IRB Pillar I models for credit risk (2019),
    section 2.5.3.2 (the current AUC against the AUC at initial validation).
    """
    interval = auc_confidence_interval(y, score)
    statistic = (development_auc - interval.auc) / interval.standard_error if interval.standard_error > 0 else 0.0
    return {"development_auc": float(development_auc), "current_auc": interval.auc,
            "statistic": float(statistic), "pvalue": float(stats.norm.sf(statistic))}


# ---------------------------------------------------------------- calibration


def brier_skill_score(y: np.ndarray, pd_values: np.ndarray, reference_rate: float) -> float:
    """1 - Brier / Brier of a constant prediction at `reference_rate` (the train default rate).

    Above 0: the PDs beat the constant. Murphy (1973), J. Applied Meteorology 12:595-600.
    """
    y = np.asarray(y, dtype="float64")
    brier = float(np.mean((np.asarray(pd_values, dtype="float64") - y) ** 2))
    reference = float(np.mean((reference_rate - y) ** 2))
    return 1.0 - brier / reference if reference > 0 else float("nan")


def log_loss(y: np.ndarray, pd_values: np.ndarray) -> float:
    y = np.asarray(y, dtype="float64")
    clipped = _clipped(pd_values)
    return float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)))


def calibration_intercept_slope(y: np.ndarray, pd_values: np.ndarray) -> dict[str, float]:
    """Logistic recalibration: slope from logit P(y) = a + b logit(PD); intercept a' from the same fit
    with b fixed at 1 (an offset), i.e. calibration-in-the-large on the logit scale.

    Perfect calibration: slope 1, intercept 0. A slope below 1 means the PDs are too extreme. Cox (1958),
    Biometrika 45:562-565; Steyerberg, Clinical Prediction Models (2nd ed., 2019), section 15.3.
    The p-values test slope = 1 and intercept = 0 (Wald).
    """
    y = np.asarray(y, dtype="float64")
    x = logit(pd_values)
    slope_fit = GLM(y, add_constant(x), family=Binomial()).fit()
    intercept_fit = GLM(y, np.ones((len(y), 1)), family=Binomial(), offset=x).fit()
    slope, slope_error = float(slope_fit.params[1]), float(slope_fit.bse[1])
    intercept, intercept_error = float(intercept_fit.params[0]), float(intercept_fit.bse[0])
    return {
        "slope": slope, "slope_se": slope_error,
        "slope_pvalue": float(2 * stats.norm.sf(abs(slope - 1.0) / slope_error)),
        "intercept": intercept, "intercept_se": intercept_error,
        "intercept_pvalue": float(2 * stats.norm.sf(abs(intercept) / intercept_error)),
    }


def hosmer_lemeshow(y: np.ndarray, pd_values: np.ndarray, groups: int = 10) -> dict[str, float]:
    """Hosmer-Lemeshow statistic over `groups` groups of equal size by PD, and its chi-square p-value.

    H = sum_g (O_g - E_g)^2 / (E_g (1 - E_g / n_g)), df = groups - 2. Hosmer & Lemeshow, Applied Logistic
    Regression (3rd ed., 2013), section 5.2.2. Groups are consecutive runs of the PD-sorted rows.
    """
    y = np.asarray(y, dtype="float64")
    pd_values = np.asarray(pd_values, dtype="float64")
    order = np.argsort(pd_values, kind="stable")
    statistic = 0.0
    used = 0
    for rows in np.array_split(order, groups):
        if len(rows) == 0:
            continue
        used += 1
        observed, expected, size = y[rows].sum(), pd_values[rows].sum(), len(rows)
        denominator = expected * (1.0 - expected / size)
        if denominator > 0:
            statistic += (observed - expected) ** 2 / denominator
    freedom = max(used - 2, 1)
    return {"statistic": float(statistic), "df": float(freedom), "pvalue": float(stats.chi2.sf(statistic, freedom))}


def calibration_in_the_large(y: np.ndarray, pd_values: np.ndarray) -> dict[str, float]:
    """Mean PD against the observed default rate, with an exact two-sided binomial p-value.

    H0: defaults ~ Binomial(n, mean PD). Treating the PDs as one rate is the usual reading of this test
    (EBA/GL/2017/16, paragraph 87; ECB instructions 2019, section 2.5.1).
    """
    y = np.asarray(y).astype(int)
    mean_pd = float(np.mean(pd_values))
    test = stats.binomtest(int(y.sum()), len(y), min(max(mean_pd, PD_FLOOR), 1 - PD_FLOOR))
    return {"mean_pd": mean_pd, "observed_rate": float(y.mean()), "defaults": float(y.sum()),
            "rows": float(len(y)), "pvalue": float(test.pvalue)}


def binomial_test_pvalue(defaults: int, rows: int, pd_value: float) -> float:
    """One-sided exact binomial test that the band's PD is too low: P(D >= defaults | n, PD).

    ECB instructions (2019), section 2.5.2.1 (one-sided binomial test per grade).
    """
    return float(stats.binomtest(int(defaults), int(rows), min(max(pd_value, PD_FLOOR), 1 - PD_FLOOR),
                                 alternative="greater").pvalue)


def jeffreys_test_pvalue(defaults: int, rows: int, pd_value: float) -> float:
    """Jeffreys test that the band's PD is too low: the Beta(D + 1/2, N - D + 1/2) posterior's mass below PD.

    p = F_Beta(PD; D + 1/2, N - D + 1/2). ECB instructions (2019), section 2.5.3.1; Tasche, "The traffic
    lights approach to PD validation" (2003), arXiv:cond-mat/0305038.
    """
    return float(stats.beta.cdf(pd_value, defaults + 0.5, rows - defaults + 0.5))


def traffic_light(pvalue: float, yellow_below: float, red_below: float) -> TrafficLight:
    """Green above `yellow_below`, yellow from there down to `red_below`, red below it."""
    if not 0 < red_below <= yellow_below < 1:
        raise ValueError(f"traffic light levels must satisfy 0 < red ({red_below}) <= yellow ({yellow_below}) < 1")
    if pvalue < red_below:
        return "red"
    return "yellow" if pvalue < yellow_below else "green"


@dataclass(frozen=True)
class BandTest:
    band: str
    rows: int
    defaults: int
    observed_rate: float
    mean_pd: float
    binomial_pvalue: float
    binomial_light: TrafficLight
    jeffreys_pvalue: float
    jeffreys_light: TrafficLight

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def band_tests(bands: Sequence[str], band_of_row: np.ndarray, y: np.ndarray, pd_values: np.ndarray,
               yellow_below: float, red_below: float) -> list[BandTest]:
    """The binomial and Jeffreys tests of every band's mean PD against its observed default rate."""
    frame = pd.DataFrame({"band": band_of_row, "y": np.asarray(y).astype(int), "pd": pd_values})
    results = []
    for band in bands:
        rows = frame[frame["band"] == band]
        if rows.empty:
            continue
        defaults, count, mean_pd = int(rows["y"].sum()), len(rows), float(rows["pd"].mean())
        binomial = binomial_test_pvalue(defaults, count, mean_pd)
        jeffreys = jeffreys_test_pvalue(defaults, count, mean_pd)
        results.append(BandTest(band, count, defaults, defaults / count, mean_pd,
                                binomial, traffic_light(binomial, yellow_below, red_below),
                                jeffreys, traffic_light(jeffreys, yellow_below, red_below)))
    return results


# ---------------------------------------------------------------- the pack


@dataclass(frozen=True)
class PackSettings:
    """What the pack needs beyond the data: levels and bins (the evaluate block of params.yaml)."""

    confidence: float
    yellow_below: float
    red_below: float
    hosmer_lemeshow_groups: int
    calibration_bins: int


def calibration_curve(y: np.ndarray, pd_values: np.ndarray, bins: int, confidence: float) -> list[dict[str, float]]:
    """Observed default rate per quantile bin of PD, with its Wilson interval: the calibration plot's points."""
    table = calibration_table(y, pd_values, bins)
    points = []
    for row in table.itertuples():
        defaults = int(round(row.observed_default_rate * row.rows))
        lower, upper = wilson_interval(defaults, int(row.rows), confidence)
        points.append({"mean_pd": float(row.mean_pd), "observed_rate": float(row.observed_default_rate),
                       "rate_lower": lower, "rate_upper": upper, "rows": int(row.rows)})
    return points


def _with_light(result: dict[str, float], pvalue: float, settings: PackSettings) -> dict[str, object]:
    return {**result, "light": traffic_light(pvalue, settings.yellow_below, settings.red_below)}


def validation_pack(y: np.ndarray, pd_values: np.ndarray, band_names: Sequence[str], band_of_row: np.ndarray,
                    reference_rate: float, development_auc: float, settings: PackSettings,
                    monotonicity: Sequence[dict[str, object]] = ()) -> dict[str, object]:
    """Every test of the pack on one labelled sample (the out-of-time test set), as `reports/validation.json`;
    `monotonicity`: the model's monotonicity tests on the same rows (`monotone.monotonicity_check`), one light
    each."""
    y = np.asarray(y).astype(int)
    pd_values = np.asarray(pd_values, dtype="float64")
    interval = auc_confidence_interval(y, pd_values, settings.confidence)
    gini, gini_lower, gini_upper = interval.gini
    decline = auc_decline_test(development_auc, y, pd_values)
    slope = calibration_intercept_slope(y, pd_values)
    groups = hosmer_lemeshow(y, pd_values, settings.hosmer_lemeshow_groups)
    in_the_large = calibration_in_the_large(y, pd_values)
    bands = band_tests(band_names, band_of_row, y, pd_values, settings.yellow_below, settings.red_below)
    pack: dict[str, object] = {
        "confidence": settings.confidence,
        "traffic_lights": {"yellow_below": settings.yellow_below, "red_below": settings.red_below},
        "reference_rate": float(reference_rate),
        "discrimination": {"roc_auc": interval.auc, "roc_auc_lower": interval.lower, "roc_auc_upper": interval.upper,
                           "roc_auc_se": interval.standard_error, "gini": gini, "gini_lower": gini_lower,
                           "gini_upper": gini_upper, "ks": ks_statistic(y, pd_values)},
        "auc_decline": _with_light(decline, decline["pvalue"], settings),
        "brier": float(np.mean((pd_values - y) ** 2)),
        "brier_skill": brier_skill_score(y, pd_values, reference_rate),
        "log_loss": log_loss(y, pd_values),
        "calibration": _with_light(slope, min(slope["slope_pvalue"], slope["intercept_pvalue"]), settings),
        "hosmer_lemeshow": {**_with_light(groups, groups["pvalue"], settings),
                            "groups": settings.hosmer_lemeshow_groups},
        "calibration_in_the_large": _with_light(in_the_large, in_the_large["pvalue"], settings),
        "bands": [band.to_dict() for band in bands],
        "calibration_curve": calibration_curve(y, pd_values, settings.calibration_bins, settings.confidence),
        "monotonicity": list(monotonicity),
    }
    pack.update(light_summary(pack))
    return pack


def light_summary(pack: dict[str, object]) -> dict[str, object]:
    """How many tests are green, yellow and red, and the names of the red ones: the tests of the model as a
    whole and per band, the bands' rank ordering and the Regulation B age check when the pack holds them.
    The fairness and segment tables keep lights of their own (`creditrisk.modeling.fairness`)."""
    named: list[tuple[str, str]] = [(name, str(pack[name]["light"]))  # type: ignore[index]
                                    for name in ("auc_decline", "calibration", "hosmer_lemeshow",
                                                 "calibration_in_the_large")]
    for band in pack["bands"]:  # type: ignore[union-attr]
        named += [(f"band {band['band']} binomial", band["binomial_light"]),
                  (f"band {band['band']} jeffreys", band["jeffreys_light"])]
    for pair in (pack.get("rank_ordering") or {}).get("pairs", []):  # type: ignore[union-attr]
        named.append((f"rank order {pair['lower']}<{pair['higher']}", pair["light"]))
    age_check = pack.get("age_check") or {}
    if age_check.get("light"):  # type: ignore[union-attr]
        named.append(("Regulation B age check", age_check["light"]))  # type: ignore[index]
    for finding in pack.get("monotonicity", []):  # type: ignore[union-attr]
        named.append((f"monotonicity {finding['feature']}", finding["light"]))
    counts = {light: sum(1 for _, given in named if given == light) for light in ("green", "yellow", "red")}
    return {"lights": counts, "red": [name for name, light in named if light == "red"]}


def flat_metrics(pack: dict[str, object]) -> dict[str, float]:
    """The pack's headline numbers as flat DVC metrics, for `dvc metrics diff` and the release gate."""
    discrimination = pack["discrimination"]  # type: ignore[index]
    return {
        "roc_auc_lower": discrimination["roc_auc_lower"], "roc_auc_upper": discrimination["roc_auc_upper"],
        "gini_lower": discrimination["gini_lower"], "gini_upper": discrimination["gini_upper"],
        "brier_skill": pack["brier_skill"],
        "calibration_slope": pack["calibration"]["slope"],  # type: ignore[index]
        "calibration_intercept": pack["calibration"]["intercept"],  # type: ignore[index]
        "hosmer_lemeshow_pvalue": pack["hosmer_lemeshow"]["pvalue"],  # type: ignore[index]
        "calibration_in_the_large_pvalue": pack["calibration_in_the_large"]["pvalue"],  # type: ignore[index]
        "auc_decline_pvalue": pack["auc_decline"]["pvalue"],  # type: ignore[index]
        "red_lights": float(pack["lights"]["red"]),  # type: ignore[index]
    }
