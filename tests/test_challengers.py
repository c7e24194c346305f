"""Challengers from the monitoring loop: matured labels as of now, the recalibration and its guard, versions, and
a candidate written beside the champion with its card, evaluation and release gate."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special

from creditrisk.data.contract import DATE, TARGET
from creditrisk.io import file_digest
from creditrisk.modeling.bundle import load_bundle, save_bundle, ModelBundle
from creditrisk.modeling.validation import logit
from creditrisk.monitoring import challengers
from creditrisk.monitoring.backtest import BacktestParams
from creditrisk.monitoring.challengers import (
    matured_labels,
    next_version,
    recalibration_candidate,
    ChallengerParams,
    ChallengerRefused,
    MaturedLabels,
    Settings,
)
from creditrisk.monitoring.windows import make_window, WindowData, INCOMING
from creditrisk.releases.record import Release, ReleaseParams
from creditrisk.releases.registry import promote
from tests.loan_frames import fitted_bundle, make_loans
from tests.release_support import commit_release_files, git, init_repo, record, GOOD_METRICS
from tests.shipped import REPO_ROOT, SHIPPED_PARAMS, shipped

BACKTEST = shipped(BacktestParams)


def window_of(frame: pd.DataFrame, month: str) -> WindowData:
    return WindowData(make_window(pd.Period(month, "M"), "month", INCOMING), frame)


def loans_in(month: str, rows: int, seed: int, default_rate: float | None = None) -> pd.DataFrame:
    frame = make_loans(rows, seed=seed, start=f"{month}-01", days=27)
    if default_rate is not None:
        defaulted = np.random.default_rng(seed).random(rows) < default_rate
        frame[TARGET] = np.where(defaulted, 0.0, 1.0)
    return frame


def test_labels_count_once_matured_as_of_the_month_after_the_latest_loan() -> None:
    history = make_loans(600, seed=1, start="2025-01-01", days=150)  # to 2025-05
    labelled = [window_of(loans_in(month, 50, seed), month) for seed, month in enumerate(("2025-06", "2025-07"), 2)]
    unlabelled = window_of(loans_in("2025-10", 50, 9).assign(**{TARGET: np.nan}), "2025-10")
    labels = matured_labels(history, [*labelled, unlabelled], lag_months=3)
    assert labels.as_of == pd.Period("2025-11", "M")
    months = set(labels.frame[DATE].dt.to_period("M").astype(str))
    assert max(months) == "2025-07" and "2025-10" not in months, "booked by 2025-07 (as_of - lag - 1)"
    assert len(labels.frame) == len(history) + 100
    earlier = matured_labels(history, labelled, lag_months=3)
    assert earlier.as_of == pd.Period("2025-08", "M") and set(
        earlier.frame[DATE].dt.to_period("M").astype(str)) <= {f"2025-0{m}" for m in range(1, 5)}


@pytest.mark.parametrize("version, latest, part, expected", [
    ("1.2.0", "1.2.0", "patch", "1.2.1"), ("1.2.0", "1.2.0", "minor", "1.3.0"),
    ("1.1.0", "1.2.0", "patch", "1.2.1"), ("1.2.3", None, "minor", "1.3.0"), ("1.10.0", "1.9.9", "patch", "1.10.1"),
])
def test_a_candidate_is_versioned_after_the_champion_and_every_release(version, latest, part, expected) -> None:
    assert next_version(version, latest, part) == expected


@pytest.fixture(scope="module")
def champion() -> ModelBundle:
    loans = make_loans(1500, seed=4)
    bundle = fitted_bundle(loans, "logistic")
    return replace(bundle, metadata={**bundle.metadata, "version": "1.2.0", "development_roc_auc": 0.7,
                                     "train_default_rate": float((loans[TARGET] == 0).mean())})


def recent_labels(champion: ModelBundle, shift: float, rows: int = 900) -> MaturedLabels:
    """Three recent months whose outcomes follow the champion's PD shifted by `shift` on the log-odds scale."""
    frames = []
    for seed, month in enumerate(("2026-01", "2026-02", "2026-03"), 20):
        frame = loans_in(month, rows // 3, seed)
        truth = special.expit(logit(champion.predict_pd(frame)) + shift)
        frame[TARGET] = np.where(np.random.default_rng(seed).random(len(frame)) < truth, 0.0, 1.0)
        frames.append(frame)
    older = make_loans(600, seed=5, start="2025-06-01", days=150)
    return MaturedLabels(pd.concat([older, *frames], ignore_index=True), pd.Period("2026-07", "M"))


def test_the_guard_refuses_a_recalibration_on_too_few_matured_defaults(champion: ModelBundle) -> None:
    labels = recent_labels(champion, shift=-1.5, rows=300)
    defaults = int((labels.frame[labels.frame[DATE] >= "2026-01-01"][TARGET] == 0).sum())
    params = shipped(ChallengerParams, recalibration_min_defaults=defaults + 1)
    with pytest.raises(ChallengerRefused, match=(rf"months of matured labels \(2026-01, 2026-02, 2026-03\) hold "
                                                rf"{defaults} defaults; a recalibration needs {defaults + 1}")):
        recalibration_candidate(champion, labels, BACKTEST, params, "1.2.1")
    bundle, refit = recalibration_candidate(champion, labels, BACKTEST, shipped(
        ChallengerParams, recalibration_min_defaults=defaults), "1.2.1")
    assert bundle.version == "1.2.1" and refit["fitted_on"]["defaults"] == defaults


def test_the_recalibration_is_fitted_on_the_latest_months_as_the_backtest_measured(champion: ModelBundle) -> None:
    labels = recent_labels(champion, shift=0.8)
    bundle, refit = recalibration_candidate(champion, labels, BACKTEST, shipped(
        ChallengerParams, recalibration_min_defaults=10), "1.2.1")
    recent = labels.frame[labels.frame[DATE] >= "2026-01-01"]
    assert refit["fitted_on"]["months"] == ["2026-01", "2026-02", "2026-03"]
    assert refit["fitted_on"]["rows"] == len(recent) and refit["fit"]["recalibrated_from"] == "1.2.0"
    assert bundle.predict_pd(recent).mean() == pytest.approx((recent[TARGET] == 0).mean(), abs=1e-6)
    assert champion.metadata["version"] == "1.2.0", "the champion is not changed"


def test_a_built_candidate_is_written_beside_the_champion_with_its_card_evaluation_and_gate(
        champion: ModelBundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = init_repo(tmp_path / "repo")
    metrics = {**GOOD_METRICS, "roc_auc": 0.9}  # a release the candidate cannot match: the gate fails
    commit = commit_release_files(repo, "Release v1.2.0", metrics)
    record(repo, Release("1.2.0", commit, "2026-02-01T00:00:00+00:00", "x"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "record")
    promote(repo, shipped(ReleaseParams), "1.2.0", "prod", "", by="A <a@example.invalid>",
            now=datetime(2026, 3, 1, tzinfo=timezone.utc))
    monkeypatch.chdir(repo)
    save_bundle(champion, repo / "models" / "model.skops")
    champion_md5 = file_digest(repo / "models" / "model.skops", "md5")
    test = make_loans(800, seed=30, start="2025-08-01", days=120)
    (repo / "data").mkdir()
    test.to_parquet(repo / "data" / "test.parquet")
    settings = Settings.read(REPO_ROOT / "params.yaml")
    settings = replace(settings, featurize=replace(settings.featurize, test_path="data/test.parquet"),
                       evaluate=replace(settings.evaluate, importance_repeats=1, importance_max_rows=200),
                       fairness=replace(settings.fairness, bootstrap_samples=5),
                       challengers=replace(settings.challengers, recalibration_min_defaults=10))
    monkeypatch.setattr(challengers, "read_labels", lambda _: recent_labels(champion, shift=0.8))
    lines = challengers.build("recalibrated", "models/model.skops", Path("."), settings)
    folder = repo / "models" / "challengers" / "recalibrated"
    assert file_digest(repo / "models" / "model.skops", "md5") == champion_md5, "the champion is untouched"
    assert load_bundle(folder / "model.skops").version == "1.2.1"
    card = json.loads((folder / "model_card.json").read_text())
    assert card["champion"] == {"version": "1.2.0", "source": "path models/model.skops", "md5": champion_md5}
    assert card["refit"]["fitted_on"]["months"] == ["2026-01", "2026-02", "2026-03"]
    assert card["md5"] == file_digest(folder / "model.skops", "md5")
    assert json.loads((folder / "metrics.json").read_text())["rows"] == len(test)
    gate = (folder / "gate.txt").read_text()
    assert "v1.2.0" in gate and "recalibrated v1.2.1" in gate and "release gate: FAILED" in gate
    assert any("CREDITRISK_CHALLENGER=models/challengers/recalibrated/model.skops" in line for line in lines)


def test_the_shipped_params_configure_the_candidates() -> None:
    params = shipped(ChallengerParams)
    assert params.gate_stage in ("staging", "prod") and params.recalibration_min_defaults >= 1
    assert SHIPPED_PARAMS["challengers"]["output_dir"] != str(Path(SHIPPED_PARAMS["train"]["model_path"]).parent)
