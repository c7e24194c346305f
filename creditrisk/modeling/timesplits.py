"""Time-ordered validation: forward-chaining (expanding window) folds over the loan date.

A lender bets on the future, so the CV that chooses a model, its threshold, bands and calibration trains
on the past and validates on what came after: fold k trains on every loan dated before its validation
block (less an optional gap) and validates on the block. The first `min_train_share` of the loans is never
validated on. Blocks are cut at date boundaries, so loans of one timestamp never sit on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


class TimeSplitError(ValueError):
    """The loans cannot be cut into the folds asked for; the message says why and what to change."""


@dataclass(frozen=True)
class ForwardFold:
    """Row positions of one fold, and the dates that bound it."""

    train: np.ndarray
    validate: np.ndarray
    train_end: pd.Timestamp
    validate_start: pd.Timestamp
    validate_end: pd.Timestamp

    def describe(self) -> dict[str, object]:
        return {"train_rows": int(len(self.train)), "validate_rows": int(len(self.validate)),
                "train_end": str(self.train_end), "validate_start": str(self.validate_start),
                "validate_end": str(self.validate_end)}


def _block_starts(ordered: np.ndarray, first: int, folds: int) -> list[int]:
    """Positions (in date order) where each validation block starts, moved forward past timestamp ties."""
    rows = len(ordered)
    starts = []
    for k in range(folds):
        position = first + (rows - first) * k // folds
        while 0 < position < rows and ordered[position] == ordered[position - 1]:
            position += 1
        starts.append(position)
    return starts


def forward_chaining_folds(dates: pd.Series | np.ndarray, folds: int, min_train_share: float,
                           gap_days: float = 0.0) -> list[ForwardFold]:
    """`folds` expanding-window folds over `dates` (one per row, any order).

    Validation blocks split the loans after the first `min_train_share` (by date) into `folds` consecutive
    runs of about equal size; fold k trains on loans dated before `validate_start - gap_days`.
    """
    if folds < 1:
        raise TimeSplitError(f"forward folds = {folds}: need at least 1")
    if not 0.0 < min_train_share < 1.0:
        raise TimeSplitError(f"minimum train share = {min_train_share}: must be in (0, 1)")
    if gap_days < 0:
        raise TimeSplitError(f"gap = {gap_days} days: must be >= 0")
    moments = pd.to_datetime(pd.Series(dates)).to_numpy(dtype="datetime64[ns]")
    if np.isnat(moments).any():
        raise TimeSplitError("forward folds need a loan date on every row; some are missing")
    order = np.argsort(moments, kind="stable")
    ordered = moments[order]
    starts = _block_starts(ordered, int(round(len(ordered) * min_train_share)), folds)
    ends = starts[1:] + [len(ordered)]
    gap = np.timedelta64(int(gap_days * 86_400), "s")
    result = []
    for start, end in zip(starts, ends):
        if start >= end:
            raise TimeSplitError(f"{folds} forward folds after the first {min_train_share:.0%} of {len(ordered)} "
                                 "loans leave an empty validation block (too many loans share a date): "
                                 "use fewer folds")
        train = order[ordered < ordered[start] - gap]
        if len(train) == 0:
            raise TimeSplitError(f"the gap of {gap_days} days leaves fold {len(result) + 1} no training loans")
        result.append(ForwardFold(train=np.sort(train), validate=np.sort(order[start:end]),
                                  train_end=pd.Timestamp(moments[train].max()),
                                  validate_start=pd.Timestamp(ordered[start]),
                                  validate_end=pd.Timestamp(ordered[end - 1])))
    return result


def validated_rows(folds: list[ForwardFold]) -> np.ndarray:
    """Every row some fold validates on (each exactly once), in row order."""
    return np.sort(np.concatenate([fold.validate for fold in folds]))
