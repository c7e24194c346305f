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


# ------------------------------------------------------------ the points scorecard's bins


def test_each_bins_woe_is_the_log_of_the_payers_share_over_the_defaulters_share():
    """Golden, by hand: WoE = ln((payers in the bin / all payers) / (defaulters in the bin / all defaulters))."""
    import pandas as pd

    from creditrisk.modeling.woe import WoeBinning

    rng = np.random.default_rng(3)
    inquiries = rng.integers(0, 12, 6000).astype(float)
    inquiries[::40] = np.nan
    y = (rng.random(6000) < np.where(np.isnan(inquiries), 0.08, 0.02 + 0.01 * np.nan_to_num(inquiries))).astype(int)
    frame = pd.DataFrame({"huella_consulta": inquiries})
    binning = WoeBinning(directions={"huella_consulta": 1}, max_n_bins=4, min_bin_size=0.05).fit(frame, y)
    bins, index = binning.bins_["huella_consulta"], binning.bin_index(frame, "huella_consulta")
    payers, defaulters = (y == 0).sum(), (y == 1).sum()
    for position, found in enumerate(bins):
        inside = index == position
        if not inside.any():
            assert found.woe == 0.0  # an empty bin: no evidence
            continue
        share_payers = ((y == 0) & inside).sum() / payers
        share_defaulters = ((y == 1) & inside).sum() / defaulters
        assert found.woe == pytest.approx(math.log(share_payers / share_defaulters), rel=1e-9)
    ranges = [found.woe for found in bins if found.kind == "range"]
    assert ranges == sorted(ranges, reverse=True)  # +1: more inquiries, a lower WoE (a higher risk), bin by bin
    assert [found.kind for found in bins][-1] == "missing"


def test_bin_edges_are_the_shortest_decimals_that_split_the_training_values_alike():
    from creditrisk.modeling.woe import shortest_edges

    values = np.array([1.0, 2.0, 2.3456789123, 7.0, 10.5])
    assert shortest_edges([1.5, 2.17283945615, 8.75], values) == [2.0, 2.2, 9.0]
    assert shortest_edges([2.3456789123], np.array([2.34567891, 2.3456789123])) == [2.345678912]


def test_the_scorecard_takes_only_calibrations_that_keep_its_points_additive():
    import dataclasses

    from creditrisk.modeling.calibration_choice import calibration_choices
    from creditrisk.params import ParamsError
    from tests.scorecard_support import train_params

    allowed = ("none", "sigmoid")
    assert {choice.method for choice in calibration_choices(train_params(), allowed)} == {"none", "sigmoid"}
    with pytest.raises(ParamsError, match="points must stay additive"):
        calibration_choices(dataclasses.replace(train_params(), calibration="isotonic"), allowed)
