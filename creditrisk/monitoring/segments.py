"""Segments in operation: the validation pack's per-group table for each labelled drift window.

A model can hold up on the whole portfolio while one product, employment type or age band degrades; the
drift stage therefore gives every labelled window the same table the pack gives the out-of-time test
(`creditrisk.modeling.fairness.segment_tables`: approval rate and adverse impact ratio at the decision
threshold, mean PD against the observed default rate with the binomial test, ROC-AUC where defaults allow),
on the window's labelled rows, at the drift block's band-test levels. No bootstrap here: a window's table is
read beside the next window's, and the log's windows can hold millions of rows. The tables do not change the
window's status.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from creditrisk.data.contract import TARGET
from creditrisk.modeling.bundle import ModelBundle
from creditrisk.modeling.fairness import segment_tables, table_findings, FairnessParams, GroupSettings

DELONG_CONFIDENCE = 0.95  # the level of the windows' ROC-AUC intervals (95 %, as the estimated-performance bands)


def window_segments(frame: pd.DataFrame, pd_values: np.ndarray | None, model: ModelBundle | None,
                    params: FairnessParams | None, yellow_below: float, red_below: float) -> dict[str, Any]:
    """`{"segments": {...}}` for a window with labelled rows (nothing otherwise, or without the fairness block)."""
    if params is None or model is None or pd_values is None or TARGET not in frame.columns:
        return {}
    labelled = frame[TARGET].notna().to_numpy()
    if not labelled.any():
        return {}
    rows = frame.loc[labelled].reset_index(drop=True)
    defaulted = 1 - rows[TARGET].to_numpy(dtype=float)
    settings = GroupSettings.of(params, model.threshold, yellow_below, red_below, DELONG_CONFIDENCE, bootstrap=False)
    tables = segment_tables(rows, defaulted, np.asarray(pd_values)[labelled], params, settings)
    return {"segments": {"tables": tables, **table_findings(tables)}} if tables else {}
