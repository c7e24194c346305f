"""Vintages: default rate by loan month with Wilson intervals, and the months too young to judge."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from creditrisk.data.contract import DATE, TARGET
from creditrisk.data.vintages import mature_mask, maturity_cutoff, vintage_table, wilson_interval


def test_wilson_interval_by_hand() -> None:
    lower, upper = wilson_interval(5, 40)
    z, p, n = 1.959964, 5 / 40, 40
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert (lower, upper) == pytest.approx((centre - half, centre + half), rel=1e-5)
    assert np.isnan(wilson_interval(0, 0)[0])


def test_the_vintage_table_counts_defaults_per_month_and_flags_young_months() -> None:
    frame = pd.DataFrame({
        DATE: pd.to_datetime(["2025-01-05", "2025-01-20", "2025-02-10", "2025-03-01", "2025-04-30"]),
        TARGET: [0.0, 1.0, 1.0, 0.0, 1.0],
    })
    table = vintage_table(frame, performance_window_months=2)
    assert table["vintage"].tolist() == ["2025-01", "2025-02", "2025-03", "2025-04"]
    assert table["loans"].tolist() == [2, 1, 1, 1] and table["defaults"].tolist() == [1, 0, 1, 0]
    assert table["default_rate"].tolist() == [0.5, 0.0, 1.0, 0.0]
    assert table["mature"].tolist() == [True, True, False, False], "cut-off 2025-02-28: two months before the last"
    first = table.iloc[0]
    assert (first["rate_lower"], first["rate_upper"]) == pytest.approx(wilson_interval(1, 2))


def test_maturity_is_relative_to_the_last_loan_date() -> None:
    assert maturity_cutoff(pd.Timestamp("2026-04-24"), 3) == pd.Timestamp("2026-01-24")
    dates = pd.Series(pd.to_datetime(["2026-01-24", "2026-01-25"]))
    assert mature_mask(dates, pd.Timestamp("2026-04-24"), 3).tolist() == [True, False]
