"""The drift run on Dask: per-partition histograms on the reference profile's frozen bins, summed per window.

Each partition (an export file, or a parquet row group) is read, coerced with the data contract for
scoring and scored by the model on a worker (`partition_histograms`), which keeps, for every window
(`drift.window` of the date column) it holds: per feature the missing count and the counts on the profile's
bins, for numeric features the counts on a KS grid, and the window's PDs and labels (two numbers per row,
what the performance and band checks of `window_record` need). Those stay on the worker; the client learns
only which windows each partition holds. Then one task per window, on the cluster too (`window_result`),
gathers its partitions' parts, sums the counts and computes the window's statistics and record from the
sums, so

- PSI, Jensen-Shannon, chi-square and the missing-share test equal the pandas engine's exactly (they
  are functions of bin counts, and counts add), and so do the PD-based records (the same PDs, computed in the
  pandas engine's chunks, joined in file order);
- KS is computed on a grid: every distinct reference value when there are at most `drift.ks_grid_points`
  of them (else that many reference quantiles). Between two grid points both ECDFs are monotone, so the
  grid statistic D_grid and the exact D satisfy D_grid <= D <= D_grid + b, with b the largest share of
  either sample strictly inside one grid interval (`ks_error_bound`, reported per run). With the grid on
  every reference value the reference has no mass inside an interval, and b = 0 whenever the window's
  values are values the reference had (counts, codes, rounded amounts). The p-value is then scipy's for
  D_grid and the same sample sizes (`ks_pvalue`).

The workers are set up and load the model before the partitions start (`serving.cluster`), as for batch
scoring. Memory per worker is one partition while it is read, plus the PDs and labels of its partitions
until their windows are done (12 bytes a row); the client holds the reports' small results only.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp
from threadpoolctl import threadpool_limits

from creditrisk.io import file_digest, finite_json
from creditrisk.modeling.bundle import ModelBundle
from creditrisk.monitoring.estimated import EstimatedPerformance
from creditrisk.monitoring.drift import (
    bin_distribution,
    bootstrap_psi_limit,
    compare_categorical_counts,
    compare_window,
    feature_rows,
    judge_features,
    missing_part,
    DriftParams,
    FeatureDrift,
    WindowDrift,
)
from creditrisk.monitoring.profile import CategoricalProfile, NumericProfile, ReferenceProfile
from creditrisk.monitoring.rules import feature_verdict
from creditrisk.monitoring.run import (
    reference_baseline,
    score_frame,
    current_windows,
    build_summary,
    window_record,
    DriftReport,
    FEATURE_COLUMNS_ORDER,
)
from creditrisk.monitoring.statistics import (
    js_distance,
    kstwo_sf,
    psi,
    shares,
    CompactSample,
    SCIPY_EXACT_KS_MAX_N,
)
from creditrisk.monitoring.windows import make_window, periods_of, INCOMING, PERIOD_FREQUENCIES, WindowData
from creditrisk.serving.batch import partitions_of, read_partition, worker_model, Partition
from creditrisk.serving.cluster import on_each_worker, prepare_workers
from creditrisk.data.contract import coerce_and_validate, ContractError, DATE, TARGET

STRUCTURAL_RULES = ("required_column_missing", "ambiguous_date_order")


def ks_grid(sample: CompactSample, points: int) -> np.ndarray:
    """Every distinct reference value, or `points` of them at equal reference-count steps (ends kept)."""
    if sample.values.size <= points:
        return sample.values.copy()
    targets = np.linspace(1, sample.size, points)
    index = np.searchsorted(sample.cumulative, targets, side="left")
    return np.unique(np.concatenate((sample.values[index], sample.values[[0, -1]])))


def ks_pvalue(statistic: float, n_ref: int, n_cur: int) -> float:
    """The p-value `scipy.stats.ks_2samp` (method auto, two-sided) gives a statistic with these sample sizes.

    Exact distribution when both samples are at most 10,000, else `kstwo.sf(D, round(n m / (n + m)))` as in
    `ks_2samp_compact`. The exact p-value depends only on D, n and m, so it is scipy's own for two samples
    that have this D: each takes two values, 0 and 2, with a of the n and b of the m at 0 where
    |a/n - b/m| = D (the empirical CDFs differ only on [0, 2), by exactly D).
    """
    if max(n_ref, n_cur) <= SCIPY_EXACT_KS_MAX_N:
        counts = _two_point_counts(statistic, n_ref, n_cur)
        if counts is not None:
            at_zero_ref, at_zero_cur = counts
            reference = np.repeat([0.0, 2.0], [at_zero_ref, n_ref - at_zero_ref])
            current = np.repeat([0.0, 2.0], [at_zero_cur, n_cur - at_zero_cur])
            return float(np.clip(ks_2samp(reference, current).pvalue, 0.0, 1.0))
    m, n = sorted([float(n_ref), float(n_cur)], reverse=True)
    return float(np.clip(kstwo_sf(statistic, int(np.round(m * n / (m + n)))), 0.0, 1.0))


def _two_point_counts(statistic: float, n_ref: int, n_cur: int) -> tuple[int, int] | None:
    """(a, b) with |a / n_ref - b / n_cur| = statistic, or None when no pair gives it (to 1e-9)."""
    a = np.arange(n_ref + 1)
    b = np.rint((a / n_ref - statistic) * n_cur).astype(int)
    exact = (b >= 0) & (b <= n_cur) & (np.abs(a / n_ref - b / n_cur - statistic) <= 1e-9)
    found = np.flatnonzero(exact)
    return (int(a[found[0]]), int(b[found[0]])) if found.size else None


@dataclass(frozen=True)
class NumericBins:
    """What a worker needs of one numeric profile: the PSI edges and the KS grid."""

    name: str
    edges: np.ndarray
    grid: np.ndarray


@dataclass(frozen=True)
class HistogramSpec:
    """The frozen bins every partition is counted on (shipped once to the workers)."""

    numeric: dict[str, NumericBins]
    categorical: dict[str, CategoricalProfile]
    score: NumericBins | None
    window: str
    day_first: bool | None


def numeric_counts(values: np.ndarray, bins: NumericBins) -> dict[str, Any]:
    """Missing count, PSI-bin counts, KS-grid counts (per interval, and at each grid point), min and max."""
    finite = np.isfinite(values)
    kept = values[finite]
    position = np.searchsorted(bins.grid, kept, side="left")
    at_point = position < bins.grid.size
    equal = position[at_point][bins.grid[position[at_point]] == kept[at_point]]
    return {
        "rows": int(values.size),
        "missing": int(values.size - kept.size),
        "bins": np.bincount(np.searchsorted(bins.edges, kept, side="left"), minlength=bins.edges.size + 1),
        "grid_le": np.bincount(position, minlength=bins.grid.size + 1),
        "grid_eq": np.bincount(equal, minlength=bins.grid.size),
        "min": float(kept.min()) if kept.size else np.inf,
        "max": float(kept.max()) if kept.size else -np.inf,
    }


@dataclass
class WindowPart:
    """One partition's share of one window."""

    partition: int
    source: str
    rows: int
    features: dict[str, dict[str, Any]]
    score: dict[str, Any] | None
    pd_values: np.ndarray | None
    target: np.ndarray | None  # 0/1 or NaN, sent as float32 (exact) and read as float64
    values_nulled: int
    issues: list[str]


def _coerced(part: Partition, day_first: bool | None) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """The partition under the contract for scoring, as the pandas engine reads a batch file."""
    result = coerce_and_validate(read_partition(part), purpose="scoring", day_first=day_first)
    structural = [issue for issue in result.fatal if issue.rule in STRUCTURAL_RULES]
    if structural:
        raise ContractError(structural, part.source)
    frame = result.frame.reset_index(drop=True)
    nulled = np.zeros(len(frame), dtype=np.int64)
    for positions in result.nulled_rows.values():
        np.add.at(nulled, positions, 1)
    name = Path(part.source).name
    issues = [f"{name}: column {i.column!r} rule {i.rule!r} in {i.count} row(s)" for i in result.fatal]
    return frame, nulled, issues


@dataclass
class PartitionHistograms:
    """One partition's windows (period ordinal -> its part) and its rows without a loan date (in no window).
    Stays on the worker that made it: only `summary()` goes to the client, and a window's task gathers the
    parts of its partitions."""

    source: str
    windows: dict[int, WindowPart]
    undated: int

    def summary(self) -> tuple[str, list[int], int]:
        return self.source, sorted(self.windows), self.undated


def partition_histograms(part: Partition, spec: HistogramSpec, model_path: str | None,
                         digest: str | None) -> PartitionHistograms:
    """Per window (period ordinal) of one partition: counts on the frozen bins, PDs and labels; and the
    number of its rows without a loan date."""
    with threadpool_limits(limits=1):
        frame, nulled, issues = _coerced(part, spec.day_first)
        model = worker_model(model_path, digest) if model_path and digest else None
        periods = periods_of(frame[DATE], spec.window).array.asi8
        windows: dict[int, WindowPart] = {}
        dated = periods != pd.NaT.value
        for ordinal in np.unique(periods[dated]):
            rows = frame[periods == ordinal].reset_index(drop=True)
            windows[int(ordinal)] = _window_part(part, spec, rows, model, int(nulled[periods == ordinal].sum()),
                                                 issues)
        return PartitionHistograms(part.source, windows, int((~dated).sum()))


def partition_summary(histograms: PartitionHistograms) -> tuple[str, list[int], int]:
    """What the client learns of a partition: its source, its windows' ordinals, its rows without a date."""
    return histograms.summary()


def _window_part(part: Partition, spec: HistogramSpec, rows: pd.DataFrame, model: ModelBundle | None,
                 values_nulled: int, issues: list[str]) -> WindowPart:
    features: dict[str, dict[str, Any]] = {}
    for name, bins in spec.numeric.items():
        column = rows[name].to_numpy(dtype=float, na_value=np.nan) if name in rows.columns else np.full(len(rows), np.nan)
        features[name] = numeric_counts(column, bins)
    for name, profile in spec.categorical.items():
        column = rows[name] if name in rows.columns else pd.Series(pd.NA, index=rows.index, dtype="string")
        features[name] = {"counts": profile.bin_counts(column)}
    pd_values = score_frame(model, rows)  # in the pandas engine's chunks: the same PDs, bounded memory
    score = numeric_counts(pd_values, spec.score) if spec.score is not None and pd_values is not None else None
    target = rows[TARGET].to_numpy(dtype=np.float32, na_value=np.nan) if TARGET in rows.columns else None
    return WindowPart(part.number, part.source, len(rows), features, score, pd_values, target, values_nulled, issues)


@dataclass
class WindowTotals:
    """A window's parts from every partition, summed (counts) or joined in partition order (rows)."""

    parts: list[WindowPart] = field(default_factory=list)

    def ordered(self) -> list[WindowPart]:
        return sorted(self.parts, key=lambda part: part.partition)

    def counts(self, name: str) -> dict[str, Any]:
        items = [part.features[name] for part in self.parts]
        return _sum_counts(items)

    def score_counts(self) -> dict[str, Any] | None:
        items = [part.score for part in self.parts if part.score is not None]
        return _sum_counts(items) if items else None

    def column(self, attribute: str) -> np.ndarray | None:
        arrays = [getattr(part, attribute) for part in self.ordered()]
        present = [array for array in arrays if array is not None]
        return np.concatenate(present).astype("float64", copy=False) if present else None


def _sum_counts(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {}
    for key in items[0]:
        values = [item[key] for item in items]
        total[key] = min(values) if key == "min" else max(values) if key == "max" else sum(values[1:], values[0])
    return total


def grid_ks(profile: NumericProfile, bins: NumericBins, counts: dict[str, Any]) -> tuple[float, float]:
    """KS distance on the grid and the bound b of its error (D_grid <= D <= D_grid + b).

    Intervals: (-inf, g_0), (g_0, g_1), ..., (g_last, inf), open; b is the largest share of either sample
    inside one of them.
    """
    n_ref, n_cur = profile.sample.size, int(counts["rows"] - counts["missing"])
    grid = bins.grid
    ref_at = profile.sample.count_at_or_below(grid)
    ref_below = profile.sample.count_at_or_below(np.nextafter(grid, -np.inf))
    cur_at = np.cumsum(counts["grid_le"])[:-1]
    statistic = float(np.abs(ref_at / n_ref - cur_at / n_cur).max()) if grid.size else 0.0
    ref_inside = np.concatenate((ref_below, [n_ref])) - np.concatenate(([0], ref_at))
    cur_inside = np.concatenate((counts["grid_le"][:-1] - counts["grid_eq"], counts["grid_le"][-1:]))
    return statistic, max(float(ref_inside.max()) / n_ref, float(cur_inside.max()) / n_cur)


def compare_numeric_counts(profile: NumericProfile, bins: NumericBins, counts: dict[str, Any], params: DriftParams,
                           rng: np.random.Generator) -> tuple[FeatureDrift, dict[str, Any], float]:
    """`drift.compare_numeric` from summed counts (same statistics, same order of random draws); also the
    KS grid's error bound."""
    rows, missing = int(counts["rows"]), int(counts["missing"])
    values = rows - missing
    result = FeatureDrift(feature=profile.name, kind="numeric", status="ok", rows=rows, values=values,
                          **missing_part(rows, missing, profile.rows, profile.missing))
    reference_shares = profile.shares
    bound = 0.0
    if values == 0 or profile.sample.size == 0:
        result.status = "empty"
        current_shares = np.zeros_like(reference_shares)
    else:
        current_shares = shares(counts["bins"])
        result.ks_stat, bound = grid_ks(profile, bins, counts)
        result.ks_pvalue = ks_pvalue(result.ks_stat, profile.sample.size, values)
        result.psi = psi(reference_shares, current_shares, params.psi_epsilon)
        result.js = js_distance(reference_shares, current_shares)
        result.psi_limit = bootstrap_psi_limit(reference_shares, values, params, rng)
        current_constant = values >= 2 and counts["min"] == counts["max"]
        result.status = "constant" if profile.constant or current_constant else "ok"
    distribution = bin_distribution(profile.labels, reference_shares, current_shares,
                                    result.missing_share_ref, result.missing_share_cur)
    return result, distribution, bound


@dataclass
class DaskWindow:
    drift: WindowDrift
    ks_bounds: dict[str, float]


def window_from_totals(profile: ReferenceProfile, spec: HistogramSpec, totals: WindowTotals, rows: int,
                       params: DriftParams, rng: np.random.Generator) -> DaskWindow:
    """`drift.compare_window` on summed counts: features in profile order, then the score."""
    results: list[FeatureDrift] = []
    distributions: dict[str, dict[str, Any]] = {}
    bounds: dict[str, float] = {}
    for name, feature in profile.features.items():
        if isinstance(feature, NumericProfile):
            counts = totals.counts(name) if totals.parts else numeric_counts(np.empty(0), spec.numeric[name])
            result, distributions[name], bounds[name] = compare_numeric_counts(
                feature, spec.numeric[name], counts, params, rng)
        else:
            counts = totals.counts(name)["counts"] if totals.parts else np.zeros(len(feature.labels), np.int64)
            result, distributions[name] = compare_categorical_counts(feature, counts, params, rng)
        results.append(result)
    judge_features(results, params, rows)
    score = None
    if profile.score is not None and spec.score is not None:
        counts = totals.score_counts() or numeric_counts(np.empty(0), spec.score)
        score, distributions[profile.score.name], bounds[profile.score.name] = compare_numeric_counts(
            profile.score, spec.score, counts, params, rng)
        score.ks_pvalue_adj = score.ks_pvalue
        score.missing_pvalue_adj = score.missing_pvalue
        verdict = feature_verdict(score, params.rules, rows)
        score.level, score.reason = verdict.level, verdict.reason
    return DaskWindow(WindowDrift(results, distributions, score), bounds)


def histogram_spec(profile: ReferenceProfile, params: DriftParams) -> HistogramSpec:
    numeric = {name: NumericBins(name, feature.edges, ks_grid(feature.sample, params.ks_grid_points))
               for name, feature in profile.features.items() if isinstance(feature, NumericProfile)}
    categorical = {name: feature for name, feature in profile.features.items()
                   if isinstance(feature, CategoricalProfile)}
    score = None
    if profile.score is not None:
        score = NumericBins(profile.score.name, profile.score.edges,
                            ks_grid(profile.score.sample, params.ks_grid_points))
    return HistogramSpec(numeric, categorical, score, params.window, params.day_first)


@dataclass(frozen=True)
class WindowContext:
    """What every window's task reads besides its partitions (shipped once to each worker)."""

    profile: ReferenceProfile
    spec: HistogramSpec
    params: DriftParams
    model_path: str | None
    digest: str | None
    test_metrics: dict[str, Any] | None
    reference_estimate: EstimatedPerformance | None


@dataclass
class WindowResult:
    """One window's lines of the report: its record (windows.json), its features' rows (features.csv), its
    distributions, and the KS grid's error bound per feature."""

    record: dict[str, Any]
    rows: list[dict[str, Any]]
    distributions: dict[str, Any]
    ks_bounds: dict[str, float]


def window_result(position: int, period: pd.Period, context: WindowContext,
                  partitions: Sequence[PartitionHistograms]) -> WindowResult:
    """The window's statistics from its partitions' parts, on the worker the task runs in: counts summed,
    PDs and labels joined in partition order, as the pandas engine reads the window (its `position` among
    the windows seeds the random draws, as there)."""
    with threadpool_limits(limits=1):
        params = context.params
        totals = WindowTotals([part.windows[period.ordinal] for part in partitions if period.ordinal in part.windows])
        model = worker_model(context.model_path, context.digest) if context.model_path and context.digest else None
        data, pd_values = _window_data(period, params, totals, model)
        rng = np.random.default_rng([params.seed, position])
        result = window_from_totals(context.profile, context.spec, totals, len(data.frame), params, rng)
        record = window_record(data, result.drift, pd_values, model, context.test_metrics, params,
                               context.reference_estimate, params.seed + position)
        return WindowResult(record, feature_rows(data.window.label, data.window.source, result.drift),
                            finite_json(result.drift.distributions), result.ks_bounds)


def load_model(model_path: str, digest: str) -> None:
    """Load the model in this worker (`worker_model` keeps it for the tasks)."""
    worker_model(model_path, digest)


def model_warmup(model_path: Path) -> Callable[[], None]:
    """`load_model` of the model file as `run_drift_dask` names it: given to `cluster.dask_client` as `inherit`,
    forked workers start with the model loaded once in the job's process."""
    path = Path(model_path).resolve()
    return functools.partial(load_model, str(path), file_digest(path))


def windows_on_cluster(client: Any, parts: Sequence[Partition], context: WindowContext
                       ) -> tuple[list[WindowResult], dict[str, int]]:
    """Every window of the partitions, computed on the cluster (see the module docstring): the results in
    window order, and the rows without a date per file."""
    from distributed import as_completed

    prepare_workers(client)
    if context.model_path and context.digest:
        on_each_worker(client, functools.partial(load_model, context.model_path, context.digest))
    job = uuid.uuid4().hex
    spec_future = client.scatter(context.spec, broadcast=True, hash=False)
    histograms = client.map(partition_histograms, list(parts), spec=spec_future, model_path=context.model_path,
                            digest=context.digest, key=[f"drift-{job}-{part.number}" for part in parts], pure=False)
    summaries = client.map(partition_summary, histograms, key=[f"drift-summary-{job}-{part.number}" for part in parts],
                           pure=False)
    holding: dict[int, list[int]] = {}  # window ordinal -> the partitions that hold rows of it
    undated: dict[str, int] = {}
    futures = [*histograms, *summaries]
    try:
        position_of = {future.key: number for number, future in enumerate(summaries)}
        for future in as_completed(summaries):
            source, ordinals, without_date = future.result()
            for ordinal in ordinals:
                holding.setdefault(ordinal, []).append(position_of[future.key])
            if without_date:
                name = Path(source).name
                undated[name] = undated.get(name, 0) + without_date
        context_future = client.scatter(context, broadcast=True, hash=False)
        windows = [client.submit(window_result, position, period, context_future,
                                 [histograms[number] for number in sorted(holding.get(period.ordinal, []))],
                                 key=f"drift-window-{job}-{position}", pure=False)
                   for position, period in enumerate(_periods(holding, context.params.window))]
        futures += windows
        return client.gather(windows), undated
    finally:
        client.cancel(futures)


def _periods(ordinals: Iterable[int], window: str) -> list[pd.Period]:
    """Every period from the first to the last of `ordinals` (gaps included: an empty window is reported)."""
    present = sorted(ordinals)
    if not present:
        return []
    frequency = PERIOD_FREQUENCIES[window]
    return list(pd.period_range(pd.Period(ordinal=present[0], freq=frequency),
                                pd.Period(ordinal=present[-1], freq=frequency), freq=frequency))


def _window_data(period: pd.Period, params: DriftParams, totals: WindowTotals, model: ModelBundle | None
                 ) -> tuple[WindowData, np.ndarray | None]:
    """The window as `window_record` reads it: its labels (the only column it needs) and its PDs."""
    parts = totals.ordered()
    rows = sum(part.rows for part in parts)
    target = totals.column("target")
    frame = pd.DataFrame({TARGET: target}) if target is not None else pd.DataFrame(index=pd.RangeIndex(rows))
    files = list(dict.fromkeys(Path(part.source).name for part in parts))
    issues = list(dict.fromkeys(issue for part in parts for issue in part.issues))
    data = WindowData(make_window(period, params.window, INCOMING), frame, files,
                      sum(part.values_nulled for part in parts), issues)
    pd_values = totals.column("pd_values")
    if pd_values is None and model is not None:
        pd_values = np.empty(0)
    return data, pd_values


def run_drift_dask(params: DriftParams, reference: pd.DataFrame, dataset: str | Path | Sequence[Path], client: Any,
                   model: ModelBundle | None = None, model_path: Path | None = None,
                   test_metrics: dict[str, Any] | None = None, prediction_log: Path | None = None) -> DriftReport:
    """`run.run_drift` with the current data's windows computed on Dask from a partitioned dataset (a
    parquet directory or glob, or export files); the prediction log's windows, when there is one, as the
    pandas engine computes them. `model_path` is the file of `model`, which the workers load."""
    with threadpool_limits(limits=1):  # the client's own work on one thread: the workers have the cores
        profile, reference_estimate = reference_baseline(params, reference, model)
    spec = histogram_spec(profile, params)
    parts = [p for spec_item in _dataset_specs(dataset) for p in partitions_of(spec_item)]
    parts = [Partition(number, p.path, p.source, p.row_group) for number, p in enumerate(parts)]
    digest = file_digest(Path(model_path)) if model is not None and model_path is not None else None
    shipped_model = str(Path(model_path).resolve()) if digest else None
    context = WindowContext(profile, spec, params, shipped_model, digest, test_metrics, reference_estimate)
    results, undated = windows_on_cluster(client, parts, context)
    records = [result.record for result in results]
    rows = [row for result in results for row in result.rows]
    distributions = {result.record["window"]: result.distributions for result in results}
    bounds: dict[str, float] = {}
    for result in results:
        for name, bound in result.ks_bounds.items():
            bounds[name] = max(bounds.get(name, 0.0), bound)
    logged = current_windows([], prediction_log, params) if prediction_log is not None else ()
    for ordinal, data in enumerate(logged, start=len(results)):
        rng = np.random.default_rng([params.seed, ordinal])
        pd_values = score_frame(model, data.frame)
        drift = compare_window(profile, data.frame, params, rng, pd_values)
        records.append(window_record(data, drift, pd_values, model, test_metrics, params,
                                     reference_estimate, params.seed + ordinal))
        rows.extend(feature_rows(data.window.label, data.window.source, drift))
        distributions[data.window.label] = finite_json(drift.distributions)
    table = pd.DataFrame(rows, columns=list(FEATURE_COLUMNS_ORDER))
    records.sort(key=lambda record: (record["end"], record["source"] != "incoming"))
    profile_json = finite_json({**profile.to_json(), "psi_epsilon": params.psi_epsilon})
    summary = build_summary(records, table, profile, undated, params,
                            reference_estimate.roc_auc if reference_estimate is not None else None)
    summary["engine"] = engine_note(parts, spec, bounds)
    return DriftReport(summary, records, table, distributions, profile_json)


def engine_note(parts: Sequence[Partition], spec: HistogramSpec, bounds: dict[str, float]) -> dict[str, Any]:
    """What summary.json says of a Dask run: partitions, the KS grid, and the largest KS error bound."""
    return finite_json({
        "name": "dask",
        "partitions": len(parts),
        "ks_grid_points": {name: int(bins.grid.size) for name, bins in spec.numeric.items()},
        "ks_error_bound": max(bounds.values(), default=0.0),
        "ks_error_bound_by_feature": bounds,
    })


def _dataset_specs(dataset: str | Path | Sequence[Path]) -> list[str | Path]:
    if isinstance(dataset, (str, Path)):
        return [dataset]
    return sorted(Path(path) for path in dataset)
