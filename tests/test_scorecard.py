"""Scorecard scaling: the textbook anchor (600 points at 50:1, 20 points to double the odds) by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from creditrisk.modeling.scorecard import PointsScale

SCALE = PointsScale(points0=600, odds0=50, pdo=20)


def test_the_anchor_and_the_doubling_by_hand() -> None:
    assert SCALE.factor == pytest.approx(28.8539, abs=1e-4)
    assert SCALE.offset == pytest.approx(600 - 28.8539 * math.log(50), abs=1e-3)
    assert float(SCALE.points(1 / 51)) == pytest.approx(600.0)
    assert float(SCALE.points(1 / 101)) == pytest.approx(620.0, abs=0.01), "odds 100:1 is 20 points more"
    assert float(SCALE.points(1 / 26)) == pytest.approx(580.0, abs=0.01)


def test_points_fall_as_pd_rises_and_invert_exactly() -> None:
    pds = np.array([0.001, 0.01, 0.05, 0.2, 0.6])
    points = SCALE.points(pds)
    assert np.all(np.diff(points) < 0)
    assert np.allclose(SCALE.pd_at(points), pds, rtol=1e-12)
    assert np.isfinite(SCALE.points(np.array([0.0, 1.0]))).all()


def test_band_point_ranges_follow_the_pd_edges() -> None:
    ranges = SCALE.band_points([0.02, 0.05, 1.0])
    assert ranges[0] == (pytest.approx(float(SCALE.points(0.02))), None)
    assert ranges[1] == (pytest.approx(float(SCALE.points(0.05))), pytest.approx(float(SCALE.points(0.02))))
    assert ranges[2] == (None, pytest.approx(float(SCALE.points(0.05))))
    with pytest.raises(ValueError, match="pdo"):
        PointsScale(600, 50, 0)
