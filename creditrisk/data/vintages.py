"""Vintages and label maturity: the default rate by loan month, and which loans are too young to judge.

A loan booked a month before the export has had a month to fall behind; its "paid on time" label says
little yet. Loans younger than the performance window (relative to the export's last loan date) are
immature: the vintage table flags their months, and prepare can leave them out of the labelled data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from creditrisk.data.contract import DATE, TARGET


def wilson_interval(defaults: int, rows: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a default rate (Wilson 1927, JASA 22:209-212), via statsmodels."""
    if rows == 0:
        return float("nan"), float("nan")
    lower, upper = proportion_confint(defaults, rows, alpha=1 - confidence, method="wilson")
    return float(lower), float(upper)


def maturity_cutoff(last_date: pd.Timestamp, performance_window_months: int) -> pd.Timestamp:
    """Loans dated after this have had less than the performance window to show their outcome."""
    return pd.Timestamp(last_date) - pd.DateOffset(months=performance_window_months)


def mature_mask(dates: pd.Series, last_date: pd.Timestamp, performance_window_months: int) -> np.ndarray:
    return (pd.to_datetime(dates) <= maturity_cutoff(last_date, performance_window_months)).to_numpy()


def vintage_table(frame: pd.DataFrame, performance_window_months: int, last_date: pd.Timestamp | None = None,
                  confidence: float = 0.95) -> pd.DataFrame:
    """Per loan month: loans, defaults (Pago_atiempo == 0), default rate with its Wilson interval, and
    whether every loan of the month is mature. `last_date` defaults to the frame's last loan date."""
    dates = pd.to_datetime(frame[DATE])
    last = pd.Timestamp(last_date) if last_date is not None else dates.max()
    defaulted = (frame[TARGET] == 0).astype(int)
    months = dates.dt.strftime("%Y-%m")
    grouped = pd.DataFrame({"vintage": months, "default": defaulted, "date": dates}).groupby("vintage", sort=True)
    table = grouped.agg(loans=("default", "size"), defaults=("default", "sum"), latest=("date", "max"))
    table["default_rate"] = table["defaults"] / table["loans"]
    bounds = [wilson_interval(int(d), int(n), confidence) for d, n in zip(table["defaults"], table["loans"])]
    table["rate_lower"] = [low for low, _ in bounds]
    table["rate_upper"] = [high for _, high in bounds]
    table["mature"] = table["latest"] <= maturity_cutoff(last, performance_window_months)
    return table.drop(columns="latest").reset_index()
