"""What the overview tells the reviewer to do next, from the drift summary and the windows.

Pure functions over what the drift stage wrote: they group and phrase, they
do not compute statistics.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import pandas as pd

AUC_DROP_TO_ACT = 0.05
"""A fall of the window's ROC-AUC below the out-of-time test by more than this asks for a retraining review."""


def features_in_alert(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(feature, first window in alert) pairs, accepting a list of records or a mapping."""
    raw = summary.get("features_in_alert") or []
    if isinstance(raw, Mapping):
        pairs = [(str(name), _since_of(value)) for name, value in raw.items()]
    else:
        pairs = [
            (str(item.get("feature")), _since_of(item)) if isinstance(item, Mapping) else (str(item), "")
            for item in raw
        ]
    return sorted(pairs, key=lambda pair: (pair[1], pair[0]))


def _since_of(value: Any) -> str:
    if isinstance(value, Mapping):
        return str(value.get("since") or value.get("first_window") or value.get("alert_since") or "")
    return "" if value is None else str(value)


def next_steps(summary: Mapping[str, Any] | None, windows: pd.DataFrame | None) -> list[str]:
    """Short, actionable sentences, most urgent first."""
    if summary is None:
        return ["Run `dvc repro drift` to check the incoming data for drift."]
    if not summary.get("latest_window"):
        return ["No incoming data has been monitored yet: add monthly batches (or score loans through the API) "
                "and run `dvc repro drift`."]
    steps: list[str] = []
    by_since: dict[str, list[str]] = defaultdict(list)
    for feature, since in features_in_alert(summary):
        by_since[since].append(feature)
    for since, names in sorted(by_since.items()):
        count = len(names)
        noun = "feature" if count == 1 else "features"
        when = f" since {since}" if since else ""
        steps.append(f"{count} {noun} in alert{when}: review {', '.join(names)} on the Drift page.")
    steps.extend(_performance_steps(windows))
    status = str(summary.get("status", "unknown"))
    if status == "warn" and not by_since:
        steps.append("Some features are in warn: keep watching the next window.")
    if not steps:
        steps.append("No feature is in alert and performance holds: nothing to do this week.")
    return steps


def _performance_steps(windows: pd.DataFrame | None) -> list[str]:
    if windows is None or windows.empty or "delta_roc_auc" not in windows:
        return []
    labelled = windows[windows["delta_roc_auc"].notna()]
    if labelled.empty:
        return []
    latest = labelled.iloc[-1]
    if float(latest["delta_roc_auc"]) < -AUC_DROP_TO_ACT:
        return [
            f"ROC-AUC in {latest['window']} is {abs(float(latest['delta_roc_auc'])):.3f} below the out-of-time "
            "test: consider retraining (Performance over time page)."
        ]
    return []
