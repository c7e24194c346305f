"""The rules that turn drift numbers into verdicts: `ok`, `warn` or `alert`.

Every verdict the drift reports carry is decided here, and only here: the
level of a feature in a window, the status of a window, the performance and
PD-level verdicts of a labelled window and the review they ask for. The
cut-offs are the `drift` block of params.yaml (`DriftParams.rules` builds a
`DriftRules` from it); `DriftRules.to_json` is what `summary.json` records as
the rules used, so the dashboard shows verdicts and thresholds and decides
nothing.

A feature's level. A distribution shift is `warn`/`alert` only when its effect
reaches the cut-off (PSI, JS, or for numeric columns the KS distance) *and*
its test is significant after the multiplicity correction across the window's
features (`drift.p_adjust`). The effect cut-offs are the minimum effect size:
a window of a million rows makes every trivial shift significant but not
large. The JS and KS cut-offs default to the values that match PSI 0.1 / 0.25:
JS distance^2 is about PSI / (8 ln 2) for small shifts, and for a location
shift of s standard deviations KS is about 0.4 s while PSI is about s^2. The
missing share is judged the same way, on its own, so a jump from 0% to 30%
missing alerts even when the remaining values look unchanged. A value at a
cut-off reaches its level (`>=`); a missing (non-finite) value reaches none.

A window's status. `alert` when the score (the model's PD), the ROC-AUC drop or
the PD level is in alert, or `dataset_alert_share` of the features are in alert;
`warn` when the score, the ROC-AUC drop or the PD level is in warn, any feature
is in alert, or `dataset_warn_share` of the features have drifted (warn or
alert). The two shares count different things, so neither bounds the other. A
window with fewer than `min_window_rows` rows is `warn` and not judged further.

A labelled window's PD level (calibration in the large). Lenders price,
provision and set limits on the PD, so a PD level that moved costs money even
while the ranking holds. The window's observed defaults are tested against the
sum of its PDs (`creditrisk.monitoring.pd_level`: the Poisson-binomial test,
two-sided, with the ratio observed / expected and its 1 - `alpha` interval).
The level is `warn` when the ratio or its inverse reaches
`calibration_ratio_warn` *and* the test is significant (p < `alpha`), `alert`
at `calibration_ratio_alert`, also when significant: the ratio is the minimum
effect (a huge window makes a trivial gap significant), the test keeps a small
window's chance excess from counting. A window with fewer than
`calibration_min_expected_defaults` expected defaults (the PDs' sum, which does
not depend on the outcome, so an over-prediction cannot hide itself by
producing few defaults) is reported, not judged.

A labelled window's risk bands. Each band's binomial and Jeffreys tests of its
mean PD against its observed default rate get the validation pack's traffic
light (`creditrisk.modeling.validation.traffic_light`, the one rule for it) at
this block's levels, `band_test_yellow` and `band_test_red`. They count toward
the PD level: `calibration_red_bands` or more bands whose binomial test is red
make it at least `warn` (0 turns this off). The tests are one-sided (the band's
PD too low), so they catch an under-prediction concentrated in a few bands that
the window's total dilutes; only the binomial light counts, since the Jeffreys
test is its Bayesian twin and agrees within rounding. Two red bands of five
at red below 0.01 happen by chance about once in a thousand windows, so the rule
adds almost nothing to the false-alarm rate, which the total's test holds near
`alpha` (about 4 % of 700-loan windows without drift, tested).

The PD level enters the window's status like the ROC-AUC drop (its `warn` and
`alert` are the window's), and the latest labelled window's PD level asks for a
review like its ROC-AUC drop does (`retraining_review`). `review_action` names
the review: `retrain` when the ROC-AUC fell (the ranking is lost, and no
recalibration restores it), `recalibrate` when only the PD level moved.

Champion against challenger (`challenger_verdict`, from the `compare` block).
On the labelled rows both models scored, the challenger is `better`, `worse` or
there is `no evidence` either way. Two things are judged: the ranking, by the
paired DeLong test of the ROC-AUC difference at `compare.alpha` (two-sided),
and the PD level, by each model's calibration verdict above (a level lower in
ok < warn < alert is better). `worse` when either is worse, whatever the other
says: a better ranking does not excuse a PD level that misprices, nor a better
PD level a lost ranking. `better` when either is better and neither worse, and
the challenger's Brier score is at most the champion's plus
`compare.brier_tolerance` (so that neither is bought with a loss on the other
that the two verdicts miss). Otherwise, and with fewer than
`drift.min_labelled_defaults` defaults (a handful of defaults moves ROC-AUC by
chance), `no evidence`: keep the challenger in shadow until more labels mature.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

Level = Literal["ok", "warn", "alert"]
LEVELS: tuple[Level, ...] = ("ok", "warn", "alert")
"""The levels in rising order; a level's index is its severity (0, 1, 2)."""


@dataclass(frozen=True)
class Cutoffs:
    """The warn and alert cut-offs of one statistic."""

    warn: float
    alert: float

    def severity(self, value: float) -> int:
        """0, 1 or 2 (ok, warn, alert): the highest cut-off `value` reaches; a non-finite value reaches none."""
        if not np.isfinite(value):
            return 0
        return 2 if value >= self.alert else 1 if value >= self.warn else 0

    def to_json(self) -> dict[str, float]:
        return {"warn": self.warn, "alert": self.alert}


@dataclass(frozen=True)
class DriftRules:
    """Every cut-off a verdict uses, from params.yaml's `drift` block (see `DriftParams.rules`)."""

    psi: Cutoffs
    js: Cutoffs
    ks: Cutoffs
    missing: Cutoffs
    roc_auc_drop: Cutoffs
    estimated_roc_auc_drop: Cutoffs
    alpha: float
    p_adjust: str
    min_window_rows: int
    dataset_warn_share: float
    dataset_alert_share: float
    min_labelled_defaults: int
    band_test_yellow: float
    band_test_red: float
    calibration_ratio: Cutoffs
    calibration_min_expected_defaults: float
    calibration_exact_below: float
    calibration_red_bands: int

    @property
    def confidence(self) -> float:
        """The level of the PD-level ratio's interval: the complement of the test's significance."""
        return 1.0 - self.alpha

    def to_json(self) -> dict[str, Any]:
        """The rules as `summary.json` records them.

        `thresholds` is keyed by the report column each cut-off judges (features.csv
        and windows.json), so a reader draws a cut-off beside the column it judges.
        """
        return {
            "alpha": self.alpha,
            "p_adjust": self.p_adjust,
            "min_window_rows": self.min_window_rows,
            "min_labelled_defaults": self.min_labelled_defaults,
            "band_tests": {"yellow_below": self.band_test_yellow, "red_below": self.band_test_red},
            "calibration": {"min_expected_defaults": self.calibration_min_expected_defaults,
                            "exact_below": self.calibration_exact_below, "red_bands": self.calibration_red_bands,
                            "confidence": self.confidence},
            "thresholds": {
                "psi": self.psi.to_json(),
                "js": self.js.to_json(),
                "ks_stat": self.ks.to_json(),
                "missing_share_change": self.missing.to_json(),
                "score_psi": self.psi.to_json(),
                "score_js": self.js.to_json(),
                "score_ks": self.ks.to_json(),
                "roc_auc_drop": self.roc_auc_drop.to_json(),
                "estimated_roc_auc_drop": self.estimated_roc_auc_drop.to_json(),
                "calibration_ratio": self.calibration_ratio.to_json(),
                "share_drifted": {"warn": self.dataset_warn_share},
                "share_in_alert": {"alert": self.dataset_alert_share},
            },
        }


@dataclass(frozen=True)
class Verdict:
    """A level and the reason for it, in words a reviewer reads."""

    level: Level
    reason: str


class FeatureStatistics(Protocol):
    """What a feature's verdict reads: its statistics in one window (`drift.FeatureDrift`)."""

    kind: str
    status: str
    psi: float
    js: float
    ks_stat: float
    missing_share_ref: float
    missing_share_cur: float
    missing_share_change: float
    missing_pvalue_adj: float

    @property
    def test_pvalue_adj(self) -> float: ...


def _effect_severity(stats: FeatureStatistics, rules: DriftRules) -> tuple[int, str]:
    """The highest level any effect size reaches, and the statistics that reach it."""
    parts = [
        (rules.psi.severity(stats.psi), f"PSI {stats.psi:.3f}"),
        (rules.js.severity(stats.js), f"JS {stats.js:.3f}"),
    ]
    if stats.kind == "numeric":
        parts.append((rules.ks.severity(stats.ks_stat), f"KS {stats.ks_stat:.3f}"))
    severity = max(index for index, _ in parts)
    return severity, ", ".join(text for index, text in parts if index == severity and severity > 0)


def _significant(stats: FeatureStatistics, rules: DriftRules) -> bool:
    return bool(stats.test_pvalue_adj < rules.alpha)


def _distribution_severity(stats: FeatureStatistics, rules: DriftRules) -> tuple[int, str]:
    """An effect counts only when its (adjusted) test is significant too."""
    effect, effect_text = _effect_severity(stats, rules)
    pvalue = stats.test_pvalue_adj
    test = "KS" if stats.kind == "numeric" else "chi2"
    if effect and _significant(stats, rules):
        return effect, f"{effect_text}; {test} p_adj {pvalue:.2g}"
    if effect:
        return 0, f"{effect_text} but {test} p_adj {pvalue:.2g} >= alpha {rules.alpha}"
    if np.isfinite(pvalue) and pvalue < rules.alpha:
        return 0, f"{test} p_adj {pvalue:.2g} significant but effect below the minimum"
    return 0, ""


def _missing_severity(stats: FeatureStatistics, rules: DriftRules) -> tuple[int, str]:
    severity = rules.missing.severity(abs(stats.missing_share_change))
    if not severity or not stats.missing_pvalue_adj < rules.alpha:
        return 0, ""
    return severity, (f"missing share {stats.missing_share_ref:.1%} -> {stats.missing_share_cur:.1%}"
                      f" (p_adj {stats.missing_pvalue_adj:.2g})")


def feature_verdict(stats: FeatureStatistics, rules: DriftRules, window_rows: int) -> Verdict:
    """The level of one feature (or of the score) in a window of `window_rows` rows."""
    reasons = [stats.status] if stats.status != "ok" else []
    if window_rows < rules.min_window_rows:
        reasons.append(f"{window_rows} rows < min_window_rows {rules.min_window_rows}: not judged")
        return Verdict("ok", "; ".join(reasons))
    distribution, distribution_text = _distribution_severity(stats, rules)
    missing, missing_text = _missing_severity(stats, rules)
    reasons += [text for text in (distribution_text, missing_text) if text]
    return Verdict(LEVELS[max(distribution, missing)], "; ".join(reasons))


def statistic_levels(stats: FeatureStatistics, rules: DriftRules, window_rows: int) -> dict[str, Level]:
    """Each judged statistic's own part in the feature's level, keyed by its report column: an effect size
    (PSI, JS, KS for numbers) at the level its cut-offs give when the window's test is significant, else ok;
    the missing-share change at its own rule's level. The feature's level is the highest of them, so a chart
    of one statistic can colour it by its own verdict rather than by the feature's."""
    if window_rows < rules.min_window_rows:
        return {}
    significant = _significant(stats, rules)
    effects = {"psi": rules.psi.severity(stats.psi), "js": rules.js.severity(stats.js)}
    if stats.kind == "numeric":
        effects["ks_stat"] = rules.ks.severity(stats.ks_stat)
    levels: dict[str, Level] = {name: LEVELS[severity if significant else 0] for name, severity in effects.items()}
    levels["missing_share_change"] = LEVELS[_missing_severity(stats, rules)[0]]
    return levels


def level_counts(levels: Iterable[str]) -> dict[str, int]:
    """How many of `levels` are ok, warn and alert."""
    listed = list(levels)
    return {level: sum(item == level for item in listed) for level in LEVELS}


def drifted_share(counts: Mapping[str, int]) -> float:
    """Share of the features in warn or alert (0 for a window without features)."""
    return (counts["warn"] + counts["alert"]) / max(sum(counts.values()), 1)


def performance_severity(perf: Mapping[str, Any], rules: DriftRules) -> int:
    """0, 1 or 2 from the ROC-AUC drop against the out-of-time test.

    Not judged (0) without a ROC-AUC change or with fewer than
    `min_labelled_defaults` defaults: a handful of defaults moves ROC-AUC by chance.
    """
    delta = perf.get("delta_roc_auc")
    if delta is None or perf.get("defaults", 0) < rules.min_labelled_defaults:
        return 0
    return rules.roc_auc_drop.severity(-delta)


def estimated_performance_severity(perf: Mapping[str, Any], rules: DriftRules) -> int:
    """0, 1 or 2 from the estimated ROC-AUC's drop below the reference's estimate (CBPE,
    `monitoring.estimated`), for a window whose realised ROC-AUC is not judged (labels not in yet, or too
    few defaults): realised performance, once judged, outranks the estimate."""
    delta = perf.get("delta_estimated_roc_auc")
    realised_judged = perf.get("delta_roc_auc") is not None and perf.get("defaults", 0) >= rules.min_labelled_defaults
    if delta is None or realised_judged:
        return 0
    return rules.estimated_roc_auc_drop.severity(-delta)


def _ratio_severity(ratio: float | None, cutoffs: Cutoffs) -> int:
    """The level the ratio or its inverse reaches (a ratio of 0, no defaults at all, reaches alert)."""
    if ratio is None or not np.isfinite(ratio):
        return 0
    inverse = cutoffs.severity(1.0 / ratio) if ratio > 0 else 2
    return max(cutoffs.severity(ratio), inverse)


def red_band_count(band_tests: Iterable[Mapping[str, Any]]) -> int:
    """The bands whose binomial test is red (see the module docstring on why only that light counts)."""
    return sum(test.get("binomial_light") == "red" for test in band_tests)


def calibration_verdict(perf: Mapping[str, Any], rules: DriftRules) -> Verdict:
    """The PD level of a labelled window (see the module docstring), from the numbers `run.window_calibration`
    put in its record. `ok` with an empty reason for a window without labels."""
    expected = perf.get("calibration_expected_defaults")
    if expected is None:
        return Verdict("ok", "")
    if expected < rules.calibration_min_expected_defaults:
        return Verdict("ok", f"{expected:.1f} expected defaults < calibration_min_expected_defaults "
                             f"{rules.calibration_min_expected_defaults:g}: not judged")
    ratio, pvalue = perf.get("calibration_ratio"), perf["calibration_pvalue"]
    text = f"{perf.get('defaults', 0)} defaults vs {expected:.1f} expected"
    if ratio is not None:
        text += (f", ratio {ratio:.2f} ({rules.confidence:.0%} interval {perf['calibration_ratio_low']:.2f}-"
                 f"{perf['calibration_ratio_high']:.2f})")
    text += f", {perf['calibration_method']} p {pvalue:.2g}"
    severity = _ratio_severity(ratio, rules.calibration_ratio)
    if severity and not pvalue < rules.alpha:
        severity, text = 0, f"{text} >= alpha {rules.alpha}"
    red = int(perf.get("calibration_red_bands") or 0)
    if rules.calibration_red_bands and red >= rules.calibration_red_bands:
        severity = max(severity, 1)
        text += f"; {red} bands red"
    return Verdict(LEVELS[severity], text)


def calibration_severity(perf: Mapping[str, Any], rules: DriftRules) -> int:
    """0, 1 or 2: the PD level of a labelled window (`calibration_verdict`)."""
    return LEVELS.index(calibration_verdict(perf, rules).level)


def retraining_review(perf: Mapping[str, Any], rules: DriftRules) -> bool:
    """Whether a labelled window's ROC-AUC has fallen, or its PD level moved, far enough (warn or alert) to
    review the model."""
    return performance_severity(perf, rules) > 0 or calibration_severity(perf, rules) > 0


def review_action(perf: Mapping[str, Any], rules: DriftRules) -> Literal["retrain", "recalibrate"] | None:
    """What the review of a labelled window is about: `retrain` when the ROC-AUC fell (a recalibration keeps
    the ranking, so it cannot restore it), `recalibrate` when only the PD level moved, None without either."""
    if performance_severity(perf, rules) > 0:
        return "retrain"
    return "recalibrate" if calibration_severity(perf, rules) > 0 else None


def window_verdict(feature_levels: Sequence[str], score: Verdict | None, perf: Mapping[str, Any], rows: int,
                   rules: DriftRules) -> Verdict:
    """The status of one window from its features' levels, the score's verdict and its performance (the
    ROC-AUC drop, or its estimate before labels, and the PD level)."""
    if rows == 0:
        return Verdict("warn", "no rows in this window")
    if rows < rules.min_window_rows:
        return Verdict("warn", f"only {rows} rows (< min_window_rows {rules.min_window_rows}): not judged")
    counts = level_counts(feature_levels)
    features = max(len(feature_levels), 1)
    share_alert = counts["alert"] / features
    share_drifted = drifted_share(counts)
    score_severity = LEVELS.index(score.level) if score is not None else 0
    realised_severity = performance_severity(perf, rules)
    estimated_severity = estimated_performance_severity(perf, rules)
    calibration = calibration_verdict(perf, rules)
    perf_severity = max(realised_severity, estimated_severity, LEVELS.index(calibration.level))
    reasons = []
    if score is not None and score_severity:
        reasons.append(f"score {score.level}: {score.reason}")
    if realised_severity:
        reasons.append(f"ROC-AUC {perf['roc_auc']:.3f}, {perf['delta_roc_auc']:+.3f} vs out-of-time test")
    if calibration.level != "ok":
        reasons.append(f"PD level {calibration.level}: {calibration.reason}")
    if estimated_severity:
        reasons.append(f"estimated ROC-AUC {perf['estimated_roc_auc']:.3f}, {perf['delta_estimated_roc_auc']:+.3f} "
                       "vs the reference's estimate (labels not in yet)")
    if counts["alert"] or counts["warn"]:
        reasons.append(f"{counts['alert']} feature(s) in alert, {counts['warn']} in warn ({share_drifted:.0%} drifted)")
    reason = "; ".join(reasons)
    if score_severity == 2 or perf_severity == 2 or share_alert >= rules.dataset_alert_share:
        return Verdict("alert", reason)
    if score_severity or perf_severity or counts["alert"] or share_drifted >= rules.dataset_warn_share:
        return Verdict("warn", reason)
    return Verdict("ok", reason)


ChallengerOutcome = Literal["better", "no evidence", "worse"]
CHALLENGER_OUTCOMES: tuple[ChallengerOutcome, ...] = ("worse", "no evidence", "better")


@dataclass(frozen=True)
class CompareRules:
    """The champion-against-challenger verdict's cut-offs: `compare.alpha` and `compare.brier_tolerance`, and
    `drift.min_labelled_defaults` (`CompareParams.rules` builds it)."""

    alpha: float
    min_labelled_defaults: int
    brier_tolerance: float

    def to_json(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "min_labelled_defaults": self.min_labelled_defaults,
                "brier_tolerance": self.brier_tolerance}


@dataclass(frozen=True)
class ChallengerVerdict:
    """Whether the challenger is better than the champion, and why, in words a reviewer reads."""

    outcome: ChallengerOutcome
    reason: str


def _ranking_change(comparison: Mapping[str, Any], rules: CompareRules) -> tuple[int, str]:
    """+1 / -1 when the paired DeLong test says the challenger ranks better / worse, else 0; and the words."""
    champion, challenger = comparison["champion_roc_auc"], comparison["challenger_roc_auc"]
    pvalue = comparison["delong_pvalue"]
    text = f"ROC-AUC {challenger:.3f} vs {champion:.3f} (DeLong p {pvalue:.2g})"
    if not pvalue < rules.alpha:
        return 0, text
    return (1 if challenger > champion else -1), text


def _pd_level_change(comparison: Mapping[str, Any]) -> tuple[int, str]:
    """+1 / -1 when the challenger's PD-level verdict is lower / higher than the champion's, else 0."""
    champion = comparison.get("champion_calibration_level") or "ok"
    challenger = comparison.get("challenger_calibration_level") or "ok"
    change = LEVELS.index(champion) - LEVELS.index(challenger)
    return int(np.sign(change)), f"PD level {challenger} vs {champion}"


def challenger_verdict(comparison: Mapping[str, Any], rules: CompareRules) -> ChallengerVerdict:
    """The verdict on the labelled rows both models scored (see the module docstring), from the numbers
    `monitoring.compare.labelled_comparison` records: each model's ROC-AUC, the DeLong p-value, Brier and
    PD-level verdict. The reason gives the challenger's figure first, then the champion's."""
    defaults = comparison.get("defaults") or 0
    if not comparison.get("labelled_rows"):
        return ChallengerVerdict("no evidence", "no labelled rows scored by both models yet")
    if defaults < rules.min_labelled_defaults or comparison.get("delong_pvalue") is None:
        return ChallengerVerdict("no evidence", f"{defaults} defaults < min_labelled_defaults "
                                                f"{rules.min_labelled_defaults}: not judged")
    ranking, ranking_text = _ranking_change(comparison, rules)
    level, level_text = _pd_level_change(comparison)
    champion_brier, challenger_brier = comparison["champion_brier"], comparison["challenger_brier"]
    reason = (f"{ranking_text}; {level_text}; Brier {challenger_brier:.4f} vs {champion_brier:.4f} "
              f"(challenger vs champion, {comparison['labelled_rows']} loans, {defaults} defaults)")
    if ranking < 0 or level < 0:
        return ChallengerVerdict("worse", reason)
    if ranking > 0 or level > 0:
        if challenger_brier <= champion_brier + rules.brier_tolerance:
            return ChallengerVerdict("better", reason)
        return ChallengerVerdict("no evidence", f"{reason}: its Brier is higher by more than brier_tolerance "
                                                f"{rules.brier_tolerance:g}")
    return ChallengerVerdict("no evidence", reason)
