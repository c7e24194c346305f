"""What the overview tells the reviewer to do next, from the drift summary.

Pure functions over the verdicts the drift stage wrote to `summary.json`
(see `creditrisk.monitoring.rules`): they group and phrase, they decide nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any


def features_in_alert(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(feature, first window of its current alert streak) pairs, earliest streak first."""
    streaks = summary.get("features_in_alert") or {}
    return sorted(((str(name), str(since)) for name, since in streaks.items()), key=lambda pair: (pair[1], pair[0]))


def next_steps(summary: Mapping[str, Any] | None) -> list[str]:
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
        noun = "feature" if len(names) == 1 else "features"
        steps.append(f"{len(names)} {noun} in alert since {since}: review {', '.join(names)} on the Drift page.")
    if summary.get("retraining_review"):
        steps.append(
            f"ROC-AUC in {summary['latest_labelled_window']} is {abs(summary['latest_labelled_delta_roc_auc']):.3f} "
            "below the out-of-time test: consider retraining (Performance over time page)."
        )
    status, reason = summary.get("status"), summary.get("reason")
    if status in ("warn", "alert") and not by_since:
        action = "review it on the Drift page" if status == "alert" else "keep watching the next window"
        steps.append(f"The latest window is in {status}" + (f" ({reason})" if reason else "") + f": {action}.")
    if not steps:
        steps.append("No feature is in alert and performance holds: nothing to do this week.")
    return steps
