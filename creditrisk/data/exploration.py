"""Descriptive views of the prepared training data for the dashboard's exploration page.

No stage writes these (they are cheap and depend on what the user picks), so
they live here as plain functions instead of being computed inside the
dashboard. Default means `Pago_atiempo == 0`, as everywhere else.
"""

from __future__ import annotations

import pandas as pd

from creditrisk.data.contract import TARGET

MISSING_BIN = "missing"
DEFAULT_LABEL = "default"
PAID_LABEL = "paid on time"


def numeric_columns(frame: pd.DataFrame, exclude: tuple[str, ...] = (TARGET,)) -> list[str]:
    return [
        name for name in frame.columns
        if name not in exclude and pd.api.types.is_numeric_dtype(frame[name])
        and not pd.api.types.is_bool_dtype(frame[name])
    ]


def categorical_columns(frame: pd.DataFrame, exclude: tuple[str, ...] = (TARGET,)) -> list[str]:
    return [
        name for name in frame.columns
        if name not in exclude
        and (pd.api.types.is_string_dtype(frame[name]) or isinstance(frame[name].dtype, pd.CategoricalDtype))
    ]


def split_by_outcome(frame: pd.DataFrame, column: str, target: str = TARGET) -> dict[str, pd.Series]:
    """The non-missing values of `column` for paid and defaulted loans (rows without a label left out)."""
    outcome = frame[target]
    values = frame[column]
    return {
        PAID_LABEL: values[(outcome == 1) & values.notna()],
        DEFAULT_LABEL: values[(outcome == 0) & values.notna()],
    }


def default_rate_by_bins(
    frame: pd.DataFrame, column: str, bins: int = 10, target: str = TARGET
) -> pd.DataFrame:
    """Rows and observed default rate per bin of `column`.

    Numeric columns are cut at quantiles (ties merge bins, so fewer than
    `bins` may come back); categorical columns get one bin per category.
    Missing values form their own bin, last. Unlabelled rows are left out.
    Columns: `bin` (text label), `rows`, `default_rate`.
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    labelled = frame[frame[target].notna()]
    values = labelled[column]
    defaulted = (labelled[target] == 0).astype("float64")
    present = values.notna()
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        cut = pd.qcut(values[present], q=bins, duplicates="drop")
        groups = defaulted[present].groupby(cut, observed=True)
        table = pd.DataFrame({"rows": groups.size(), "default_rate": groups.mean()})
        table.index = [_interval_label(interval) for interval in table.index]
    else:
        groups = defaulted[present].groupby(values[present].astype("str"), observed=True)
        table = pd.DataFrame({"rows": groups.size(), "default_rate": groups.mean()}).sort_index()
    if (~present).any():
        missing = defaulted[~present]
        table.loc[MISSING_BIN] = [len(missing), missing.mean()]
    table["rows"] = table["rows"].astype("int64")
    return table.rename_axis("bin").reset_index()


def _interval_label(interval: pd.Interval) -> str:
    return f"({interval.left:.4g}, {interval.right:.4g}]"


def correlation_matrix(frame: pd.DataFrame, columns: list[str] | None = None, method: str = "spearman") -> pd.DataFrame:
    """Pairwise correlation of numeric columns (pairwise-complete rows); constant columns are dropped."""
    chosen = columns if columns is not None else numeric_columns(frame, exclude=())
    numbers = frame[chosen].astype("float64")
    varying = [name for name in chosen if numbers[name].nunique(dropna=True) > 1]
    return numbers[varying].corr(method=method)
