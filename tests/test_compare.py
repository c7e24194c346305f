"""Champion against challenger: the verdict rule, the per-window figures, and the compare stage end to end on
files the test writes (raw incoming batches with outcomes, two tiny models, a prediction log with shadowed rows)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from creditrisk.data.contract import TARGET
from creditrisk.modeling.bundle import save_bundle, ModelBundle
from creditrisk.modeling.calibration import CalibratedModel, LogitRecalibration
from creditrisk.modeling.validation import paired_delong_test
from creditrisk.monitoring.compare import band_migration, pd_psi, run_compare, CompareParams
from creditrisk.monitoring.drift import DriftParams
from creditrisk.monitoring.rules import challenger_verdict, CompareRules
from creditrisk.monitoring.statistics import psi
from creditrisk.params import ParamsError
from creditrisk.serving.predlog import log_entry, ChallengerScores, PredictionLog
from tests.shipped import SHIPPED_PARAMS
from tests.test_drift_stage import contract_loans, tiny_model, write_raw_batch

REPO = Path(__file__).resolve().parents[1]
RULES = CompareRules(alpha=0.05, min_labelled_defaults=20, brier_tolerance=0.0)
JUDGED = {"labelled_rows": 2000, "defaults": 100, "champion_roc_auc": 0.70, "challenger_roc_auc": 0.70,
          "delong_pvalue": 0.8, "champion_brier": 0.045, "challenger_brier": 0.045,
          "champion_calibration_level": "ok", "challenger_calibration_level": "ok"}


@pytest.mark.parametrize(("changes", "outcome", "words"), [
    ({"labelled_rows": 0, "defaults": 0}, "no evidence", "no labelled rows"),
    ({"defaults": 12}, "no evidence", "12 defaults < min_labelled_defaults 20"),
    ({}, "no evidence", "ROC-AUC 0.700 vs 0.700 (DeLong p 0.8)"),
    ({"challenger_roc_auc": 0.74, "delong_pvalue": 0.01, "challenger_brier": 0.044}, "better", "DeLong p 0.01"),
    ({"challenger_roc_auc": 0.74, "delong_pvalue": 0.01, "challenger_brier": 0.046}, "no evidence",
     "Brier is higher"),
    ({"challenger_roc_auc": 0.74, "delong_pvalue": 0.2}, "no evidence", "DeLong p 0.2"),
    ({"challenger_roc_auc": 0.66, "delong_pvalue": 0.01}, "worse", "ROC-AUC 0.660 vs 0.700"),
    ({"delong_pvalue": 1.0, "champion_calibration_level": "alert", "challenger_brier": 0.043}, "better",
     "PD level ok vs alert"),
    ({"challenger_roc_auc": 0.74, "delong_pvalue": 0.001, "challenger_calibration_level": "warn"}, "worse",
     "PD level warn vs ok"),
])
def test_the_challenger_verdict(changes: dict[str, Any], outcome: str, words: str) -> None:
    verdict = challenger_verdict({**JUDGED, **changes}, RULES)
    assert verdict.outcome == outcome and words in verdict.reason


def test_the_band_migration_counts_every_pair_in_each_models_band_order() -> None:
    migration = band_migration(np.array(["A", "B", "B", "C", "A"]), np.array(["A", "A", "C", "C", "A"]),
                               ["A", "B", "C"], ["A", "B", "C", "D"])
    assert migration["counts"] == [[2, 0, 0, 0], [1, 0, 1, 0], [0, 0, 1, 0]]
    assert migration["challenger_bands"] == ["A", "B", "C", "D"]


def test_the_pd_psi_bins_the_challenger_on_the_champions_quantiles() -> None:
    champion = np.arange(1, 101) / 1000  # 0.001 .. 0.100: ten deciles of ten rows, edges 0.01 .. 0.09
    assert pd_psi(champion, champion, 10, 1e-4) == pytest.approx(0.0)
    doubled = champion * 2  # 0.002 .. 0.200: five rows in each of the nine lower deciles, 55 above 0.09
    expected = psi(np.full(10, 0.1), np.array([0.05] * 9 + [0.55]), 1e-4)
    assert pd_psi(champion, doubled, 10, 1e-4) == pytest.approx(expected, rel=1e-12)


def test_compare_params_name_what_is_wrong() -> None:
    with pytest.raises(ParamsError, match=r"compare.alpha = 1.5 must be in \(0, 1\).*verdict_windows = 0"):
        CompareParams(challenger_path="c.skops", output_dir="out", alpha=1.5, verdict_windows=0, brier_tolerance=0.0)


# --- the compare run on files ---------------------------------------------------------------------------


def shifted(bundle: ModelBundle, intercept: float, version: str) -> ModelBundle:
    """The same model with its PDs moved on the logit scale: the same ranking, another PD level."""
    return dataclasses.replace(bundle, pipeline=CalibratedModel(bundle.pipeline, LogitRecalibration(None, intercept)),
                               metadata={**bundle.metadata, "version": version})



MONTHS = ("2026-03", "2026-04", "2026-05")


@dataclasses.dataclass
class Project:
    root: Path
    drift: DriftParams
    compare: CompareParams
    champion: ModelBundle
    challenger: ModelBundle
    logged: pd.DataFrame

    @property
    def incoming(self) -> list[Path]:
        return sorted((self.root / "data" / "incoming").glob("loans_*.csv"))


def write_project(root: Path) -> Project:
    """Three labelled months and an unlabelled one; a champion whose PDs are too low (its PD level alerts) and a
    challenger that is the same model as fitted; a prediction log with a month of shadowed rows."""
    reference = contract_loans(3000, 1, "2025-11")
    incoming = root / "data" / "incoming"
    incoming.mkdir(parents=True)
    for seed, month in enumerate(MONTHS, start=10):
        write_raw_batch(contract_loans(1500, seed, month), incoming / f"loans_{month}.csv")
    write_raw_batch(contract_loans(300, 20, "2026-06", labelled=False), incoming / "loans_2026-06.csv")
    fitted = tiny_model(reference)
    champion = shifted(fitted, -0.8, "1.0.0")
    challenger = dataclasses.replace(fitted, metadata={"version": "1.0.1"})
    (root / "models").mkdir()
    save_bundle(champion, root / "models" / "model.skops")
    save_bundle(challenger, root / "models" / "candidate.skops")
    logged = contract_loans(200, 30, "2026-07", labelled=False)
    pds, shadow = champion.predict_pd(logged), challenger.predict_pd(logged)
    log = PredictionLog(root / "data" / "monitoring" / "predictions.sqlite")
    log.append(log_entry(logged, "shadowed", champion.version, pds, champion.band_of(pds), champion.decide(pds),
                         challenger=ChallengerScores(challenger.version, shadow, challenger.band_of(shadow),
                                                     challenger.decide(shadow))))
    log.append(log_entry(logged.head(5), "alone", champion.version, pds[:5], champion.band_of(pds[:5]),
                         champion.decide(pds[:5])))
    log.close()
    params = {"drift": {**SHIPPED_PARAMS["drift"], "incoming_dir": "data/incoming", "model_path": "models/model.skops",
                        "prediction_log": "data/monitoring/predictions.sqlite"},
              "compare": {**SHIPPED_PARAMS["compare"], "challenger_path": "models/candidate.skops",
                          "output_dir": "reports/compare"}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    drift = DriftParams(**params["drift"])
    return Project(root, drift, CompareParams(**params["compare"]), champion, challenger, logged)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return write_project(tmp_path_factory.mktemp("compare"))


def test_a_recalibrated_challenger_is_better_on_the_pd_level_alone(project: Project) -> None:
    report = run_compare(project.compare, project.drift, project.champion, project.challenger, project.incoming,
                         project.root / "data" / "monitoring" / "predictions.sqlite")

    by_label = {window["window"]: window for window in report.windows}
    assert list(by_label) == [*MONTHS, "2026-06", "log:2026-07"]
    for month in MONTHS:
        window = by_label[month]
        assert window["rows"] == window["labelled_rows"] == 1500 and window["decision_agreement"] < 1
        assert window["champion_roc_auc"] == window["challenger_roc_auc"] and window["delong_pvalue"] == 1.0
        assert window["champion_calibration_level"] == "alert" and window["challenger_mean_pd"] > \
            window["champion_mean_pd"]
    assert by_label["2026-06"]["labelled_rows"] == 0 and by_label["2026-06"]["rows"] == 300
    summary = report.summary
    assert summary["verdict"] == "better" and summary["verdict_windows"] == list(MONTHS)
    assert summary["pooled"]["labelled_rows"] == 4500
    assert summary["pooled"]["challenger_calibration_level"] == "ok"
    assert summary["promote_command"].startswith('make promote VERSION=1.0.1 STAGE=prod REASON="compare 2026-03..'
                                                 '2026-05: ROC-AUC')
    assert summary["promote_command"].count('"') == 2


def test_logged_traffic_is_compared_as_each_model_answered_live(project: Project) -> None:
    report = run_compare(project.compare, project.drift, project.champion, None, project.incoming,
                         project.root / "data" / "monitoring" / "predictions.sqlite")

    assert [window["window"] for window in report.windows] == ["log:2026-07"]  # no challenger file: the log only
    window = report.windows[0]
    pds, shadow = project.champion.predict_pd(project.logged), project.challenger.predict_pd(project.logged)
    champion_decisions, challenger_decisions = project.champion.decide(pds), project.challenger.decide(shadow)
    assert window["rows"] == 200 and window["source"] == "prediction_log"  # the 5 rows without a challenger left out
    assert (window["champion_version"], window["challenger_version"]) == ("1.0.0", "1.0.1")
    assert window["decision_agreement"] == pytest.approx(np.mean(champion_decisions == challenger_decisions), abs=1e-6)
    assert window["approved_by_challenger_only"] == int(np.sum((challenger_decisions == "approve")
                                                               & (champion_decisions == "reject")))
    counts = np.array(window["band_migration"]["counts"])
    assert counts.sum() == 200 and window["band_migration"]["champion_bands"] == ["A", "B", "C"]
    assert counts[0].sum() == int(np.sum(project.champion.band_of(pds) == "A"))
    assert window["pd_psi"] == pytest.approx(pd_psi(pds, shadow, project.drift.psi_bins, project.drift.psi_epsilon),
                                             rel=1e-5)
    summary = report.summary
    assert summary["verdict"] == "no evidence" and "champion's own model file" in summary["reason"]
    assert summary["promote_command"] is None and summary["logged_rows"] == 200
    assert summary["logged_pairs"] == ["1.0.0 vs 1.0.1"]


def test_windows_whose_labels_fitted_the_challenger_are_reported_but_left_out_of_the_verdict(project: Project) -> None:
    fitted_on_march = dataclasses.replace(project.challenger, metadata={
        **project.challenger.metadata, "recalibration": {"data_window": {"start": "2026-03-01T08:00:00",
                                                                          "end": "2026-03-31T18:00:00"}}})
    report = run_compare(project.compare, project.drift, project.champion, fitted_on_march, project.incoming, None)

    in_sample = {window["window"]: window["in_sample"] for window in report.windows}
    assert in_sample == {"2026-03": True, "2026-04": False, "2026-05": False, "2026-06": False}
    assert report.summary["verdict_windows"] == ["2026-04", "2026-05"]
    assert report.summary["in_sample_windows"] == ["2026-03"] and report.summary["pooled"]["labelled_rows"] == 3000

    fitted_on_all = dataclasses.replace(project.challenger, metadata={
        **project.challenger.metadata, "data_window": {"start": "2025-01-01T00:00:00", "end": "2026-05-31T00:00:00"}})
    summary = run_compare(project.compare, project.drift, project.champion, fitted_on_all, project.incoming,
                          None).summary
    assert summary["verdict"] == "no evidence" and "fitted on" in summary["reason"] and not summary["verdict_windows"]


@pytest.fixture(scope="module")
def weaker() -> ModelBundle:
    """A challenger that ranks worse: fitted on age alone."""
    reference = contract_loans(3000, 1, "2025-11")
    model = tiny_model(reference.assign(puntaje_datacredito=792.0, huella_consulta=4.0))
    model.metadata["version"] = "0.9.0"
    return model


def test_a_challenger_that_ranks_worse_is_worse_by_the_paired_test_of_the_pooled_rows(
        project: Project, weaker: ModelBundle) -> None:
    from creditrisk.monitoring.windows import index_batches, iter_incoming_windows

    report = run_compare(project.compare, project.drift, project.challenger, weaker, project.incoming, None)

    pooled = report.summary["pooled"]
    assert report.summary["verdict"] == "worse" and report.summary["promote_command"] is None
    index = index_batches(project.incoming, "month", None)
    rows = pd.concat([data.frame for data in iter_incoming_windows(index, "month") if data.window.label in MONTHS],
                     ignore_index=True)
    expected = paired_delong_test(1.0 - rows[TARGET].to_numpy(float), project.challenger.predict_pd(rows),
                                  weaker.predict_pd(rows), 0.95)
    assert expected.pvalue < 0.05 and expected.difference < 0
    assert pooled["delong_pvalue"] == pytest.approx(expected.pvalue, rel=1e-5)
    assert pooled["roc_auc_difference"] == pytest.approx(expected.difference, abs=1e-6)
    assert pooled["roc_auc_difference_high"] == pytest.approx(expected.upper, abs=1e-6)


@pytest.mark.slow
def test_the_compare_stage_writes_both_files_and_prints_the_promote_command(project: Project) -> None:
    completed = subprocess.run([sys.executable, str(REPO / "stages" / "compare.py")], cwd=project.root,
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    out = project.root / "reports" / "compare"
    summary = json.loads((out / "summary.json").read_text())
    windows = json.loads((out / "windows.json").read_text())
    assert summary["verdict"] == "better" and summary["challenger_version"] == "1.0.1"
    assert [window["window"] for window in windows] == [*MONTHS, "2026-06", "log:2026-07"]
    assert f"compare: {summary['promote_command']}" in completed.stdout


def test_the_dashboards_hand_written_compare_files_have_the_keys_the_stage_writes(project: Project,
                                                                                    tmp_path: Path) -> None:
    from creditrisk.monitoring.compare import write_compare_report
    from tests.dashboard_support import write_artifact_set
    from tests.test_dashboard_keys import file_keys

    write_artifact_set(tmp_path / "fixture")
    report = run_compare(project.compare, project.drift, project.champion, project.challenger, project.incoming,
                         project.root / "data" / "monitoring" / "predictions.sqlite")
    write_compare_report(report, tmp_path / "built")
    for name in ("windows.json", "summary.json"):
        assert file_keys(tmp_path / "fixture" / "reports" / "compare" / name) == file_keys(tmp_path / "built" / name)
