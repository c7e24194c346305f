"""Forward-chaining folds: train strictly before validation, blocks cover the later loans once, ties kept whole."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from creditrisk.modeling.timesplits import TimeSplitError, forward_chaining_folds, validated_rows


def loan_dates(rows: int, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-11-01")
    return pd.Series(start + pd.to_timedelta(rng.integers(0, 540 * 24, rows), unit="h"))


def test_every_fold_trains_only_on_the_past_and_blocks_partition_the_later_loans() -> None:
    dates = loan_dates(2000)
    folds = forward_chaining_folds(dates, folds=4, min_train_share=0.5)
    assert len(folds) == 4
    for fold in folds:
        assert dates.iloc[fold.train].max() < dates.iloc[fold.validate].min()
        assert fold.train_end == dates.iloc[fold.train].max() and fold.validate_start == dates.iloc[fold.validate].min()
    validated = validated_rows(folds)
    assert len(validated) == len(np.unique(validated)) == pytest.approx(1000, abs=5)
    earliest_validated = dates.iloc[validated].min()
    assert (dates < earliest_validated).sum() == pytest.approx(1000, abs=5)
    assert [len(f.train) for f in folds] == sorted(len(f.train) for f in folds), "expanding windows"
    assert all(abs(len(f.validate) - 250) <= 5 for f in folds)


def test_rows_in_any_order_give_the_same_folds_by_date() -> None:
    dates = loan_dates(500, seed=1)
    shuffled = dates.sample(frac=1.0, random_state=3).reset_index(drop=True)
    first = forward_chaining_folds(dates, 3, 0.4)
    second = forward_chaining_folds(shuffled, 3, 0.4)
    for a, b in zip(first, second):
        assert sorted(dates.iloc[a.validate]) == sorted(shuffled.iloc[b.validate])


def test_a_timestamp_never_sits_on_both_sides() -> None:
    dates = pd.Series(pd.to_datetime(["2025-01-01"] * 50 + ["2025-02-01"] * 50 + ["2025-03-01"] * 50))
    folds = forward_chaining_folds(dates, 2, 0.3)
    for fold in folds:
        assert not set(dates.iloc[fold.train]) & set(dates.iloc[fold.validate])


def test_the_gap_leaves_days_between_train_and_validation() -> None:
    dates = loan_dates(3000, seed=2)
    for fold in forward_chaining_folds(dates, 3, 0.5, gap_days=30):
        assert (fold.validate_start - fold.train_end) >= pd.Timedelta(days=30)


def test_impossible_folds_say_what_to_change() -> None:
    one_day = pd.Series(pd.to_datetime(["2025-01-01"] * 10 + ["2025-01-02"] * 10))
    with pytest.raises(TimeSplitError, match="empty validation block.*use fewer folds"):
        forward_chaining_folds(one_day, 5, 0.5)
    with pytest.raises(TimeSplitError, match="minimum train share"):
        forward_chaining_folds(one_day, 2, 1.0)
    with pytest.raises(TimeSplitError, match="no training loans"):
        forward_chaining_folds(loan_dates(100), 2, 0.1, gap_days=10_000)
