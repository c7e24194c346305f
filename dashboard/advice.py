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


def review_action(summary: Mapping[str, Any]) -> str | None:
    """The review the stage asked for (`review_action`); a summary written before it existed had only
    `retraining_review`, which then meant a ROC-AUC drop."""
    if "review_action" in summary:
        return summary["review_action"]
    return "retrain" if summary.get("retraining_review") else None


def pd_level_step(summary: Mapping[str, Any], action: str | None) -> str | None:
    """The latest labelled window's PD-level verdict, when it is warn or alert, with the review it asks for."""
    level = summary.get("latest_calibration_level")
    if level not in ("warn", "alert"):
        return None
    todo = ("The ranking holds: check the data, then recalibrate on the latest matured months"
            if action == "recalibrate" else "The ranking fell too: retrain rather than recalibrate")
    return (f"The PD level of {summary.get('latest_calibration_window')} is in {level} "
            f"({summary.get('latest_calibration_reason')}). {todo} (Performance over time page; README, "
            "When the PD level moves).")


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
    review = review_action(summary)
    if review == "retrain":
        steps.append(
            f"ROC-AUC in {summary['latest_labelled_window']} is {abs(summary['latest_labelled_delta_roc_auc']):.3f} "
            "below the out-of-time test: consider retraining (Performance over time page)."
        )
    pd_level = pd_level_step(summary, review)
    if pd_level:
        steps.append(pd_level)
    status, reason = summary.get("status"), summary.get("reason")
    if status in ("warn", "alert") and not by_since:
        action = "review it on the Drift page" if status == "alert" else "keep watching the next window"
        steps.append(f"The latest window is in {status}" + (f" ({reason})" if reason else "") + f": {action}.")
    if not steps:
        steps.append("No feature is in alert and performance holds: nothing to do this week.")
    return steps
