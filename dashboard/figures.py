"""Figure builders: plain functions from already computed data to a Plotly figure.

Nothing here computes a statistic or a verdict: the inputs are what the
pipeline stages wrote (drift tables, metrics, curves, levels, thresholds) or
what `creditrisk.data.exploration` returned. The builders only reshape and draw, so they are tested on small
frames without Streamlit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from creditrisk.monitoring.report import SCORE
from creditrisk.monitoring.rules import LEVELS
from dashboard.formatting import band_colours, bin_labels, label as key_label, percent, variant_title, with_unit

LEVEL_COLOURS = {"ok": "#2e7d32", "warn": "#f9a825", "alert": "#c62828"}
LIGHTS = ("green", "yellow", "red")
"""The validation pack's traffic lights (creditrisk.modeling.validation.traffic_light), least severe first."""
LIGHT_COLOURS = dict(zip(LIGHTS, (LEVEL_COLOURS[level] for level in LEVELS)))
NEUTRAL_COLOUR = "#9e9e9e"
REFERENCE_COLOUR = "#5c6bc0"
CURRENT_COLOUR = "#ef6c00"
THRESHOLD_DASH = {"warn": "dash", "alert": "dot"}

Thresholds = Mapping[str, Mapping[str, float]]
"""Per statistic, the cut-off of each level, e.g. {"psi": {"warn": 0.1, "alert": 0.25}}."""

STATISTIC_TITLES = {
    "psi": "PSI",
    "js": "Jensen-Shannon distance",
    "ks_stat": "KS statistic",
    "ks_pvalue_adj": "KS p-value (adjusted, log scale)",
    "chi2_pvalue_adj": "chi-square p-value (adjusted, log scale)",
    "missing_share_change": "missing-share change",
    "score_psi": "score PSI",
}
P_VALUES = ("ks_pvalue_adj", "chi2_pvalue_adj")
"""Statistics drawn on a log axis: their interesting values run from 1 down to 1e-80."""
SMALLEST_P_VALUE = 1e-300
"""A p-value that underflowed to 0 is drawn here (a log axis has no 0)."""
STATISTIC_LEVEL = "{}_level"
"""The features.csv column with a statistic's own level (creditrisk.monitoring.rules.statistic_levels)."""
MODEBAR_MARGIN = 64
"""Right margin, in pixels, that holds Plotly's vertical toolbar clear of axis titles."""
COLOUR_BAR_MARGIN = 90
"""More right margin where a colour bar stands there too (Plotly draws it in the margin, under the toolbar)."""


def level_colour(level: object) -> str:
    return LEVEL_COLOURS.get(str(level), NEUTRAL_COLOUR)


def light_colour(light: object) -> str:
    return LIGHT_COLOURS.get(str(light), NEUTRAL_COLOUR)


def _base_layout(figure: go.Figure, title: str, height: int = 360, legend_below: bool = False,
                 colour_bar: bool = False) -> go.Figure:
    """Common look; panels with their own titles get the legend below, clear of those titles. The right margin
    holds the vertical toolbar clear of a secondary axis's title and, with `colour_bar`, of the colour bar."""
    legend = (
        {"orientation": "h", "yanchor": "top", "y": -0.12, "x": 0}
        if legend_below
        else {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0}
    )
    figure.update_layout(
        title=title,
        height=height,
        margin={"l": 40, "r": MODEBAR_MARGIN + (COLOUR_BAR_MARGIN if colour_bar else 0), "t": 60,
                "b": 90 if legend_below else 40},
        legend=legend,
        template="plotly_white",
        modebar={"orientation": "v"},
    )
    return figure


def _threshold_lines(
    figure: go.Figure, cutoffs: Mapping[str, float] | None, row: int | None = None, col: int | None = None,
    log_axis: bool = False,
) -> None:
    """Draw each level's cut-off as a labelled horizontal line (on a log axis Plotly places shapes by log10)."""
    for level, value in (cutoffs or {}).items():
        if value is None:
            continue
        position = {"row": row, "col": col} if row is not None else {}
        figure.add_hline(
            y=float(np.log10(value)) if log_axis else float(value),
            line={"color": level_colour(level), "dash": THRESHOLD_DASH.get(level, "dash"), "width": 1.5},
            annotation_text=f"{level} {value:g}",
            annotation_position="top left",
            name=f"{level} threshold",
            **position,
        )


def _reference_line(
    figure: go.Figure, value: float | None, label: str, row: int | None = None, col: int | None = None,
    as_percent: bool = False,
) -> None:
    """A dotted reference value, labelled in the panel's own units (a rate on a % axis as a percentage)."""
    if value is None or pd.isna(value):
        return
    position = {"row": row, "col": col} if row is not None else {}
    figure.add_hline(
        y=float(value),
        line={"color": REFERENCE_COLOUR, "dash": "dot", "width": 1.5},
        annotation_text=f"{label} {percent(value) if as_percent else f'{value:.3g}'}",
        annotation_position="bottom left",
        name=label,
        **position,
    )


def alert_counts_figure(counts: Mapping[str, int]) -> go.Figure:
    """Bars of how many features sit at each level in one window."""
    levels = [level for level in LEVELS if level in counts] + [
        level for level in counts if level not in LEVELS
    ]
    figure = go.Figure(
        go.Bar(
            x=levels,
            y=[int(counts[level]) for level in levels],
            marker_color=[level_colour(level) for level in levels],
            text=[int(counts[level]) for level in levels],
            textposition="auto",
            name="features",
        )
    )
    figure.update_xaxes(title="level")
    figure.update_yaxes(title="features", rangemode="tozero")
    return _base_layout(figure, "Features by drift level, latest window", height=300)


def window_status_figure(windows: pd.DataFrame) -> go.Figure:
    """Per window, features in warn and in alert, stacked; the window's status as marker colour."""
    figure = go.Figure()
    for level, column in (("warn", "features_warn"), ("alert", "features_alert")):
        figure.add_trace(
            go.Bar(
                x=windows["window"],
                y=windows[column],
                name=f"features in {level}",
                marker_color=level_colour(level),
            )
        )
    drifted = (windows["features_warn"].fillna(0) + windows["features_alert"].fillna(0)).to_list()
    top = max(drifted, default=0)
    figure.add_trace(
        go.Scatter(
            x=windows["window"],
            y=[count + 0.08 * top + 0.3 for count in drifted],
            mode="markers+text",
            marker={"size": 14, "symbol": "circle", "color": [level_colour(s) for s in windows["status"]]},
            text=[str(status) for status in windows["status"]],
            textposition="top center",
            name="window status",
        )
    )
    figure.update_layout(barmode="stack")
    figure.update_xaxes(title="window", type="category")
    figure.update_yaxes(title="features", rangemode="tozero")
    return _base_layout(figure, "Drift by window")


def score_drift_figure(windows: pd.DataFrame, cutoffs: Mapping[str, float] | None = None) -> go.Figure:
    """PSI of the model's PD per window, with the warn/alert cut-offs."""
    figure = go.Figure(
        go.Scatter(
            x=windows["window"],
            y=windows["score_psi"],
            mode="lines+markers",
            marker={"size": 10, "color": [level_colour(s) for s in windows["status"]]},
            line={"color": NEUTRAL_COLOUR},
            name="score PSI",
        )
    )
    _threshold_lines(figure, cutoffs)
    figure.update_xaxes(title="window", type="category")
    figure.update_yaxes(title="PSI of the PD", rangemode="tozero")
    return _base_layout(figure, "PD drift (score PSI) by window", height=300)


def api_activity_figure(daily: pd.DataFrame) -> go.Figure:
    """Rows scored by the API per day (`day`, `rows`)."""
    figure = go.Figure(go.Bar(x=daily["day"], y=daily["rows"], marker_color=REFERENCE_COLOUR, name="rows"))
    figure.update_xaxes(title="day (UTC)", type="category")
    figure.update_yaxes(title="rows scored", rangemode="tozero")
    return _base_layout(figure, "Rows scored by the API", height=260)


def distribution_overlay_figure(
    feature: str, bins: Sequence[str], reference: Sequence[float], current: Sequence[float], kind: str,
    column: str | None = None,
) -> go.Figure:
    """Reference vs current shares on the reference bins.

    Numeric features: overlaid histogram bars on the quantile bins, labelled as ranges in the column's units
    (`column`, default `feature`; the drift reports' `__score__` for the PD, in percent). Categorical ones:
    grouped bars, including the missing and unseen bins the stage wrote.
    """
    column = column or feature
    labels = bin_labels([str(label) for label in bins], column)
    opacity = 0.55 if kind == "numeric" else 1.0
    figure = go.Figure(
        [
            go.Bar(x=labels, y=list(reference), name="reference (train)", marker_color=REFERENCE_COLOUR,
                   opacity=opacity),
            go.Bar(x=labels, y=list(current), name="current window", marker_color=CURRENT_COLOUR,
                   opacity=opacity),
        ]
    )
    figure.update_layout(barmode="overlay" if kind == "numeric" else "group", bargap=0.05)
    axis = "PD (%)" if column == SCORE else with_unit(column) if kind == "numeric" else "category"
    figure.update_xaxes(title=axis, type="category")
    figure.update_yaxes(title="share of rows", tickformat=".0%", rangemode="tozero")
    return _base_layout(figure, f"{feature}: reference vs current distribution")


def feature_history_figure(
    feature: str,
    history: pd.DataFrame,
    statistics: Sequence[str],
    thresholds: Thresholds | None = None,
    limits: Mapping[str, str] | None = None,
) -> go.Figure:
    """One row per statistic over all windows; each statistic's markers coloured by its own level.

    A statistic's level is the `<statistic>_level` column the drift stage writes (its part in the feature's
    level); a statistic without one (a p-value) is drawn grey. P-values are on a log axis. `thresholds` are
    the fixed cut-offs (horizontal lines); `limits` maps a statistic to a column of per-window limits (e.g.
    the bootstrap PSI limit) drawn as a dotted series beside them.
    """
    present = [name for name in statistics if name in history.columns]
    limits = {
        name: column for name, column in (limits or {}).items()
        if column in history.columns and history[column].notna().any()
    }
    figure = make_subplots(
        rows=max(len(present), 1),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        subplot_titles=[
            STATISTIC_TITLES.get(name, name) + (" (dotted: bootstrap limit)" if name in limits else "")
            for name in present
        ],
    )
    for row, name in enumerate(present, start=1):
        levels = history.get(STATISTIC_LEVEL.format(name), pd.Series([None] * len(history), index=history.index))
        values = history[name].clip(lower=SMALLEST_P_VALUE) if name in P_VALUES else history[name]
        figure.add_trace(
            go.Scatter(
                x=history["window"],
                y=values,
                mode="lines+markers",
                marker={"size": 9, "color": [level_colour(level) for level in levels]},
                line={"color": NEUTRAL_COLOUR},
                name=STATISTIC_TITLES.get(name, name),
                showlegend=False,
            ),
            row=row,
            col=1,
        )
        if name in P_VALUES:
            figure.update_yaxes(type="log", exponentformat="power", row=row, col=1)
        if name in limits:
            figure.add_trace(
                go.Scatter(
                    x=history["window"],
                    y=history[limits[name]],
                    mode="lines",
                    line={"color": REFERENCE_COLOUR, "dash": "dot"},
                    name=f"{STATISTIC_TITLES.get(name, name)} limit (bootstrap)",
                    showlegend=False,
                ),
                row=row,
                col=1,
            )
        _threshold_lines(figure, (thresholds or {}).get(name), row=row, col=1, log_axis=name in P_VALUES)
    figure.update_xaxes(type="category")
    figure.update_xaxes(title="window", row=max(len(present), 1), col=1)
    return _base_layout(figure, f"{feature}: statistics over time", height=220 * max(len(present), 1) + 80)


def psi_heatmap_figure(features: pd.DataFrame, value: str = "psi", windows: Sequence[str] | None = None) -> go.Figure:
    """Heatmap of one statistic by feature (rows) x window (columns, in the order of `windows` when given: time
    order, a prediction-log month beside its batch); hover shows the level."""
    matrix = features.pivot_table(index="feature", columns="window", values=value, aggfunc="first")
    if windows is not None:
        matrix = matrix.reindex(columns=[window for window in windows if window in matrix.columns])
    levels = features.pivot_table(index="feature", columns="window", values="level", aggfunc="first")
    levels = levels.reindex(index=matrix.index, columns=matrix.columns)
    figure = go.Figure(
        go.Heatmap(
            z=matrix.to_numpy(dtype=float),
            x=[str(column) for column in matrix.columns],
            y=[str(index) for index in matrix.index],
            customdata=levels.to_numpy(dtype=object),
            colorscale="YlOrRd",
            zmin=0,
            colorbar={"title": STATISTIC_TITLES.get(value, value)},
            hovertemplate="feature %{y}<br>window %{x}<br>" + value + " %{z:.3f}<br>level %{customdata}<extra></extra>",
        )
    )
    figure.update_xaxes(title="window", type="category")
    figure.update_yaxes(title="feature", type="category", autorange="reversed")
    height = max(320, 22 * len(matrix.index) + 140)
    return _base_layout(figure, f"{STATISTIC_TITLES.get(value, value)} by window and feature", height=height,
                        colour_bar=True)


REALISED = "realised (labelled windows)"
ESTIMATED = "estimated from the PDs"
ESTIMATE_BAND = "95 % band of the estimate"
"""The performance chart's encodings: one legend entry each, whatever panel a series is in."""


def _in_legend(figure: go.Figure, group: str) -> bool:
    """Whether a trace of `group` is the first of its legend group (the one that shows in the legend)."""
    return not any(trace.legendgroup == group and trace.showlegend is not False for trace in figure.data)


def _estimated(figure: go.Figure, windows: pd.DataFrame, column: str, metric: str, value_format: str,
               row: int, col: int) -> None:
    """An estimated series (CBPE, from the PDs) as a dashed line over its shaded 95 % band."""
    if column not in windows or windows[column].isna().all():
        return
    shown = windows[windows[column].notna()]
    low, high = f"{column}_low", f"{column}_high"
    if low in shown and high in shown:
        figure.add_trace(go.Scatter(x=shown["window"], y=shown[low], mode="lines", line={"width": 0},
                                    showlegend=False, hoverinfo="skip", legendgroup=ESTIMATE_BAND,
                                    name=f"{metric}, band low"), row=row, col=col)
        figure.add_trace(go.Scatter(x=shown["window"], y=shown[high], mode="lines", line={"width": 0},
                                    fill="tonexty", fillcolor="rgba(120, 120, 120, 0.15)", hoverinfo="skip",
                                    legendgroup=ESTIMATE_BAND, showlegend=_in_legend(figure, ESTIMATE_BAND),
                                    name=ESTIMATE_BAND), row=row, col=col)
    _series(figure, shown["window"], shown[column], ESTIMATED, metric, value_format, row, col,
            line={"color": REFERENCE_COLOUR, "dash": "dash"})


def _series(figure: go.Figure, x: pd.Series, y: pd.Series, encoding: str, metric: str, value_format: str,
            row: int, col: int, **style: object) -> None:
    """One series of the performance chart: named in the legend by its encoding, in the hover by its metric."""
    figure.add_trace(go.Scatter(x=x, y=y, mode=str(style.pop("mode", "lines+markers")), name=encoding,
                                legendgroup=encoding, showlegend=_in_legend(figure, encoding),
                                hovertemplate=f"%{{x}}<br>{metric} %{{y:{value_format}}}<extra>{encoding}</extra>",
                                **style), row=row, col=col)


def performance_figure(
    windows: pd.DataFrame,
    test_metrics: Mapping[str, float] | None = None,
    score_cutoffs: Mapping[str, float] | None = None,
) -> go.Figure:
    """ROC-AUC, default rate, Brier and score PSI per window, the four panels on one time axis.

    Realised values (windows with labels) are solid lines; values estimated from the PDs before labels arrive
    (`estimated_*` of windows.json) dashed, over their 95 % bands; the out-of-time test values from
    `reports/metrics.json` dotted reference lines, in each panel's units. The legend names the encodings, once
    each; the panel titles name the metrics.
    """
    test_metrics = test_metrics or {}
    figure = make_subplots(
        rows=2,
        cols=2,
        shared_xaxes="all",
        subplot_titles=["ROC-AUC", "Default rate: estimated (mean PD) and observed", "Brier score", "Score PSI"],
        vertical_spacing=0.12,
    )
    labelled = windows[windows["roc_auc"].notna()] if "roc_auc" in windows else windows.iloc[0:0]
    _estimated(figure, windows, "estimated_roc_auc", "estimated ROC-AUC", ".3f", row=1, col=1)
    _series(figure, labelled["window"], labelled["roc_auc"], REALISED, "ROC-AUC", ".3f", 1, 1,
            line={"color": CURRENT_COLOUR})
    _reference_line(figure, test_metrics.get("roc_auc"), "out-of-time test", row=1, col=1)
    if "estimated_default_rate" in windows and windows["estimated_default_rate"].notna().any():
        _estimated(figure, windows, "estimated_default_rate", "estimated default rate (mean PD)", ".2%", row=1, col=2)
    else:
        _series(figure, windows["window"], windows["mean_pd"], ESTIMATED, "mean PD", ".2%", 1, 2,
                line={"color": REFERENCE_COLOUR, "dash": "dash"})
    if "default_rate" in labelled:
        _series(figure, labelled["window"], labelled["default_rate"], REALISED, "observed default rate", ".2%", 1, 2,
                line={"color": CURRENT_COLOUR})
    if "mean_pd_labelled" in labelled:
        _series(figure, labelled["window"], labelled["mean_pd_labelled"], "mean PD of the labelled rows", "mean PD",
                ".2%", 1, 2, mode="markers", marker={"color": REFERENCE_COLOUR, "symbol": "diamond-open", "size": 9})
    _reference_line(figure, test_metrics.get("default_rate"), "out-of-time test", row=1, col=2, as_percent=True)
    if "brier" in labelled:
        _series(figure, labelled["window"], labelled["brier"], REALISED, "Brier", ".4f", 2, 1,
                line={"color": CURRENT_COLOUR})
    _reference_line(figure, test_metrics.get("brier"), "out-of-time test", row=2, col=1)
    figure.add_trace(go.Scatter(x=windows["window"], y=windows["score_psi"], mode="lines+markers",
                                name="score PSI", line={"color": NEUTRAL_COLOUR},
                                marker={"color": [level_colour(s) for s in windows["status"]]},
                                hovertemplate="%{x}<br>score PSI %{y:.3f}<extra></extra>",
                                showlegend=False), row=2, col=2)
    _threshold_lines(figure, score_cutoffs, row=2, col=2)
    figure.update_xaxes(type="category", categoryorder="array", categoryarray=list(windows["window"]), tickangle=-45)
    figure.update_yaxes(tickformat=".1%", row=1, col=2)
    return _base_layout(figure, "Model performance over time", height=720, legend_below=True)


def band_mix_figure(windows: pd.DataFrame, test_shares: Mapping[str, float] | None = None,
                    bands: Sequence[str] | None = None) -> go.Figure:
    """Stacked share of each risk band per window; the out-of-time test mix as the first bar.

    `bands` is the risk order, safest first (the model's bands; by default the test mix's order, then any
    other band in name order); colours run from green to red along it."""
    rows: list[tuple[str, Mapping[str, float]]] = []
    if test_shares:
        rows.append(("test (out-of-time)", test_shares))
    rows.extend((str(w), mix or {}) for w, mix in zip(windows["window"], windows["band_mix"]))
    order = list(bands or test_shares or [])
    order += sorted({band for _, mix in rows for band in mix} - set(order))
    colours = band_colours(order)
    figure = go.Figure(
        [
            go.Bar(x=[label for label, _ in rows], y=[mix.get(band, 0.0) for _, mix in rows], name=f"band {band}",
                   marker_color=colours[band])
            for band in order
        ]
    )
    figure.update_layout(barmode="stack", legend={"traceorder": "normal"})
    figure.update_xaxes(title="window", type="category")
    figure.update_yaxes(title="share of rows", tickformat=".0%", range=[0, 1])
    return _base_layout(figure, "Risk-band mix over time")


def model_comparison_figure(table: pd.DataFrame, metric: str) -> go.Figure:
    """Cross-validated mean of one metric per candidate model, with its std as error bar.

    `table` is the train stage's comparison: one row per model (and constraint setting, `monotone`), columns
    `model`, `<metric>_mean` and `<metric>_std`.
    """
    rows = table.sort_values(f"{metric}_mean", ascending=False)
    errors = rows[f"{metric}_std"].fillna(0).to_list() if f"{metric}_std" in rows else None
    monotone = rows["monotone"] if "monotone" in rows else pd.Series(None, index=rows.index)
    figure = go.Figure(
        go.Bar(
            x=[variant_title(name, flag) for name, flag in zip(rows["model"], monotone)],
            y=rows[f"{metric}_mean"],
            error_y={"type": "data", "array": errors, "visible": errors is not None},
            marker_color=REFERENCE_COLOUR,
            name=key_label(metric),
        )
    )
    figure.update_xaxes(title="candidate model", type="category")
    figure.update_yaxes(title=f"{key_label(metric)} (forward-CV mean ± std)")
    return _base_layout(figure, f"Candidate models: cross-validated {key_label(metric)}", height=340)


def release_comparison_figure(
    metrics_by_version: Mapping[str, Mapping[str, float]], metric_names: Sequence[str]
) -> go.Figure:
    """One panel per metric, one bar per version (tags in order, then the workspace)."""
    names = list(metric_names)
    figure = make_subplots(rows=1, cols=max(len(names), 1), subplot_titles=[key_label(name) for name in names])
    palette = ["#90a4ae", REFERENCE_COLOUR, CURRENT_COLOUR, "#26a69a", "#8d6e63"]
    for index, (version, metrics) in enumerate(metrics_by_version.items()):
        for col, name in enumerate(names, start=1):
            value = metrics.get(name)
            figure.add_trace(
                go.Bar(
                    x=[version],
                    y=[value],
                    name=version,
                    marker_color=palette[index % len(palette)],
                    text=[f"{value:.3f}" if isinstance(value, (int, float)) else "n/a"],
                    textposition="auto",
                    showlegend=col == 1,
                    legendgroup=version,
                ),
                row=1,
                col=col,
            )
    figure.update_xaxes(type="category")
    return _base_layout(figure, "Released versions, out-of-time test metrics", height=380, legend_below=True)


def roc_figure(curve: pd.DataFrame, auc: float | None = None) -> go.Figure:
    """ROC curve (`fpr`, `tpr`) with the chance diagonal."""
    label = f"model (AUC {auc:.3f})" if auc is not None else "model"
    figure = go.Figure(
        [
            go.Scatter(x=curve["fpr"], y=curve["tpr"], mode="lines", name=label, line={"color": CURRENT_COLOUR}),
            go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"color": NEUTRAL_COLOUR, "dash": "dash"}),
        ]
    )
    figure.update_xaxes(title="false positive rate", range=[0, 1])
    figure.update_yaxes(title="true positive rate", range=[0, 1])
    return _base_layout(figure, "ROC curve, out-of-time test")


def calibration_figure(curve: pd.DataFrame) -> go.Figure:
    """Mean predicted PD vs observed default rate per bin (`mean_pd`, `observed_default_rate`)."""
    top = float(max(curve["mean_pd"].max(), curve["observed_default_rate"].max(), 0.01)) * 1.05
    figure = go.Figure(
        [
            go.Scatter(x=curve["mean_pd"], y=curve["observed_default_rate"], mode="lines+markers", name="model",
                       line={"color": CURRENT_COLOUR}),
            go.Scatter(x=[0, top], y=[0, top], mode="lines", name="perfect calibration",
                       line={"color": NEUTRAL_COLOUR, "dash": "dash"}),
        ]
    )
    figure.update_xaxes(title="mean predicted PD", tickformat=".0%")
    figure.update_yaxes(title="observed default rate", tickformat=".0%")
    return _base_layout(figure, "Calibration, out-of-time test")


def importance_figure(importance: pd.DataFrame, top: int = 15) -> go.Figure:
    """Permutation importance (`feature`, `importance`, optional `std`), largest on top."""
    rows = importance.sort_values("importance", ascending=False).head(top).iloc[::-1]
    errors = rows["std"].fillna(0).to_list() if "std" in rows else None
    figure = go.Figure(
        go.Bar(
            x=rows["importance"],
            y=rows["feature"].astype(str),
            orientation="h",
            error_x={"type": "data", "array": errors, "visible": errors is not None},
            marker_color=REFERENCE_COLOUR,
            name="importance",
        )
    )
    figure.update_xaxes(title="drop in ROC-AUC when shuffled")
    figure.update_yaxes(type="category")
    return _base_layout(figure, "Permutation importance, out-of-time test", height=max(320, 24 * len(rows) + 120))


def histogram_figure(values_by_class: Mapping[str, pd.Series], column: str, log_x: bool = False) -> go.Figure:
    """Overlaid, share-normalised histograms of one column, one per class.

    With `log_x` the bins are cut on log10 of the values (money columns are
    heavy-tailed); non-positive values have no logarithm and are left out.
    """
    if log_x:
        values_by_class = {label: np.log10(values[values > 0]) for label, values in values_by_class.items()}
    colours = [REFERENCE_COLOUR, CURRENT_COLOUR, NEUTRAL_COLOUR]
    figure = go.Figure(
        [
            go.Histogram(x=values, name=label, histnorm="probability", opacity=0.6,
                         marker_color=colours[index % len(colours)], nbinsx=40)
            for index, (label, values) in enumerate(values_by_class.items())
        ]
    )
    figure.update_layout(barmode="overlay")
    figure.update_xaxes(title=f"log10 {with_unit(column)}" if log_x else with_unit(column))
    figure.update_yaxes(title="share of rows", tickformat=".0%")
    return _base_layout(figure, f"{column}: distribution by outcome")


def box_figure(values_by_class: Mapping[str, pd.Series], column: str) -> go.Figure:
    colours = [REFERENCE_COLOUR, CURRENT_COLOUR, NEUTRAL_COLOUR]
    figure = go.Figure(
        [
            go.Box(y=values, name=label, marker_color=colours[index % len(colours)], boxpoints="outliers")
            for index, (label, values) in enumerate(values_by_class.items())
        ]
    )
    figure.update_yaxes(title=with_unit(column))
    return _base_layout(figure, f"{column}: box plot by outcome")


def default_rate_by_bin_figure(table: pd.DataFrame, column: str, overall_rate: float | None = None) -> go.Figure:
    """Observed default rate per bin (`bin`, `rows`, `default_rate`), the overall rate dashed."""
    figure = go.Figure(
        go.Bar(
            x=bin_labels([str(text) for text in table["bin"]], column),
            y=table["default_rate"],
            customdata=table["rows"],
            hovertemplate="%{x}<br>default rate %{y:.1%}<br>%{customdata} rows<extra></extra>",
            marker_color=CURRENT_COLOUR,
            name="default rate",
        )
    )
    _reference_line(figure, overall_rate, "overall", as_percent=True)
    figure.update_xaxes(title=with_unit(column), type="category")
    figure.update_yaxes(title="default rate", tickformat=".1%", rangemode="tozero")
    return _base_layout(figure, f"Default rate by {column}")


def correlation_figure(matrix: pd.DataFrame, title: str = "Spearman correlation") -> go.Figure:
    """Symmetric correlation matrix on a diverging scale fixed to [-1, 1]."""
    figure = go.Figure(
        go.Heatmap(
            z=matrix.to_numpy(dtype=float),
            x=[str(c) for c in matrix.columns],
            y=[str(i) for i in matrix.index],
            zmin=-1,
            zmax=1,
            colorscale="RdBu",
            reversescale=True,
            colorbar={"title": "ρ"},
            hovertemplate="%{y} × %{x}<br>ρ = %{z:.2f}<extra></extra>",
        )
    )
    figure.update_yaxes(autorange="reversed")
    size = max(420, 26 * len(matrix.columns) + 160)
    return _base_layout(figure, title, height=size, colour_bar=True)


def light_counts_figure(counts: Mapping[str, int]) -> go.Figure:
    """Bars of how many validation tests are green, yellow and red."""
    lights = [light for light in LIGHTS if light in counts]
    figure = go.Figure(
        go.Bar(
            x=lights,
            y=[int(counts[light]) for light in lights],
            marker_color=[light_colour(light) for light in lights],
            text=[int(counts[light]) for light in lights],
            textposition="auto",
            name="tests",
        )
    )
    figure.update_xaxes(title="traffic light")
    figure.update_yaxes(title="tests", rangemode="tozero")
    return _base_layout(figure, "Validation tests by traffic light", height=300)


def calibration_interval_figure(curve: Sequence[Mapping[str, float]], confidence: float | None = None) -> go.Figure:
    """Observed default rate against mean PD per quantile bin of PD, with each bin's interval as an error bar.

    `curve` is the pack's `calibration_curve`: `mean_pd`, `observed_rate`, `rate_lower`, `rate_upper` and
    `rows` per bin, as the evaluate stage wrote them (Wilson intervals).
    """
    points = pd.DataFrame.from_records(list(curve), columns=["mean_pd", "observed_rate", "rate_lower", "rate_upper",
                                                             "rows"])
    top = float(max(points["mean_pd"].max(), points["rate_upper"].max(), 0.01)) * 1.05 if len(points) else 0.1
    label = f"{confidence:.0%} interval" if confidence is not None else "interval"
    figure = go.Figure(
        [
            go.Scatter(
                x=points["mean_pd"],
                y=points["observed_rate"],
                mode="markers+lines",
                error_y={"type": "data", "symmetric": False,
                         "array": (points["rate_upper"] - points["observed_rate"]).to_list(),
                         "arrayminus": (points["observed_rate"] - points["rate_lower"]).to_list(),
                         "color": CURRENT_COLOUR},
                customdata=points[["rate_lower", "rate_upper", "rows"]].to_numpy(),
                hovertemplate=("mean PD %{x:.2%}<br>observed %{y:.2%}<br>" + label + " %{customdata[0]:.2%} – "
                               "%{customdata[1]:.2%}<br>%{customdata[2]} loans<extra></extra>"),
                line={"color": CURRENT_COLOUR},
                name=f"observed default rate ({label})",
            ),
            go.Scatter(x=[0, top], y=[0, top], mode="lines", name="perfect calibration",
                       line={"color": NEUTRAL_COLOUR, "dash": "dash"}),
        ]
    )
    figure.update_xaxes(title="mean predicted PD (quantile bin)", tickformat=".0%", rangemode="tozero")
    figure.update_yaxes(title="observed default rate", tickformat=".0%", rangemode="tozero")
    return _base_layout(figure, "Calibration with intervals, out-of-time test")


def vintage_figure(vintages: pd.DataFrame) -> go.Figure:
    """Default rate by loan month with its Wilson interval as a band; immature months hollow, grey and shaded.

    `vintages` is the prepare stage's table: `vintage` (YYYY-MM), `loans`, `defaults`, `default_rate`,
    `rate_lower`, `rate_upper` and `mature` per month. Loans per month are bars on a second axis.
    """
    months = vintages["vintage"].astype(str).to_list()
    mature = vintages["mature"].astype(bool).to_list()
    label = "Wilson interval"
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_trace(
        go.Bar(x=months, y=vintages["loans"], name="loans", marker_color=NEUTRAL_COLOUR, opacity=0.15),
        secondary_y=True,
    )
    figure.add_trace(
        go.Scatter(x=months, y=vintages["rate_upper"], mode="lines", line={"width": 0}, hoverinfo="skip",
                   showlegend=False, name=f"{label} upper"),
        secondary_y=False,
    )
    figure.add_trace(
        go.Scatter(x=months, y=vintages["rate_lower"], mode="lines", line={"width": 0}, fill="tonexty",
                   fillcolor="rgba(239, 108, 0, 0.18)", hoverinfo="skip", name=label),
        secondary_y=False,
    )
    figure.add_trace(
        go.Scatter(
            x=months,
            y=vintages["default_rate"],
            mode="lines+markers",
            line={"color": CURRENT_COLOUR},
            marker={"size": 9, "color": [CURRENT_COLOUR if ripe else NEUTRAL_COLOUR for ripe in mature],
                    "symbol": ["circle" if ripe else "circle-open" for ripe in mature],
                    "line": {"width": 2, "color": [CURRENT_COLOUR if ripe else NEUTRAL_COLOUR for ripe in mature]}},
            customdata=np.column_stack([vintages["loans"], vintages["defaults"],
                                        ["mature" if ripe else "immature" for ripe in mature]]),
            hovertemplate="%{x}<br>default rate %{y:.2%}<br>%{customdata[1]} of %{customdata[0]} loans"
                          "<br>%{customdata[2]}<extra></extra>",
            name="default rate",
        ),
        secondary_y=False,
    )
    immature = [month for month, ripe in zip(months, mature) if not ripe]
    young = len(mature) - next((index + 1 for index in range(len(mature) - 1, -1, -1) if mature[index]), 0)
    if young:  # the youngest months, at the end: shade them (a category axis puts month i at x = i)
        figure.add_vrect(x0=len(mature) - young - 0.5, x1=len(mature) - 0.5, fillcolor=NEUTRAL_COLOUR, opacity=0.12,
                         line_width=0, annotation_text="immature", annotation_position="top left")
    if immature:
        figure.add_trace(
            go.Scatter(x=immature, y=vintages.loc[[not ripe for ripe in mature], "default_rate"], mode="markers",
                       marker={"size": 9, "color": NEUTRAL_COLOUR, "symbol": "circle-open"}, hoverinfo="skip",
                       name="immature month (outcome not final)"),
            secondary_y=False,
        )
    figure.update_xaxes(title="loan month (vintage)", type="category")
    figure.update_yaxes(title="default rate", tickformat=".1%", rangemode="tozero", secondary_y=False)
    figure.update_yaxes(title="loans", rangemode="tozero", showgrid=False, secondary_y=True)
    figure.update_layout(bargap=0.3)
    return _base_layout(figure, "Default rate by loan month (vintages)", height=400)


def pd_level_figure(windows: pd.DataFrame, cutoffs: Mapping[str, float] | None = None,
                    confidence: float | None = None) -> go.Figure:
    """Per labelled window, observed / expected defaults with its interval, coloured by the PD-level verdict the
    drift stage wrote (`calibration_level`); the warn and alert cut-offs drawn above 1 and their inverses below
    (the verdict reads the ratio or its inverse)."""
    columns = ["window", "calibration_ratio", "calibration_ratio_low", "calibration_ratio_high", "calibration_level"]
    judged = windows[windows["calibration_ratio"].notna()] if "calibration_ratio" in windows else windows.iloc[0:0]
    judged = judged.reindex(columns=columns)
    share = f"{confidence:.0%} interval" if confidence else "interval"
    figure = go.Figure(
        go.Scatter(
            x=judged["window"],
            y=judged["calibration_ratio"],
            mode="markers",
            marker={"size": 11, "color": [level_colour(level) for level in judged["calibration_level"]]},
            error_y={"type": "data", "symmetric": False,
                     "array": judged["calibration_ratio_high"] - judged["calibration_ratio"],
                     "arrayminus": judged["calibration_ratio"] - judged["calibration_ratio_low"],
                     "color": NEUTRAL_COLOUR},
            customdata=judged["calibration_level"],
            hovertemplate="%{x}<br>observed / expected %{y:.2f}<br>PD level %{customdata}<extra></extra>",
            name=f"observed / expected defaults, {share}",
        )
    )
    figure.add_hline(y=1.0, line={"color": REFERENCE_COLOUR, "dash": "dot", "width": 1.5},
                     annotation_text="PDs on target", annotation_position="top right")
    _threshold_lines(figure, cutoffs)
    for level, value in (cutoffs or {}).items():
        if value:
            line = {"color": level_colour(level), "dash": THRESHOLD_DASH.get(level, "dash"), "width": 1.5}
            figure.add_hline(y=1.0 / value, line=line, annotation_text=f"{level} 1/{value:g}",
                             annotation_position="bottom left")
    figure.update_xaxes(title="window", type="category")
    figure.update_yaxes(title="observed / expected defaults", rangemode="tozero")
    return _base_layout(figure, "PD level by labelled window", height=340)


CHAMPION_COLOUR, CHALLENGER_COLOUR = REFERENCE_COLOUR, CURRENT_COLOUR
MODEL_STYLES = {"champion": (CHAMPION_COLOUR, "circle-open", 16), "challenger": (CHALLENGER_COLOUR, "diamond", 9)}
"""Each model's colour, marker and size in the champion-against-challenger figures (the champion's open and
larger, so that equal values, a recalibration's ROC-AUC, show both)."""


def challenger_roc_auc_figure(windows: pd.DataFrame) -> go.Figure:
    """Per labelled window, the champion's and the challenger's ROC-AUC on the same loans (the compare stage's),
    with the paired DeLong p-value of their difference in the hover."""
    columns = ["window", "champion_roc_auc", "challenger_roc_auc", "delong_pvalue", "labelled_rows", "defaults"]
    judged = windows.reindex(columns=columns)
    judged = judged[judged["champion_roc_auc"].notna()]
    figure = go.Figure()
    for model, (colour, symbol, size) in MODEL_STYLES.items():
        figure.add_trace(go.Scatter(
            x=judged["window"], y=judged[f"{model}_roc_auc"], mode="lines+markers", name=model,
            marker={"size": size, "color": colour, "symbol": symbol, "line": {"width": 2, "color": colour}},
            line={"color": colour},
            customdata=judged[["delong_pvalue", "labelled_rows", "defaults"]].to_numpy(),
            hovertemplate=f"%{{x}}<br>{model} ROC-AUC %{{y:.3f}}<br>DeLong p %{{customdata[0]:.3g}}"
                          "<br>%{customdata[1]} loans, %{customdata[2]} defaults<extra></extra>"))
    figure.update_xaxes(title="window (incoming, labelled)", type="category")
    figure.update_yaxes(title="ROC-AUC")
    return _base_layout(figure, "ROC-AUC of each model on the same labelled loans", height=320)


def decision_agreement_figure(windows: pd.DataFrame) -> go.Figure:
    """Per window (incoming batches and the prediction log's shadowed rows), the share of decisions the two models
    agree on, and the PSI of the challenger's PDs against the champion's on a second axis."""
    shown = windows.reindex(columns=["window", "decision_agreement", "pd_psi", "rows"])
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_trace(go.Bar(x=shown["window"], y=shown["decision_agreement"], name="decisions agreed",
                            marker_color=NEUTRAL_COLOUR, customdata=shown["rows"],
                            hovertemplate="%{x}<br>%{y:.1%} of %{customdata} rows agreed<extra></extra>"),
                     secondary_y=False)
    figure.add_trace(go.Scatter(x=shown["window"], y=shown["pd_psi"], name="PSI of the PDs", mode="lines+markers",
                                marker={"size": 9, "color": CHALLENGER_COLOUR}, line={"color": CHALLENGER_COLOUR},
                                hovertemplate="%{x}<br>PSI %{y:.3f}<extra></extra>"),
                     secondary_y=True)
    figure.update_xaxes(title="window", type="category")
    figure.update_yaxes(title="share of decisions agreed", tickformat=".0%", range=[0, 1], secondary_y=False)
    figure.update_yaxes(title="PSI of the PDs", rangemode="tozero", secondary_y=True, showgrid=False)
    return _base_layout(figure, "Decision agreement and PSI of the PDs by window", height=320)


def band_migration_figure(migration: Mapping[str, Sequence], title: str) -> go.Figure:
    """The band migration matrix as the compare stage wrote it: rows the champion's bands, columns the
    challenger's, each cell the count of loans, in each model's band order (safest first)."""
    champion = [str(band) for band in migration["champion_bands"]]
    challenger = [str(band) for band in migration["challenger_bands"]]
    counts = np.asarray(migration["counts"], dtype=float)
    figure = go.Figure(go.Heatmap(
        z=counts, x=[f"challenger {band}" for band in challenger], y=[f"champion {band}" for band in champion],
        colorscale="Blues", text=counts.astype(int), texttemplate="%{text}", colorbar={"title": "loans"},
        hovertemplate="%{y} → %{x}<br>%{z:.0f} loans<extra></extra>"))
    figure.update_yaxes(autorange="reversed")
    return _base_layout(figure, title, height=max(320, 50 * len(champion) + 160), colour_bar=True)
