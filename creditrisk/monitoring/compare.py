"""Champion against challenger, window by window, and the verdict on promoting the challenger.

Two kinds of windows, by loan date (`drift.window`), each read one at a time:

- the prediction log's rows that carry a challenger: what each model said live (`creditrisk.serving.challenger`
  scores the API's shadow challenger and logs it beside the champion), one record per window and pair of
  versions, since a window may span a change of either model;
- the incoming batches, scored here by both model files (`drift.model_path` and `compare.challenger_path`),
  with their outcomes where labels matured.

The log holds no outcome (a logged row carries no loan id to join a matured label to), so the labelled
comparison runs on any scored data with outcomes: here the incoming batches, scored by both models the way the
API scores them. Per window: the share of decisions the two agree on, the band migration matrix (champion's
bands down, challenger's across), and the PSI of the challenger's PDs against the champion's on the champion's
quantile bins (`drift.psi_bins`, `drift.psi_epsilon`, as score drift). Where labels matured: each model's
ROC-AUC and the paired DeLong test of their difference (`modeling.validation.paired_delong_test`), each Brier
score, and each model's PD-level verdict with the drift stage's rules (`run.window_calibration`). The verdict
(`rules.challenger_verdict`) pools the latest `compare.verdict_windows` labelled windows that neither model was
fitted on: a month holds too few defaults to tell two good models apart, and a window whose labels fitted a
candidate (its training or recalibration data window, in its metadata) flatters it. On the sample, a model
retrained with 2026-05's labels ranks 2026-05 at ROC-AUC 0.852 against the champion's 0.777 (DeLong p 7e-7),
and the next two months at 0.786 against 0.787 (p 0.86). Such windows are reported, marked `in_sample`, and
left out of the verdict.

The report (formats in docs/interfaces.md): `windows.json`, one record per window and source, and
`summary.json`, the verdict, the pooled comparison, and the `make promote` command when the challenger is
better. The dashboard shows them and decides nothing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from creditrisk.data.contract import TARGET
from creditrisk.io import atomic_write_json, finite_json
from creditrisk.modeling.bundle import load_bundle, ModelBundle, APPROVE, REJECT
from creditrisk.modeling.validation import paired_delong_test
from creditrisk.monitoring.drift import DriftParams
from creditrisk.monitoring.profile import build_numeric_profile, numeric_sample
from creditrisk.monitoring.report import COMPARE_SUMMARY_FILE, COMPARE_WINDOWS_FILE
from creditrisk.monitoring.rules import challenger_verdict, ChallengerVerdict, CompareRules, DriftRules
from creditrisk.monitoring.run import score_frame, window_band_tests, window_calibration
from creditrisk.monitoring.statistics import psi, shares
from creditrisk.monitoring.windows import (
    index_batches,
    iter_incoming_windows,
    iter_log_windows,
    INCOMING,
    PREDICTION_LOG,
    WindowData,
)
from creditrisk.params import ParamsBlock

CALIBRATION_KEYS = ("calibration_level", "calibration_reason", "calibration_ratio", "calibration_ratio_low",
                    "calibration_ratio_high", "calibration_expected_defaults", "calibration_pvalue")
NO_CHALLENGER = ("compare.challenger_path names the champion's own model file: there is no challenger to score "
                 "the incoming batches (point it at a candidate's model file)")


@dataclass(frozen=True)
class CompareParams(ParamsBlock):
    """The `compare` block of params.yaml (windows, the log, bins and the PD-level rules are the `drift` block's)."""

    BLOCK: ClassVar[str] = "compare"
    challenger_path: str
    output_dir: str
    alpha: float
    verdict_windows: int
    brier_tolerance: float

    def problems(self) -> list[tuple[str, str]]:
        found = [] if 0 < self.alpha < 1 else [("alpha", "must be in (0, 1)")]
        found += [] if self.verdict_windows >= 1 else [("verdict_windows", "must be >= 1")]
        found += [] if self.brier_tolerance >= 0 else [("brier_tolerance", "must be >= 0")]
        return found

    def rules(self, drift: DriftParams) -> CompareRules:
        return CompareRules(self.alpha, drift.min_labelled_defaults, self.brier_tolerance)


@dataclass
class BothScores:
    """One window's rows as both models answered them; `defaulted` is 1 / 0 where the outcome matured, NaN
    elsewhere (None without outcomes at all)."""

    champion_version: str
    challenger_version: str
    champion_pd: np.ndarray
    challenger_pd: np.ndarray
    champion_band: np.ndarray
    challenger_band: np.ndarray
    champion_decision: np.ndarray
    challenger_decision: np.ndarray
    defaulted: np.ndarray | None = None

    @classmethod
    def scored(cls, frame: pd.DataFrame, champion: ModelBundle, challenger: ModelBundle) -> BothScores:
        """Both models on the rows of `frame` (contract columns, the outcome where present)."""
        pds = [score_frame(model, frame) for model in (champion, challenger)]
        champion_pd, challenger_pd = (np.empty(0) if values is None else values for values in pds)
        defaulted = (1.0 - frame[TARGET].to_numpy(dtype=float, na_value=np.nan)) if TARGET in frame else None
        return cls(champion.version, challenger.version, champion_pd, challenger_pd, champion.band_of(champion_pd),
                   challenger.band_of(challenger_pd), champion.decide(champion_pd), challenger.decide(challenger_pd),
                   defaulted)

    @classmethod
    def logged(cls, rows: pd.DataFrame) -> Iterator[BothScores]:
        """The log's rows that carry a challenger, one `BothScores` per pair of versions (champion, challenger)."""
        shadowed = rows[rows["challenger_pd"].notna()]
        for (champion, challenger), part in shadowed.groupby(["model_version", "challenger_version"], sort=True,
                                                             observed=True):
            yield cls(str(champion), str(challenger), part["pd"].to_numpy(float),
                      part["challenger_pd"].to_numpy(float), part["band"].to_numpy(object),
                      part["challenger_band"].to_numpy(object), part["decision"].to_numpy(object),
                      part["challenger_decision"].to_numpy(object))

    def __len__(self) -> int:
        return len(self.champion_pd)


def band_order(values: np.ndarray, model: ModelBundle | None) -> list[str]:
    """The bands in the model's order (riskiest last), then any other band the rows hold, sorted."""
    known = [band.name for band in model.bands] if model is not None else []
    return known + sorted({str(value) for value in values} - set(known))


def band_migration(champion: np.ndarray, challenger: np.ndarray, champion_bands: Sequence[str],
                   challenger_bands: Sequence[str]) -> dict[str, Any]:
    """Rows by (champion's band, challenger's band): `counts[i][j]` rows the champion put in
    `champion_bands[i]` and the challenger in `challenger_bands[j]`."""
    table = pd.crosstab(pd.Categorical(champion, categories=list(champion_bands)),
                        pd.Categorical(challenger, categories=list(challenger_bands)), dropna=False)
    return {"champion_bands": list(champion_bands), "challenger_bands": list(challenger_bands),
            "counts": table.to_numpy(dtype=int).tolist()}


def pd_psi(champion_pd: np.ndarray, challenger_pd: np.ndarray, bins: int, epsilon: float) -> float | None:
    """PSI of the challenger's PDs against the champion's, on the champion's quantile bins (as score drift bins
    the reference's PDs, `monitoring.profile`)."""
    if len(champion_pd) == 0:
        return None
    reference = build_numeric_profile("pd", champion_pd, bins)
    current = numeric_sample(challenger_pd).bin_counts(reference.edges)
    return psi(reference.shares, shares(current), epsilon)


def agreement(scores: BothScores, champion: ModelBundle | None, challenger: ModelBundle | None,
              drift: DriftParams) -> dict[str, Any]:
    """What needs no outcome: decisions agreed on, the band migration, the PDs' PSI and means."""
    rows = len(scores)
    differ = scores.champion_decision != scores.challenger_decision
    return {
        "rows": rows,
        "decision_agreement": float(1 - differ.mean()) if rows else None,
        "disagreements": int(differ.sum()),
        "approved_by_champion_only": int(((scores.champion_decision == APPROVE) & differ).sum()),
        "approved_by_challenger_only": int(((scores.challenger_decision == APPROVE) & differ).sum()),
        "champion_reject_rate": float(np.mean(scores.champion_decision == REJECT)) if rows else None,
        "challenger_reject_rate": float(np.mean(scores.challenger_decision == REJECT)) if rows else None,
        "champion_mean_pd": float(scores.champion_pd.mean()) if rows else None,
        "challenger_mean_pd": float(scores.challenger_pd.mean()) if rows else None,
        "pd_psi": pd_psi(scores.champion_pd, scores.challenger_pd, drift.psi_bins, drift.psi_epsilon),
        "band_migration": band_migration(scores.champion_band, scores.challenger_band,
                                         band_order(scores.champion_band, champion),
                                         band_order(scores.challenger_band, challenger)),
    }


def model_calibration(defaulted: np.ndarray, pd_values: np.ndarray, model: ModelBundle | None,
                      rules: DriftRules, prefix: str) -> dict[str, Any]:
    """One model's PD-level verdict on labelled rows, by the drift stage's own functions and rules."""
    frame = pd.DataFrame({TARGET: 1.0 - defaulted})
    bands = window_band_tests(frame, pd_values, model, rules).get("band_tests", [])
    record = window_calibration(frame, pd_values, rules, bands)
    return {f"{prefix}{key}": record.get(key) for key in CALIBRATION_KEYS}


def labelled_comparison(defaulted: np.ndarray, champion_pd: np.ndarray, challenger_pd: np.ndarray,
                        champion: ModelBundle | None, challenger: ModelBundle | None, rules: DriftRules,
                        confidence: float) -> dict[str, Any]:
    """Both models on the rows whose outcome matured: ROC-AUC with the paired DeLong test, Brier, PD level."""
    labelled = ~np.isnan(defaulted)
    y, first, second = defaulted[labelled], champion_pd[labelled], challenger_pd[labelled]
    if not labelled.any():
        return {"labelled_rows": 0}
    record: dict[str, Any] = {"labelled_rows": int(labelled.sum()), "defaults": int(y.sum()),
                              "default_rate": float(y.mean()),
                              "champion_brier": float(np.mean((first - y) ** 2)),
                              "challenger_brier": float(np.mean((second - y) ** 2))}
    if 0 < y.sum() < y.size:
        test = paired_delong_test(y, first, second, confidence)
        record.update({"champion_roc_auc": test.first_auc, "challenger_roc_auc": test.second_auc,
                       "roc_auc_difference": test.difference, "roc_auc_difference_low": test.lower,
                       "roc_auc_difference_high": test.upper, "delong_z": test.statistic,
                       "delong_pvalue": test.pvalue})
    record.update(model_calibration(y, first, champion, rules, "champion_"))
    record.update(model_calibration(y, second, challenger, rules, "challenger_"))
    return record


def labels_seen_until(model: ModelBundle | None) -> pd.Timestamp | None:
    """The last loan date whose label the model was fitted on: the end of its recalibration's data window, else of
    its training window (`modeling.training.data_window`, in the bundle's metadata); None when it records neither."""
    if model is None:
        return None
    windows = [model.metadata.get("data_window"), (model.metadata.get("recalibration") or {}).get("data_window")]
    windows = [window.get("train", window) if isinstance(window, dict) else {} for window in windows]
    ends = [pd.Timestamp(window["end"]) for window in windows if isinstance(window, dict) and window.get("end")]
    return max(ends) if ends else None


def window_record(data: WindowData, scores: BothScores, champion: ModelBundle | None,
                  challenger: ModelBundle | None, drift: DriftParams, confidence: float,
                  seen_until: pd.Timestamp | None = None) -> dict[str, Any]:
    """One window's comparison; `in_sample` when a model was fitted on labels of loans this window holds."""
    window = data.window
    record: dict[str, Any] = {"window": window.label, "source": window.source, "start": window.start.isoformat(),
                              "end": window.end.isoformat(), "champion_version": scores.champion_version,
                              "challenger_version": scores.challenger_version,
                              **agreement(scores, champion, challenger, drift)}
    if window.source == INCOMING:
        record["in_sample"] = bool(seen_until is not None and window.start <= seen_until)
    if scores.defaulted is not None:
        record.update(labelled_comparison(scores.defaulted, scores.champion_pd, scores.challenger_pd, champion,
                                          challenger, drift.rules, confidence))
    return finite_json(record)


@dataclass
class CompareReport:
    summary: dict[str, Any]
    windows: list[dict[str, Any]]


def promote_command(verdict: ChallengerVerdict, version: str, windows: Sequence[str]) -> str | None:
    """The command that promotes a better challenger (the release gate still runs); None otherwise."""
    if verdict.outcome != "better":
        return None
    reason = f"compare {windows[0]}..{windows[-1]}: {verdict.reason}".replace('"', "'")
    return f'make promote VERSION={version} STAGE=prod REASON="{reason}"'


NEXT_STEP = {"better": "promote the challenger with the command below (the release gate runs first)",
             "no evidence": "keep the challenger in shadow until more labels mature",
             "worse": "keep the champion; retire this challenger"}


IN_SAMPLE_ONLY = ("every labelled window holds loans whose labels a model was fitted on (`in_sample`): wait for "
                  "labels of later loans")


def summarise(windows: Sequence[dict[str, Any]], pooled: dict[str, Any], pooled_windows: Sequence[str],
              champion: ModelBundle, challenger: ModelBundle | None, challenger_path: str,
              rules: CompareRules) -> dict[str, Any]:
    """The verdict on the pooled labelled windows, what to do next, and the logged traffic at a glance."""
    logged = [window for window in windows if window["source"] == PREDICTION_LOG]
    in_sample = [window["window"] for window in windows if window.get("in_sample") and window.get("labelled_rows")]
    if challenger is None:
        verdict = ChallengerVerdict("no evidence", NO_CHALLENGER)
    elif not pooled_windows and in_sample:
        verdict = ChallengerVerdict("no evidence", IN_SAMPLE_ONLY)
    else:
        verdict = challenger_verdict(pooled, rules)
    version = challenger.version if challenger is not None else None
    return finite_json({
        "champion_version": champion.version, "challenger_version": version, "challenger_path": challenger_path,
        "verdict": verdict.outcome, "reason": verdict.reason, "next_step": NEXT_STEP[verdict.outcome],
        "promote_command": promote_command(verdict, version, pooled_windows) if version else None,
        "verdict_windows": list(pooled_windows), "in_sample_windows": in_sample, "pooled": pooled,
        "logged_rows": sum(window["rows"] for window in logged),
        "logged_pairs": sorted({f"{w['champion_version']} vs {w['challenger_version']}" for w in logged}),
        "latest_logged_window": logged[-1]["window"] if logged else None,
        "latest_logged_agreement": logged[-1]["decision_agreement"] if logged else None,
        "rules": rules.to_json(),
    })


def challenger_bundle(champion_path: Path, challenger_path: Path) -> ModelBundle | None:
    """The challenger's bundle, verified and loaded (`bundle.load_bundle`); None when the path is the
    champion's own file (no challenger yet)."""
    if Path(challenger_path).resolve() == Path(champion_path).resolve():
        return None
    return load_bundle(Path(challenger_path))


def _windows(incoming: Sequence[Path], log_target: Path | str | None, drift: DriftParams,
             compare_incoming: bool) -> Iterable[WindowData]:
    index = index_batches(incoming, drift.window, drift.day_first) if compare_incoming else []
    logged = iter_log_windows(log_target, drift.window) if log_target is not None else iter(())
    return chain(iter_incoming_windows(index, drift.window), logged)


def run_compare(params: CompareParams, drift: DriftParams, champion: ModelBundle, challenger: ModelBundle | None,
                incoming: Sequence[Path], log_target: Path | str | None) -> CompareReport:
    """Every window of the incoming batches (when there is a challenger to score them) and of the prediction log's
    shadowed rows, then the verdict on the latest `params.verdict_windows` labelled incoming windows pooled that
    neither model was fitted on."""
    rules, confidence = params.rules(drift), 1.0 - params.alpha
    seen_until = max([moment for moment in map(labels_seen_until, (champion, challenger)) if moment is not None],
                     default=None)
    records: list[dict[str, Any]] = []
    recent: deque[tuple[str, BothScores]] = deque(maxlen=params.verdict_windows)
    for data in _windows(incoming, log_target, drift, challenger is not None):
        if data.window.source == INCOMING:
            assert challenger is not None
            pairs = [BothScores.scored(data.frame, champion, challenger)] if len(data.frame) else []
        else:
            pairs = list(BothScores.logged(data.frame)) if len(data.frame) else []
        for scores in pairs:
            record = window_record(data, scores, champion, challenger, drift, confidence, seen_until)
            records.append(record)
            if record.get("labelled_rows") and not record.get("in_sample"):
                recent.append((data.window.label, scores))
        del data
    records.sort(key=lambda record: (record["end"], record["source"] != INCOMING))
    pooled: dict[str, Any] = {"labelled_rows": 0}
    if recent:
        def joined(name: str) -> np.ndarray:
            return np.concatenate([getattr(scores, name) for _, scores in recent])
        pooled = finite_json(labelled_comparison(joined("defaulted"), joined("champion_pd"), joined("challenger_pd"),
                                                 champion, challenger, drift.rules, confidence))
    summary = summarise(records, pooled, [label for label, _ in recent], champion, challenger,
                        params.challenger_path, rules)
    return CompareReport(summary, records)


def write_compare_report(report: CompareReport, output_dir: Path) -> None:
    """Both files atomically (each complete or absent)."""
    atomic_write_json(Path(output_dir) / COMPARE_WINDOWS_FILE, report.windows)
    atomic_write_json(Path(output_dir) / COMPARE_SUMMARY_FILE, report.summary)
