"""Fair lending: the model's outcomes by age band and by segment, and the Regulation B age check.

Age is a protected attribute under the US Equal Credit Opportunity Act. Regulation B (12 CFR 1002.6(b)(2))
lets an empirically derived, demonstrably and statistically sound scoring system use it, "provided that the
age of an elderly applicant is not assigned a negative factor or value"; elderly means 62 or older
(12 CFR 1002.2(o)). Reviewers also read the adverse impact ratio (AIR) at the decision cut-off: a group's
approval rate over the most favoured group's. Its usual cut-off, four fifths, is the "four-fifths rule" of the
US Uniform Guidelines on Employee Selection Procedures (29 CFR 1607.4(D)): a convention from employment
practice, not a rule of credit law, used here as a screening level for review.

Per group (`group_table`): rows, the approval rate at the decision threshold with a bootstrap interval, the AIR
against the most favoured group with a bootstrap interval, mean PD against the observed default rate with the
exact binomial test (calibration per group), and ROC-AUC with its DeLong interval where the group holds
enough defaults and payers; and the lowest AIR with its group's interval. The table and its bootstrap (percentile
intervals) are fairlearn's `MetricFrame` (Weerts et al. (2023),
"Fairlearn: Assessing and Improving Fairness of AI Systems", JMLR 24(257)). A group smaller than
`min_group_rows` is reported and not judged (no light, and it cannot be the most favoured group).

The age check (`elderly_age_check`) reads the model two ways for every applicant at or above the elderly age:
the age input's attribution against the reasons' reference applicant (the same exact attribution the
principal reasons use, rounded as they round it), and a what-if, the PD with `edad_cliente` set to the
reference applicant's age. An applicant whose PD age raises by either reading breaks the rule: red.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

from creditrisk.data.contract import MISSING_CATEGORY
from creditrisk.modeling.bundle import ModelBundle
from creditrisk.modeling.features import raw_inputs
from creditrisk.modeling.engine import build_engine, ExplanationUnavailable
from creditrisk.modeling.reasons import CONTRIBUTION_DECIMALS
from creditrisk.modeling.validation import (
    auc_confidence_interval,
    calibration_in_the_large,
    logit,
    traffic_light,
    TrafficLight,
)
from creditrisk.params import ParamsBlock

AGE = "edad_cliente"
AGE_BAND = "age_band"
UNKNOWN = "unknown"
OTHER = "other"
SEGMENT_TITLES = {AGE_BAND: "age band", "tipo_credito": "product", "tipo_laboral": "employment type"}


@dataclass(frozen=True)
class FairnessParams(ParamsBlock):
    """The `fairness` block of params.yaml."""

    BLOCK: ClassVar[str] = "fairness"
    age_bands: list[int]
    elderly_age: int
    segments: list[str]
    min_group_rows: int
    min_group_defaults: int
    air_yellow: float
    air_red: float
    age_check_tolerance: float
    bootstrap_samples: int
    seed: int

    def problems(self) -> list[tuple[str, str]]:
        found = []
        if any(b <= a for a, b in zip(self.age_bands, self.age_bands[1:])) or not self.age_bands:
            found.append(("age_bands", "must be a non-empty, strictly increasing list of ages"))
        if self.elderly_age not in self.age_bands:
            found.append(("elderly_age", f"must be one of the age band edges {self.age_bands} (its band is judged)"))
        if not 0 < self.air_red <= self.air_yellow <= 1:
            found.append(("air_red", f"must be in (0, fairness.air_yellow = {self.air_yellow}] and air_yellow <= 1"))
        if self.min_group_rows < 1 or self.min_group_defaults < 2:
            found.append(("min_group_rows", "must be >= 1, and min_group_defaults >= 2"))
        if self.age_check_tolerance < 0:
            found.append(("age_check_tolerance", "must be >= 0 (0 = no applicant's PD may rise with age)"))
        if self.bootstrap_samples < 0:
            found.append(("bootstrap_samples", "must be >= 0 (0 = no bootstrap intervals)"))
        return found


@dataclass(frozen=True)
class GroupSettings:
    """What a group table needs beyond the data: the decision threshold, sizes, levels and the bootstrap."""

    threshold: float
    min_rows: int
    min_defaults: int
    air_yellow: float
    air_red: float
    yellow_below: float
    red_below: float
    confidence: float
    bootstrap_samples: int
    seed: int

    @classmethod
    def of(cls, params: FairnessParams, threshold: float, yellow_below: float, red_below: float,
           confidence: float, bootstrap: bool = True) -> GroupSettings:
        return cls(threshold, params.min_group_rows, params.min_group_defaults, params.air_yellow, params.air_red,
                   yellow_below, red_below, confidence, params.bootstrap_samples if bootstrap else 0, params.seed)


# ---------------------------------------------------------------- groups


def age_band_labels(edges: Sequence[int]) -> list[str]:
    """[25, 35, 62] -> ["<25", "25-34", "35-61", "62+"]."""
    inner = [f"{low}-{high - 1}" for low, high in zip(edges, edges[1:])]
    return [f"<{edges[0]}", *inner, f"{edges[-1]}+"]


def age_bands(ages: pd.Series, edges: Sequence[int]) -> pd.Series:
    """Each applicant's age band; a missing age (the export's placeholder ages are nulled) is "unknown"."""
    numbers = pd.to_numeric(ages, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    labels = np.array(age_band_labels(edges), dtype=object)
    banded = labels[np.searchsorted(np.asarray(edges, dtype="float64"), numbers, side="right")]
    return pd.Series(np.where(np.isnan(numbers), UNKNOWN, banded), index=ages.index, name=AGE_BAND, dtype=object)


def _text(values: pd.Series) -> pd.Series:
    """Category values as text ("4", not "4.0"); missing, or the missing-category marker, "unknown"."""
    numbers = pd.to_numeric(values, errors="coerce")
    whole = numbers.notna() & (numbers == numbers.round())
    text = pd.Series([str(int(number)) if is_whole else str(value) for value, number, is_whole
                      in zip(values.tolist(), numbers.tolist(), whole.tolist(), strict=True)],
                     index=values.index, dtype=object)
    return text.where(values.notna().to_numpy() & (text != MISSING_CATEGORY).to_numpy(), UNKNOWN)


def segment_groups(values: pd.Series, min_rows: int) -> tuple[pd.Series, list[str]]:
    """Each row's segment: its value, or "other" for values with fewer than `min_rows` rows (rare product codes
    grouped; a single rare value keeps its name, which grouping would only hide), "unknown" when missing. Also
    the values grouped into "other"."""
    text = _text(values)
    counts = text.value_counts()
    rare = sorted((str(value) for value in counts.index[counts < min_rows] if value != UNKNOWN), key=_natural)
    grouped = text.where(~text.isin(rare), OTHER) if len(rare) > 1 else text
    return grouped.rename(values.name), rare if len(rare) > 1 else []


def _natural(label: str) -> tuple[int, float, str]:
    """Order of groups: numbers by value, then text, then "other" and "unknown" last."""
    if label in (OTHER, UNKNOWN):
        return (2, 0.0, label)
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def group_order(labels: Sequence[str], edges: Sequence[int] | None = None) -> list[str]:
    present = set(labels)
    if edges is not None:
        return [label for label in [*age_band_labels(edges), UNKNOWN] if label in present]
    return sorted(present, key=_natural)


# ---------------------------------------------------------------- the per-group table


def _metrics(settings: GroupSettings) -> dict[str, Callable[[Any, Any], float]]:
    """Scalar metrics of one group (y_true = 1 for a default, y_pred = the PD), as MetricFrame calls them."""

    def approval_rate(y_true: Any, y_pred: Any) -> float:
        return float(np.mean(np.asarray(y_pred, dtype="float64") < settings.threshold))

    def auc_part(part: str) -> Callable[[Any, Any], float]:
        def measure(y_true: Any, y_pred: Any) -> float:
            y = np.asarray(y_true).astype(int)
            if min(y.sum(), len(y) - y.sum()) < settings.min_defaults:
                return float("nan")
            interval = auc_confidence_interval(y, np.asarray(y_pred, dtype="float64"), settings.confidence)
            return float(getattr(interval, part))
        return measure

    return {
        "rows": lambda y_true, y_pred: float(len(y_true)),
        "defaults": lambda y_true, y_pred: float(np.sum(y_true)),
        "approval_rate": approval_rate,
        "observed_rate": lambda y_true, y_pred: float(np.mean(y_true)),
        "mean_pd": lambda y_true, y_pred: float(np.mean(y_pred)),
        "calibration_pvalue": lambda y_true, y_pred: calibration_in_the_large(
            np.asarray(y_true), np.asarray(y_pred, dtype="float64"))["pvalue"],
        "roc_auc": auc_part("auc"),
        "roc_auc_lower": auc_part("lower"),
        "roc_auc_upper": auc_part("upper"),
    }


def _quantiles(confidence: float) -> list[float]:
    return [(1 - confidence) / 2, (1 + confidence) / 2]


def _approval_frame(y: np.ndarray, pd_values: np.ndarray, groups: pd.Series, settings: GroupSettings,
                    controls: pd.Series | None = None) -> MetricFrame:
    """The approval rate by group (within each control level, when given), with fairlearn's bootstrap."""
    bootstrap = ({"n_boot": settings.bootstrap_samples, "ci_quantiles": _quantiles(settings.confidence),
                  "random_state": settings.seed} if settings.bootstrap_samples else {})
    return MetricFrame(metrics={"approval_rate": _metrics(settings)["approval_rate"]}, y_true=y, y_pred=pd_values,
                       sensitive_features=groups, control_features=controls, **bootstrap)


Interval = tuple[float, float]


def _pair_bootstrap(y: np.ndarray, pd_values: np.ndarray, groups: pd.Series, others: list[str], favoured: str,
                    settings: GroupSettings) -> tuple[dict[str, Interval], dict[str, Interval]]:
    """fairlearn's bootstrap intervals of each judged group's approval rate and of its AIR: the between-groups
    ratio (smaller rate over larger) of the group and the favoured group. The pairs are stacked, each with the
    favoured group's rows beside the group's and the pair as control feature, so that one MetricFrame resamples
    them all (each pair on its own); the favoured group's approval interval is its resampling in the first pair."""
    favoured_rows = np.flatnonzero((groups == favoured).to_numpy())
    parts = [(np.flatnonzero((groups == other).to_numpy()), other) for other in others]
    index = np.concatenate([np.concatenate([rows, favoured_rows]) for rows, _ in parts])
    side = np.concatenate([np.r_[np.full(len(rows), "group", dtype=object),
                                 np.full(len(favoured_rows), "favoured", dtype=object)] for rows, _ in parts])
    pair = np.concatenate([np.full(len(rows) + len(favoured_rows), other, dtype=object) for rows, other in parts])
    frame = _approval_frame(y[index], pd_values[index], pd.Series(side, name="side"), settings,
                            pd.Series(pair, name="pair"))
    low, high = (bound["approval_rate"] for bound in frame.by_group_ci)
    approval = {other: (float(low[(other, "group")]), float(high[(other, "group")])) for other in others}
    approval[favoured] = (float(low[(others[0], "favoured")]), float(high[(others[0], "favoured")]))
    low, high = (bound["approval_rate"] for bound in frame.ratio_ci("between_groups"))
    return approval, {other: (float(low[other]), float(high[other])) for other in others}


def _light(value: float, yellow: float, red: float) -> TrafficLight:
    return "red" if value < red else "yellow" if value < yellow else "green"


def group_table(y: np.ndarray, pd_values: np.ndarray, groups: pd.Series, settings: GroupSettings,
                order: Sequence[str] | None = None) -> dict[str, Any]:
    """The per-group table of one grouping (see the module's docstring), as the validation pack writes it."""
    y = np.asarray(y).astype(int)
    pd_values = np.asarray(pd_values, dtype="float64")
    groups = pd.Series(np.asarray(groups, dtype=object), name=groups.name or "group")
    table = MetricFrame(metrics=_metrics(settings), y_true=y, y_pred=pd_values, sensitive_features=groups).by_group
    labels = [label for label in (order if order is not None else group_order(list(table.index)))
              if label in table.index]
    judged = [label for label in labels if table.at[label, "rows"] >= settings.min_rows]
    favoured = max(judged, key=lambda label: table.at[label, "approval_rate"]) if judged else None
    rows = [_group_row(label, table, label in judged, favoured, settings) for label in labels]
    result: dict[str, Any] = {"column": str(groups.name), "favoured_group": favoured, "groups": rows,
                              "lowest_group": None, "air_min": None, "air_min_lower": None, "air_min_upper": None}
    if len(judged) < 2:
        return result
    lowest = min(judged, key=lambda label: table.at[label, "approval_rate"])
    result["lowest_group"] = lowest
    result["air_min"] = next(row["air"] for row in rows if row["group"] == lowest)
    others = [label for label in judged if label != favoured and table.at[favoured, "approval_rate"] > 0]
    if settings.bootstrap_samples and others:
        approval, air = _pair_bootstrap(y, pd_values, groups, others, str(favoured), settings)
        for row in rows:
            row["approval_lower"], row["approval_upper"] = approval.get(row["group"], (None, None))
            row["air_lower"], row["air_upper"] = air.get(row["group"], (None, None))
        result["air_min_lower"], result["air_min_upper"] = air.get(lowest, (None, None))
    return result


def _group_row(label: str, table: pd.DataFrame, judged: bool, favoured: str | None,
               settings: GroupSettings) -> dict[str, Any]:
    values = table.loc[label]
    row: dict[str, Any] = {"group": label, "judged": judged, **{name: float(values[name]) for name in table.columns}}
    row["rows"], row["defaults"] = int(values["rows"]), int(values["defaults"])
    best = float(table.at[favoured, "approval_rate"]) if favoured is not None else 0.0
    air = row["approval_rate"] / best if best > 0 else None
    row.update({"approval_lower": None, "approval_upper": None, "air": air, "air_lower": None, "air_upper": None})
    row["air_light"] = _light(air, settings.air_yellow, settings.air_red) if judged and air is not None else None
    row["calibration_light"] = traffic_light(row["calibration_pvalue"], settings.yellow_below,
                                             settings.red_below) if judged else None
    return row


def segment_tables(frame: pd.DataFrame, y: np.ndarray, pd_values: np.ndarray, params: FairnessParams,
                   settings: GroupSettings) -> dict[str, dict[str, Any]]:
    """The group table by age band and by each segment column of params (rare values grouped)."""
    tables = {}
    if AGE in frame.columns:
        bands = age_bands(frame[AGE], params.age_bands)
        tables[AGE_BAND] = group_table(y, pd_values, bands, settings, group_order(list(bands), params.age_bands))
    for column in params.segments:
        if column not in frame.columns:
            continue
        groups, grouped = segment_groups(frame[column].reset_index(drop=True), params.min_group_rows)
        tables[column] = {**group_table(y, pd_values, groups, settings), "grouped_as_other": grouped}
    return tables


def table_findings(tables: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Light counts over every judged group's AIR and calibration, and the names of the red ones."""
    named: list[tuple[str, str]] = []
    for column, table in tables.items():
        title = SEGMENT_TITLES.get(column, column)
        for row in table["groups"]:
            named += [(f"{title} {row['group']} {what}", row[key])
                      for what, key in (("adverse impact ratio", "air_light"), ("calibration", "calibration_light"))
                      if row.get(key)]
    return {"lights": {light: sum(given == light for _, given in named) for light in ("green", "yellow", "red")},
            "red": [name for name, light in named if light == "red"]}


# ---------------------------------------------------------------- the Regulation B age check


def age_inputs(columns: Sequence[str]) -> list[int]:
    """Positions of the model inputs computed from the age (the column itself and features derived from it)."""
    return [position for position, name in enumerate(columns) if AGE in raw_inputs([name])]


def age_attribution(bundle: ModelBundle, frame: pd.DataFrame) -> np.ndarray | None:
    """Per row, the age inputs' attribution of logit(PD) - logit(PD of the reference applicant the bundle
    records), as the principal reasons compute it; None when the model's estimator cannot be read as an
    additive score.

    The one call into the reasons' attribution (the scoring engine's `explain`)."""
    try:
        contributions = build_engine(bundle).explain(frame.reindex(columns=bundle.features))
    except ExplanationUnavailable:
        return None
    return contributions.iloc[:, age_inputs(list(contributions.columns))].sum(axis=1).to_numpy()


def elderly_age_check(bundle: ModelBundle, frame: pd.DataFrame, pd_values: np.ndarray,
                      params: FairnessParams) -> dict[str, Any]:
    """Regulation B's rule for applicants at or above `elderly_age`: age must not raise their PD (red when it
    does for any of them beyond `age_check_tolerance` on the logit; see the module's docstring)."""
    ages = pd.to_numeric(frame[AGE], errors="coerce") if AGE in frame.columns else pd.Series(np.nan, index=frame.index)
    elderly = (ages >= params.elderly_age).fillna(False).to_numpy(dtype=bool)
    reference = (bundle.metadata.get("reasons") or {}).get("reference_applicant") or {}
    result: dict[str, Any] = {"elderly_age": params.elderly_age, "rows": int(elderly.sum()),
                              "reference_age": reference.get(AGE), "tolerance": params.age_check_tolerance,
                              "uses_age": AGE in bundle.features}
    if not result["uses_age"]:
        return {**result, "light": "green", "verdict": f"the model does not read {AGE}"}
    if not elderly.any() or reference.get(AGE) is None:
        return {**result, "light": None, "verdict": f"not judged: no applicant aged {params.elderly_age} or over"
                if not elderly.any() else "not judged: the model records no reference applicant"}
    rows = frame.loc[elderly]
    attribution = age_attribution(bundle, rows)
    result["attribution"] = _raised_summary(attribution, params.age_check_tolerance)
    result["what_if"] = _what_if(bundle, rows, np.asarray(pd_values, dtype="float64")[elderly], float(reference[AGE]),
                                 params.age_check_tolerance)
    raised = max(result["what_if"]["rows_raised"], (result["attribution"] or {}).get("rows_raised", 0))
    result["light"] = "red" if raised else "green"
    result["verdict"] = f"age raises the PD of {raised or 'none'} of {len(rows)} applicants aged {params.elderly_age}+"
    return result


def _raised_summary(contributions: np.ndarray | None, tolerance: float) -> dict[str, Any] | None:
    """The age attribution of the elderly rows: mean, largest, and how many rows it raises beyond the
    tolerance once rounded as the reasons round it (a contribution the reasons could report)."""
    if contributions is None:
        return None
    rounded = np.round(contributions, CONTRIBUTION_DECIMALS)
    raised = rounded > tolerance
    return {"mean": float(contributions.mean()), "max": float(contributions.max()), "rows_raised": int(raised.sum()),
            "share_raised": float(raised.mean())}


def _what_if(bundle: ModelBundle, rows: pd.DataFrame, pd_values: np.ndarray, reference_age: float,
             tolerance: float) -> dict[str, Any]:
    """The elderly rows scored again with the reference applicant's age: how many would get a lower PD, a
    better band or an approval instead of a rejection."""
    moved = rows.copy()
    moved[AGE] = reference_age
    at_reference = bundle.predict_pd(moved)
    gap = np.round(logit(pd_values) - logit(at_reference), CONTRIBUTION_DECIMALS)
    raised = gap > tolerance
    order = {band.name: position for position, band in enumerate(bundle.bands)}
    band_now = np.array([order[name] for name in bundle.band_of(pd_values)])
    band_then = np.array([order[name] for name in bundle.band_of(at_reference)])
    return {"mean_pd": float(pd_values.mean()), "mean_pd_at_reference_age": float(at_reference.mean()),
            "max_logit_gap": float(gap.max()), "max_pd_increase": float(np.max(pd_values - at_reference)),
            "rows_raised": int(raised.sum()), "share_raised": float(raised.mean()),
            "better_band_at_reference_age": int((band_then < band_now).sum()),
            "approved_at_reference_age": int(((pd_values >= bundle.threshold)
                                              & (at_reference < bundle.threshold)).sum())}


def fairness_tables(frame: pd.DataFrame, y: np.ndarray, pd_values: np.ndarray, params: FairnessParams,
                    settings: GroupSettings) -> dict[str, Any]:
    """The validation pack's `fairness` part: the tables, their findings and the levels they were judged at."""
    tables = segment_tables(frame.reset_index(drop=True), y, pd_values, params, settings)
    return {"tables": tables, **table_findings(tables),
            "levels": {"air_yellow_below": params.air_yellow, "air_red_below": params.air_red,
                       "min_group_rows": params.min_group_rows, "min_group_defaults": params.min_group_defaults,
                       "bootstrap_samples": settings.bootstrap_samples, "threshold": settings.threshold},
            "convention": "adverse impact ratio = a group's approval rate / the most favoured group's; the "
                          "four-fifths level comes from US employment practice (29 CFR 1607.4(D)), not from credit law"}


def fairness_section(bundle: ModelBundle, frame: pd.DataFrame, y: np.ndarray, pd_values: np.ndarray,
                     params: FairnessParams, settings: GroupSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    """The validation pack's `fairness` (the tables and their findings) and `age_check` parts."""
    return (fairness_tables(frame, y, pd_values, params, settings),
            elderly_age_check(bundle, frame.reset_index(drop=True), pd_values, params))
