"""Drift on Dask equals the pandas engine on the same partitioned data: exactly for the binned statistics,
within the stated bound for KS; the same levels and statuses."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import distributed
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from creditrisk.params import configured
from creditrisk.monitoring.dask_drift import grid_ks, ks_grid, ks_pvalue, numeric_counts, run_drift_dask, NumericBins
from creditrisk.monitoring.drift import DriftParams
from creditrisk.monitoring.profile import build_numeric_profile
from creditrisk.monitoring.report import SCORE
from creditrisk.monitoring.run import run_drift
from creditrisk.monitoring.statistics import compact, ks_distance
from creditrisk.data.contract import coerce_and_validate
from creditrisk.data.sources import read_export
from creditrisk.data.synthetic import generate_history, generate_incoming, GenerateParams
from creditrisk.data.synthetic.writers import write_csv
from tests.api_support import make_bundle, save_test_bundle
from tests.shipped import REPO_ROOT as REPO

EXACT = ["rows", "values", "status", "missing_share_ref", "missing_share_cur", "missing_share_change",
         "missing_pvalue", "missing_pvalue_adj", "psi", "js", "chi2_stat", "chi2_pvalue", "chi2_pvalue_adj",
         "psi_limit", "level", "window", "feature", "source"]  # reason quotes the KS value


@pytest.fixture(scope="module")
def client() -> Iterator[distributed.Client]:
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as connected:
        yield connected


@pytest.fixture(scope="module")
def months(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Four drifting monthly batches written as export files; the middle two months share one file and
    the last month is split over two, so windows cross partitions both ways."""
    root = tmp_path_factory.mktemp("drift")
    generate = configured(GenerateParams, rows=3000, incoming_months=4, incoming_rows=400, label_lag_months=2,
                          quirks=True)
    batches = generate_incoming(generate)
    files = {"a.csv": batches[0].frame, "b.csv": pd.concat([batches[1].frame, batches[2].frame]),
             "c.csv": batches[3].frame.iloc[::2], "d.csv": batches[3].frame.iloc[1::2]}
    (root / "csv").mkdir()
    for name, frame in files.items():
        write_csv(frame.reset_index(drop=True), root / "csv" / name, quirks=True, seed=7)
    reference = coerce_and_validate(generate_history(generate)).frame
    return {"root": root, "reference": reference, "model": make_bundle(),
            "model_path": save_test_bundle(root), "csv": sorted((root / "csv").glob("*.csv"))}


def params(**changes: object) -> DriftParams:
    return configured(DriftParams, bootstrap_samples=50, **changes)


def both_engines(months: dict, client: distributed.Client, dataset: object, settings: DriftParams):  # noqa: ANN201
    pandas_report = run_drift(settings, months["reference"], months["csv"], months["model"], None, None)
    dask_report = run_drift_dask(settings, months["reference"], dataset, client, months["model"],
                                 months["model_path"], None, None)
    return pandas_report, dask_report


def assert_equal_results(pandas_report, dask_report, provenance: bool = True) -> None:  # noqa: ANN001
    """Equal reports; `provenance=False` skips what names or counts the files' own defects (file names,
    values the contract nulled), for data already coerced into another format."""
    summary = dict(dask_report.summary)
    engine = summary.pop("engine")
    assert summary == pandas_report.summary
    assert pandas_report.distributions == dask_report.distributions
    ours, theirs = dask_report.features, pandas_report.features
    pd.testing.assert_frame_equal(ours[EXACT], theirs[EXACT])
    bounds = ours["feature"].map(engine["ks_error_bound_by_feature"]).fillna(0.0)
    gap = (theirs["ks_stat"] - ours["ks_stat"]).fillna(0.0)
    assert ((gap >= -1e-12) & (gap <= bounds + 1e-12)).all()
    for ours_window, their_window in zip(dask_report.windows, pandas_report.windows, strict=True):
        for key, value in their_window.items():
            if value is None:
                assert ours_window[key] is None, key
            elif key == "score_ks":
                assert 0 <= value - ours_window[key] + 1e-12 <= engine["ks_error_bound_by_feature"][SCORE] + 2e-12
            elif key == "score_ks_pvalue":  # a statistic no larger: a p-value no smaller
                assert ours_window[key] >= value - 1e-12
            elif provenance or key not in ("files", "values_nulled", "contract_issues"):
                assert ours_window[key] == value, key


@pytest.mark.slow
def test_dask_equals_pandas_on_export_partitions(months: dict, client: distributed.Client) -> None:
    pandas_report, dask_report = both_engines(months, client, months["csv"], params())
    assert [w["window"] for w in dask_report.windows] == ["2026-05", "2026-06", "2026-07", "2026-08"]
    assert {w["status"] for w in dask_report.windows} != {"ok"}, "the drifting months are judged"
    assert_equal_results(pandas_report, dask_report)


@pytest.mark.slow
def test_dask_on_partitioned_parquet_equals_pandas_on_the_exports(months: dict, client: distributed.Client,
                                                                  tmp_path: Path) -> None:
    """The same rows as typed parquet row groups (40 rows each) instead of export files."""
    for path in months["csv"]:
        frame = coerce_and_validate(read_export(path), purpose="scoring").frame.reset_index(drop=True)
        frame.to_parquet(tmp_path / f"{path.stem}.parquet", row_group_size=40)
    pandas_report, dask_report = both_engines(months, client, tmp_path, params(day_first=None))
    assert dask_report.summary["engine"]["partitions"] > 30
    assert_equal_results(pandas_report, dask_report, provenance=False)


@pytest.mark.slow
def test_a_coarse_ks_grid_still_gives_the_same_levels(months: dict, client: distributed.Client) -> None:
    pandas_report, dask_report = both_engines(months, client, months["csv"], params(ks_grid_points=200))
    assert dask_report.summary["engine"]["ks_error_bound"] > 0
    assert [w["status"] for w in dask_report.windows] == [w["status"] for w in pandas_report.windows]
    assert list(dask_report.features["level"]) == list(pandas_report.features["level"])


@pytest.mark.slow
def test_a_month_with_no_rows_is_an_empty_window_on_both_engines(months: dict, client: distributed.Client) -> None:
    """Without the file of the middle months, those windows still appear, empty, in both engines' reports; the
    windows' tasks run on the cluster from the partitions that hold their rows (none, here)."""
    files = [path for path in months["csv"] if path.name != "b.csv"]
    settings = params()
    pandas_report = run_drift(settings, months["reference"], files, months["model"], None, None)
    dask_report = run_drift_dask(settings, months["reference"], files, client, months["model"], months["model_path"],
                                 None, None)
    assert [(w["window"], w["rows"]) for w in dask_report.windows][1:3] == [("2026-06", 0), ("2026-07", 0)]
    assert_equal_results(pandas_report, dask_report)


def grid_counts(reference: np.ndarray, current: np.ndarray, points: int) -> tuple[float, float, float]:
    profile = build_numeric_profile("x", reference, 10)
    bins = NumericBins("x", profile.edges, ks_grid(profile.sample, points))
    statistic, bound = grid_ks(profile, bins, numeric_counts(current, bins))
    exact = ks_distance(compact(np.sort(reference)), compact(np.sort(current)))
    return statistic, bound, exact


@pytest.mark.parametrize("points", [5, 50, 1000])
@pytest.mark.parametrize("shift", [0.0, 0.3])
def test_grid_ks_is_within_its_stated_bound_of_the_exact_statistic(points: int, shift: float) -> None:
    rng = np.random.default_rng(points)
    statistic, bound, exact = grid_counts(rng.normal(size=3000), rng.normal(shift, 1.2, size=800), points)
    assert statistic - 1e-12 <= exact <= statistic + bound + 1e-12
    assert bound <= 1.0


def test_grid_ks_is_exact_when_the_window_holds_reference_values() -> None:
    rng = np.random.default_rng(3)
    statistic, bound, exact = grid_counts(rng.poisson(4, 5000).astype(float), rng.poisson(5, 700).astype(float),
                                          10_000)
    assert bound == 0.0 and statistic == pytest.approx(exact, abs=1e-15)


@pytest.mark.parametrize("sizes", [(300, 200), (12_000, 900)])
def test_ks_pvalue_is_scipys_for_the_statistic_and_sizes(sizes: tuple[int, int]) -> None:
    rng = np.random.default_rng(sizes[0])
    reference, current = rng.normal(size=sizes[0]), rng.normal(0.1, 1, size=sizes[1])
    expected = stats.ks_2samp(reference, current)
    assert ks_pvalue(float(expected.statistic), *sizes) == pytest.approx(expected.pvalue, rel=1e-7)


def test_the_dask_engine_is_a_drift_setting() -> None:
    assert params(engine="dask").engine == "dask"
    with pytest.raises(ValueError, match="ks_grid_points"):
        replace(params(), ks_grid_points=1)


@pytest.mark.slow
def test_the_drift_stage_on_dask_writes_the_pandas_stages_verdicts(tmp_path: Path) -> None:
    """The stage itself, prediction log included, with `drift.engine: dask` on its own LocalCluster."""
    import json

    import yaml

    import tests.test_drift_stage as drift_stage

    results = {}
    for engine in ("pandas", "dask"):
        root = tmp_path / engine
        root.mkdir()
        params = drift_stage.write_project(root)
        params["drift"]["engine"] = engine
        params["dask"] = {**yaml.safe_load((REPO / "params.yaml").read_text())["dask"], "workers": 2}
        (root / "params.yaml").write_text(yaml.safe_dump(params))
        completed = drift_stage.run_stage(root)
        assert completed.returncode == 0, completed.stderr
        results[engine] = {name: json.loads((root / "reports" / "drift" / name).read_text())
                           for name in ("summary.json", "windows.json")}
    engine = results["dask"]["summary.json"].pop("engine")
    assert engine["name"] == "dask" and results["dask"]["summary.json"] == results["pandas"]["summary.json"]
    assert [(w["window"], w["source"], w["status"]) for w in results["dask"]["windows.json"]] == [
        (w["window"], w["source"], w["status"]) for w in results["pandas"]["windows.json"]]
    assert any(w["source"] == "prediction_log" for w in results["dask"]["windows.json"])
