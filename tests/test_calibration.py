"""Time-respecting calibration: Platt and isotonic mappings, calibration in the large, the calibrated model."""

from __future__ import annotations

import numpy as np
import pytest
import skops.io as sio
from scipy import special
from sklearn.linear_model import LogisticRegression

from creditrisk.modeling.calibration import CalibratedModel, ScoreCalibrator, in_the_large_shift
from creditrisk.modeling.validation import logit


def skewed_scores(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores twice as extreme (on the logit scale) as the true PDs, and 0.5 too high."""
    rng = np.random.default_rng(seed)
    true_logit = rng.normal(-3, 0.8, rows)
    y = (rng.random(rows) < special.expit(true_logit)).astype(int)
    return special.expit(2 * true_logit + 0.5), y


def test_sigmoid_calibration_undoes_a_logit_distortion() -> None:
    scores, y = skewed_scores(30_000, 1)
    calibrator = ScoreCalibrator("sigmoid").fit(scores, y)
    coefficient = calibrator.mapping_.coef_[0][0]
    assert coefficient == pytest.approx(0.5, abs=0.05)
    assert calibrator.transform(scores).mean() == pytest.approx(y.mean(), abs=0.002)


def test_isotonic_calibration_is_monotone_and_matches_the_rate() -> None:
    scores, y = skewed_scores(20_000, 2)
    calibrated = ScoreCalibrator("isotonic").fit(scores, y).transform(np.sort(scores))
    assert np.all(np.diff(calibrated) >= 0)
    assert calibrated.mean() == pytest.approx(y.mean(), abs=0.002)


def test_none_passes_scores_through() -> None:
    scores = np.array([0.01, 0.2, 0.9])
    assert np.array_equal(ScoreCalibrator("none").fit(scores, np.array([0, 0, 1])).transform(scores), scores)


def test_calibration_in_the_large_sets_the_mean_to_the_central_tendency() -> None:
    scores, y = skewed_scores(5_000, 3)
    calibrator = ScoreCalibrator("sigmoid").fit(scores, y).set_mean(scores, 0.032)
    assert calibrator.transform(scores).mean() == pytest.approx(0.032, abs=1e-9)
    ranks_before = np.argsort(ScoreCalibrator("sigmoid").fit(scores, y).transform(scores))
    assert np.array_equal(np.argsort(calibrator.transform(scores)), ranks_before), "a shift keeps the ranking"
    assert in_the_large_shift(np.full(10, 0.1), 0.1) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="central-tendency"):
        in_the_large_shift(scores, 1.5)


def test_the_calibrated_model_scores_and_saves_with_trusted_types_only(tmp_path) -> None:
    rng = np.random.default_rng(4)
    features = rng.normal(size=(2000, 3))
    y = (rng.random(2000) < special.expit(features[:, 0] - 3)).astype(int)
    model = LogisticRegression().fit(features, y)
    calibrator = ScoreCalibrator("sigmoid").fit(model.predict_proba(features)[:, 1], y).set_mean(
        model.predict_proba(features)[:, 1], 0.05)
    calibrated = CalibratedModel(model, calibrator)
    proba = calibrated.predict_proba(features)
    assert proba.shape == (2000, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert proba[:, 1].mean() == pytest.approx(0.05, abs=1e-9)
    path = tmp_path / "calibrated.skops"
    sio.dump(calibrated, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert all(name.startswith(("sklearn.", "numpy.", "creditrisk.")) for name in untrusted)
    loaded = sio.load(path, trusted=untrusted)
    assert np.array_equal(loaded.predict_proba(features), proba)
    assert np.allclose(logit(loaded.predict_proba(features)[:, 1]), logit(proba[:, 1]))
