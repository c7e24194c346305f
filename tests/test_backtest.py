"""The operating-loop backtest: which labels each month may see, and what it reports."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from creditrisk.data.contract import DATE, TARGET
from creditrisk.modeling.bundle import ModelBundle, RiskBand
from creditrisk.modeling.features import default_target, FeaturizeParams
from creditrisk.modeling.train_params import TrainParams
from creditrisk.monitoring import backtest
from creditrisk.monitoring.backtest import latest_months, matured, run_backtest, summary_lines, BacktestParams, OPTIONS
from creditrisk.monitoring.drift import DriftParams
from creditrisk.monitoring.windows import make_window, WindowData, INCOMING
from tests.loan_frames import make_loans
from tests.shipped import shipped

INPUTS = ["puntaje_datacredito", "huella_consulta", "edad_cliente"]
INCOMING_MONTHS = [pd.Period(month, "M") for month in ("2026-05", "2026-06", "2026-07", "2026-08", "2026-09")]
RULES = shipped(DriftParams).rules


def months_of(frame: pd.DataFrame) -> set[str]:
    return set(frame[DATE].dt.to_period("M").astype(str))


@pytest.mark.parametrize(("lag", "seen"), [
    (0, {"2026-01", "2026-02", "2026-03", "2026-04", "2026-05"}), (1, {"2026-01", "2026-02", "2026-03", "2026-04"}),
    (3, {"2026-01", "2026-02"}),
])
def test_a_month_sees_the_loans_booked_lag_plus_one_months_before_it_or_earlier(lag: int, seen: set[str]) -> None:
    loans = pd.DataFrame({DATE: pd.to_datetime([f"2026-{month:02d}-{day:02d}" for month in range(1, 7)
                                                for day in (1, 28)])})
    assert months_of(matured(loans, pd.Period("2026-06", "M"), lag)) == seen
    assert months_of(latest_months(loans[loans[DATE] < "2026-03"], 1)) == {"2026-02"}


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return make_loans(3000, seed=31, start="2024-11-01", days=450)


@pytest.fixture(scope="module")
def champion(history: pd.DataFrame) -> ModelBundle:
    pipeline = Pipeline([("columns", ColumnTransformer([("numbers", SimpleImputer(strategy="median"), INPUTS)])),
                         ("model", LogisticRegression(max_iter=1000))])
    pipeline.fit(history, default_target(history))
    return ModelBundle(pipeline, 0.1, [RiskBand("A", 0.03), RiskBand("B", 0.06), RiskBand("C", 1.0)], INPUTS,
                       {"version": "test"})


def incoming_windows() -> list[WindowData]:
    """Five labelled months after the history, and one without labels."""
    windows = []
    for index, month in enumerate([*INCOMING_MONTHS, pd.Period("2026-10", "M")]):
        frame = make_loans(600, seed=40 + index, start=str(month.start_time.date()), days=28)
        if month == pd.Period("2026-10", "M"):
            frame[TARGET] = np.nan
        windows.append(WindowData(make_window(month, "month", INCOMING), frame))
    return windows


@pytest.mark.parametrize("lag", [0, 1, 3])
def test_the_backtest_uses_no_label_from_the_future(history, champion, monkeypatch, lag: int) -> None:
    """Shift the label lag: at each month the recalibration and the retraining are given exactly the loans
    booked `lag + 1` months before it or earlier, every such labelled loan, and none later."""
    given: dict[str, list[pd.DataFrame]] = {"recalibrated": [], "retrained": []}
    real_recalibration = backtest.recalibrated_bundle

    def spy_recalibration(bundle, labelled, min_defaults):
        given["recalibrated"].append(labelled)
        return real_recalibration(bundle, labelled, min_defaults)

    def spy_retraining(labelled, featurize, train):
        given["retrained"].append(labelled)
        return SimpleNamespace(bundle=champion)

    monkeypatch.setattr(backtest, "recalibrated_bundle", spy_recalibration)
    windows = incoming_windows()
    params = shipped(BacktestParams, recalibration_months=2)
    report = run_backtest(champion, history, windows, lag, params, shipped(FeaturizeParams), shipped(TrainParams),
                          RULES, retrain=spy_retraining)
    assert [month["window"] for month in report["months"]] == [str(month) for month in INCOMING_MONTHS]
    assert report["unlabelled_windows"] == ["2026-10"]
    pool = pd.concat([history, *(window.frame for window in windows)], ignore_index=True)
    pool = pool[pool[TARGET].notna()]
    for month, record in zip(INCOMING_MONTHS, report["months"], strict=True):
        cutoff = month - (lag + 1)
        allowed = pool[pool[DATE].dt.to_period("M") <= cutoff]
        assert record["matured"]["rows"] == len(allowed) and record["matured"]["last_month"] == \
            str(allowed[DATE].dt.to_period("M").max())
        assert record["known_default_rate"] == pytest.approx(float((allowed[TARGET] == 0).mean()))
        assert record["retrained"]["fitted_on"]["rows"] == len(allowed)
        window = record["recalibrated"]["fitted_on"]
        expected_months = sorted(months_of(allowed))[-2:]
        assert (window["first_month"], window["last_month"]) == (expected_months[0], expected_months[-1])
    for frames in given.values():
        assert frames, "each option was fitted at least once"
        for frame in frames:
            assert frame[TARGET].notna().all()
            assert frame[DATE].dt.to_period("M").max() <= INCOMING_MONTHS[-1] - (lag + 1)
    distinct_label_sets = len({len(matured(pool, month, lag)) for month in INCOMING_MONTHS})
    assert len(given["retrained"]) == distinct_label_sets, "one retraining per new set of matured labels"


def test_the_report_pools_the_months_and_names_the_best_option_and_when_the_verdict_fired(history, champion) -> None:
    windows = incoming_windows()
    for window in windows[2:5]:  # three months default far above the PDs: the level has moved
        pd_values = champion.predict_pd(window.frame)
        defaulted = np.random.default_rng(7).random(len(window.frame)) < np.minimum(3.0 * pd_values, 1.0)
        window.frame[TARGET] = np.where(defaulted, 0.0, 1.0)
    report = run_backtest(champion, history, windows, 1, shipped(BacktestParams, recalibration_months=1),
                          shipped(FeaturizeParams), shipped(TrainParams), RULES,
                          retrain=lambda *_: SimpleNamespace(bundle=champion))
    months = report["months"]
    for option in OPTIONS:
        pooled = report["overall"][option]
        rows = np.array([month["rows"] for month in months])
        assert pooled["brier"] == pytest.approx(np.average([month[option]["brier"] for month in months],
                                                           weights=rows))
        assert pooled["default_rate"] == pytest.approx(sum(month["defaults"] for month in months) / rows.sum())
    champion_overall = report["overall"]["champion"]
    assert champion_overall["first_alert"] == "2026-07" and champion_overall["first_alert_known"] == "2026-09"
    assert "alert" not in [month["champion"]["calibration_level"] for month in months[:2]]
    assert report["best_by_brier"] == min(OPTIONS, key=lambda option: report["overall"][option]["brier"])
    lines = summary_lines(report)
    assert len(lines) == 1 + len(months) + 2 and lines[-1] == f"best by Brier: {report['best_by_brier']}"
    assert lines[3].startswith(" 2026-07  ") and lines[3].count("|") == 2 and "alert" in lines[3]
    recalibrated_late = months[-1]["recalibrated"]
    assert recalibrated_late["fitted_on"]["last_month"] == "2026-07"
    assert recalibrated_late["brier"] < months[-1]["champion"]["brier"], "recalibrated on the moved level"
    assert recalibrated_late["observed_over_expected"] == pytest.approx(1.0, abs=0.25)


def test_without_labelled_months_the_report_says_so_and_scores_nothing(history, champion) -> None:
    unlabelled = [window for window in incoming_windows() if window.frame[TARGET].isna().all()]
    report = run_backtest(champion, history, unlabelled, 3, shipped(BacktestParams), shipped(FeaturizeParams),
                          shipped(TrainParams), RULES, retrain=lambda *_: pytest.fail("nothing to retrain for"))
    assert (report["months"], report["overall"], report["best_by_brier"]) == ([], {}, None)
    assert report["unlabelled_windows"] == ["2026-10"] and report["history"]["rows"] == len(history)
    assert summary_lines(report) == ["no incoming month has labels yet (1 without): nothing to replay"]
