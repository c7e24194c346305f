"""Every figure builder on small frames: the right traces, axes and threshold lines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from dashboard import figures

CUTOFFS = {"warn": 0.1, "alert": 0.25}


def hline_values(figure: go.Figure) -> list[float]:
    return sorted(shape.y0 for shape in figure.layout.shapes if shape.y0 == shape.y1)


def trace_types(figure: go.Figure) -> list[str]:
    return [trace.type for trace in figure.data]


@pytest.fixture
def windows() -> pd.DataFrame:
    return pd.DataFrame({
        "window": ["2026-01", "2026-02", "2026-03"],
        "status": ["ok", "warn", "alert"],
        "features_warn": [0, 2, 1],
        "features_alert": [0, 0, 3],
        "score_psi": [0.02, 0.12, 0.31],
        "mean_pd": [0.05, 0.055, 0.07],
        "roc_auc": [0.70, 0.66, np.nan],
        "default_rate": [0.048, 0.06, np.nan],
        "brier": [0.045, 0.05, np.nan],
        "band_mix": [{"A": 0.5, "B": 0.5}, {"A": 0.4, "B": 0.6}, {"A": 0.2, "B": 0.7, "C": 0.1}],
    })


def test_alert_counts_colours_each_level_in_order():
    figure = figures.alert_counts_figure({"alert": 3, "ok": 10, "warn": 2})
    bar = figure.data[0]
    assert trace_types(figure) == ["bar"]
    assert list(bar.x) == ["ok", "warn", "alert"]
    assert list(bar.y) == [10, 2, 3]
    assert list(bar.marker.color) == [figures.LEVEL_COLOURS[level] for level in ("ok", "warn", "alert")]


def test_window_status_stacks_warn_and_alert_and_marks_status(windows):
    figure = figures.window_status_figure(windows)
    assert trace_types(figure) == ["bar", "bar", "scatter"]
    assert figure.layout.barmode == "stack"
    assert list(figure.data[1].y) == [0, 0, 3]
    status = figure.data[2]
    assert list(status.marker.color) == [figures.LEVEL_COLOURS[s] for s in ("ok", "warn", "alert")]
    assert list(status.text) == ["ok", "warn", "alert"]
    assert all(y > stacked for y, stacked in zip(status.y, [0, 2, 4])), "status markers sit above the bars"


def test_score_drift_draws_the_cutoffs(windows):
    figure = figures.score_drift_figure(windows, CUTOFFS)
    assert trace_types(figure) == ["scatter"]
    assert list(figure.data[0].y) == [0.02, 0.12, 0.31]
    assert hline_values(figure) == [0.1, 0.25]
    assert figure.layout.xaxis.type == "category"


def test_score_drift_without_cutoffs_draws_no_line(windows):
    assert hline_values(figures.score_drift_figure(windows, None)) == []


def test_api_activity_is_bars_per_day():
    daily = pd.DataFrame({"day": ["2026-03-01", "2026-03-02"], "rows": [10, 25]})
    figure = figures.api_activity_figure(daily)
    assert trace_types(figure) == ["bar"]
    assert list(figure.data[0].y) == [10, 25]
    assert figure.layout.yaxis.title.text == "rows scored"


@pytest.mark.parametrize(("kind", "barmode"), [("numeric", "overlay"), ("categorical", "group")])
def test_distribution_overlay_has_reference_and_current(kind, barmode):
    figure = figures.distribution_overlay_figure(
        "tipo_credito", ["4", "9", "__missing__", "__unseen__"], [0.7, 0.27, 0.03, 0.0], [0.5, 0.4, 0.05, 0.05], kind
    )
    assert trace_types(figure) == ["bar", "bar"]
    assert [trace.name for trace in figure.data] == ["reference (train)", "current window"]
    assert list(figure.data[1].x) == ["4", "9", "missing", "unseen (not in training)"]
    assert figure.layout.barmode == barmode
    assert figure.layout.yaxis.tickformat == ".0%"


def test_the_pd_and_money_bins_read_as_ranges_in_their_units():
    pd_bins = ["(-inf, 0.0133456]", "(0.0133456, 0.0161446]", "(0.0801931, inf)"]
    figure = figures.distribution_overlay_figure("PD", pd_bins, [0.1] * 3, [0.1] * 3, "numeric", column="__score__")
    assert list(figure.data[0].x) == ["≤ 1.33 %", "1.33–1.61 %", "> 8.02 %"]
    assert figure.layout.xaxis.title.text == "PD (%)"
    salary = figures.distribution_overlay_figure(
        "salario_cliente", ["(-inf, 1.596e+06]", "(3.6e+05, 8e+05]", "(1.61e+07, inf)"], [0.1] * 3, [0.1] * 3,
        "numeric")
    assert list(salary.data[0].x) == ["≤ 1.6M COP", "360k–800k COP", "> 16.1M COP"]
    assert salary.layout.xaxis.title.text == "salario_cliente (COP)"
    ages = figures.default_rate_by_bin_figure(pd.DataFrame({"bin": ["(28, 33]", "missing"], "rows": [9, 1],
                                                            "default_rate": [0.05, 0.1]}), "edad_cliente", 0.0306)
    assert list(ages.data[0].x) == ["28–33", "missing"] and ages.layout.xaxis.title.text == "edad_cliente"
    assert ages.layout.annotations[0].text == "overall 3.06 %"


def test_feature_history_one_panel_per_statistic_with_thresholds():
    history = pd.DataFrame({
        "window": ["2026-01", "2026-02"], "psi": [0.05, 0.3], "js": [0.02, 0.15], "ks_stat": [0.03, 0.2],
        "level": ["ok", "alert"], "psi_level": ["ok", "alert"],
    })
    thresholds = {"psi": CUTOFFS, "js": {"warn": 0.05, "alert": 0.1}}
    figure = figures.feature_history_figure("salario_cliente", history, ["psi", "js", "ks_stat", "absent"], thresholds)
    assert trace_types(figure) == ["scatter"] * 3
    assert [annotation.text for annotation in figure.layout.annotations][:3] == [
        "PSI", "Jensen-Shannon distance", "KS statistic"
    ]
    lines = {(shape.yref, shape.y0) for shape in figure.layout.shapes}
    assert lines == {("y", 0.1), ("y", 0.25), ("y2", 0.05), ("y2", 0.1)}
    assert list(figure.data[0].marker.color) == [figures.LEVEL_COLOURS["ok"], figures.LEVEL_COLOURS["alert"]]


def test_each_statistic_is_coloured_by_its_own_level_and_p_values_are_on_a_log_axis():
    """The feature is in alert (its PSI is), its missing share has not moved: that panel stays green."""
    history = pd.DataFrame({
        "window": ["2026-01", "2026-02"], "level": ["ok", "alert"], "psi": [0.05, 0.3], "psi_level": ["ok", "alert"],
        "missing_share_change": [0.0, 0.0], "missing_share_change_level": ["ok", "ok"],
        "chi2_pvalue_adj": [2.3e-8, 0.0],
    })
    figure = figures.feature_history_figure("tipo_credito", history, ["psi", "missing_share_change", "chi2_pvalue_adj"],
                                            {"chi2_pvalue_adj": {"alpha": 0.05}})
    colours = figures.LEVEL_COLOURS
    assert list(figure.data[1].marker.color) == [colours["ok"], colours["ok"]]
    assert list(figure.data[2].marker.color) == [figures.NEUTRAL_COLOUR] * 2, "a p-value has no level of its own"
    assert figure.layout.yaxis3.type == "log" and figure.layout.yaxis3.exponentformat == "power"
    assert list(figure.data[2].y) == [2.3e-8, figures.SMALLEST_P_VALUE], "an underflowed p-value stays on the axis"
    alpha = next(shape for shape in figure.layout.shapes if shape.yref == "y3")
    assert alpha.y0 == pytest.approx(np.log10(0.05)), "on a log axis a line sits at log10 of its value"


def test_psi_heatmap_is_feature_by_window_with_levels():
    features = pd.DataFrame({
        "window": ["2026-01", "2026-01", "2026-02", "2026-02"],
        "feature": ["a", "b", "a", "b"],
        "psi": [0.01, 0.2, 0.05, 0.4],
        "level": ["ok", "warn", "ok", "alert"],
    })
    figure = figures.psi_heatmap_figure(features)
    heatmap = figure.data[0]
    assert trace_types(figure) == ["heatmap"]
    assert list(heatmap.x) == ["2026-01", "2026-02"]
    assert list(heatmap.y) == ["a", "b"]
    assert np.allclose(np.array(heatmap.z), [[0.01, 0.05], [0.2, 0.4]])
    assert heatmap.customdata[1][1] == "alert"


def test_performance_panels_carry_test_reference_lines(windows):
    test = {"roc_auc": 0.7, "default_rate": 0.047, "brier": 0.045}
    figure = figures.performance_figure(windows, test, CUTOFFS)
    names = [trace.name for trace in figure.data]
    assert names == [figures.REALISED, figures.ESTIMATED, figures.REALISED, figures.REALISED, "score PSI"]
    assert figure.data[1].line.dash == "dash" and figure.data[0].line.dash is None
    assert list(figure.data[0].x) == ["2026-01", "2026-02"]  # only labelled windows
    lines = sorted((shape.yref, round(shape.y0, 4)) for shape in figure.layout.shapes)
    assert lines == [("y", 0.7), ("y2", 0.047), ("y3", 0.045), ("y4", 0.1), ("y4", 0.25)]
    labels = [annotation.text for annotation in figure.layout.annotations]
    assert "out-of-time test 4.70 %" in labels, "a rate on the percent axis is written as a percentage"


def test_performance_legend_names_each_encoding_once_and_every_panel_spans_every_window(windows):
    """Two series in one colour were two legend entries; now the legend names the encoding, the hover the metric."""
    figure = figures.performance_figure(windows, {}, None)
    shown = [trace.name for trace in figure.data if trace.showlegend is not False]
    assert shown == [figures.REALISED, figures.ESTIMATED]
    brier = [trace for trace in figure.data if trace.xaxis == "x3"][0]
    assert "Brier" in brier.hovertemplate and figures.REALISED in brier.hovertemplate
    axes = [figure.layout[name] for name in ("xaxis", "xaxis2", "xaxis3", "xaxis4")]
    assert all(list(axis.categoryarray) == ["2026-01", "2026-02", "2026-03"] for axis in axes)
    assert len({axis.matches for axis in axes} - {None}) == 1, "one time axis for the four panels"


def test_estimated_performance_is_dashed_over_its_band_and_realised_is_solid(windows):
    estimated = windows.assign(
        estimated_roc_auc=[0.72, 0.71, 0.66], estimated_roc_auc_low=[0.66, 0.65, 0.6],
        estimated_roc_auc_high=[0.78, 0.77, 0.72], estimated_default_rate=[0.04, 0.045, 0.05],
        estimated_default_rate_low=[0.03, 0.035, 0.04], estimated_default_rate_high=[0.05, 0.055, 0.06])
    figure = figures.performance_figure(estimated, {"roc_auc": 0.7}, None)
    def series(encoding: str, metric: str) -> go.Scatter:
        return next(trace for trace in figure.data if trace.name == encoding and f"<br>{metric} " in
                    (trace.hovertemplate or ""))
    estimated_auc = series(figures.ESTIMATED, "estimated ROC-AUC")
    assert estimated_auc.line.dash == "dash"
    assert list(estimated_auc.x) == ["2026-01", "2026-02", "2026-03"]  # unlabelled windows too
    bands = [trace for trace in figure.data if trace.name == figures.ESTIMATE_BAND]
    assert bands[0].fill == "tonexty" and list(bands[0].y) == [0.78, 0.77, 0.72]
    assert sum(trace.showlegend is not False for trace in bands) == 1
    assert series(figures.ESTIMATED, "estimated default rate (mean PD)").line.dash == "dash"
    assert series(figures.REALISED, "ROC-AUC").line.dash is None
    assert series(figures.REALISED, "observed default rate").line.dash is None
    assert {shape.line.dash for shape in figure.layout.shapes} == {"dot"}


def test_band_mix_stacks_bands_with_the_test_mix_first(windows):
    figure = figures.band_mix_figure(windows, {"A": 0.5, "B": 0.5})
    assert trace_types(figure) == ["bar"] * 3
    assert [trace.name for trace in figure.data] == ["band A", "band B", "band C"]
    assert [trace.marker.color for trace in figure.data] == ["#1b7837", "#d9c21f", "#c62828"]
    assert list(figure.data[0].x) == ["test (out-of-time)", "2026-01", "2026-02", "2026-03"]
    assert list(figure.data[2].y) == [0.0, 0.0, 0.0, 0.1]
    assert figure.layout.barmode == "stack"


def test_model_comparison_sorts_by_mean_with_error_bars():
    table = pd.DataFrame({"model": ["logistic", "forest"], "roc_auc_mean": [0.66, 0.7], "roc_auc_std": [0.01, 0.02]})
    figure = figures.model_comparison_figure(table, "roc_auc")
    bar = figure.data[0]
    assert list(bar.x) == ["forest", "Logistic regression"]
    assert list(bar.error_y.array) == [0.02, 0.01]


def test_release_comparison_one_panel_per_metric_one_bar_per_version():
    versions = {"v1.0.0": {"roc_auc": 0.64, "brier": 0.05}, "v1.1.0": {"roc_auc": 0.7, "brier": 0.045},
                "workspace": {"roc_auc": 0.7}}
    figure = figures.release_comparison_figure(versions, ["roc_auc", "brier"])
    assert trace_types(figure) == ["bar"] * 6
    assert [a.text for a in figure.layout.annotations] == ["ROC-AUC", "Brier"]
    workspace_brier = figure.data[5]
    assert workspace_brier.name == "workspace" and list(workspace_brier.text) == ["n/a"]
    assert sum(trace.showlegend for trace in figure.data) == 3


def test_roc_has_curve_and_chance_diagonal():
    figure = figures.roc_figure(pd.DataFrame({"fpr": [0, 0.5, 1], "tpr": [0, 0.8, 1]}), auc=0.71)
    assert [trace.name for trace in figure.data] == ["model (AUC 0.710)", "chance"]
    assert list(figure.data[1].x) == [0, 1]
    assert figure.layout.xaxis.title.text == "false positive rate"


def test_calibration_has_curve_and_identity():
    curve = pd.DataFrame({"mean_pd": [0.01, 0.1], "observed_default_rate": [0.02, 0.08]})
    figure = figures.calibration_figure(curve)
    assert [trace.name for trace in figure.data] == ["model", "perfect calibration"]
    assert figure.data[1].x[0] == 0 and figure.data[1].x[1] == pytest.approx(0.105)


def test_histogram_and_box_one_trace_per_class():
    values = {"paid on time": pd.Series([1.0, 2.0, 3.0]), "default": pd.Series([3.0, 4.0])}
    histogram = figures.histogram_figure(values, "edad_cliente")
    assert trace_types(histogram) == ["histogram", "histogram"]
    assert histogram.data[0].histnorm == "probability" and histogram.layout.barmode == "overlay"
    box = figures.box_figure(values, "edad_cliente")
    assert trace_types(box) == ["box", "box"]
    assert [trace.name for trace in box.data] == ["paid on time", "default"]


def test_default_rate_by_bin_draws_overall_rate():
    table = pd.DataFrame({"bin": ["(0, 1]", "missing"], "rows": [10, 5], "default_rate": [0.1, 0.2]})
    figure = figures.default_rate_by_bin_figure(table, "huella_consulta", overall_rate=0.13)
    assert trace_types(figure) == ["bar"]
    assert list(figure.data[0].customdata) == [10, 5]
    assert hline_values(figure) == [0.13]


def test_correlation_is_fixed_to_minus_one_one():
    matrix = pd.DataFrame([[1.0, -0.4], [-0.4, 1.0]], index=["a", "b"], columns=["a", "b"])
    heatmap = figures.correlation_figure(matrix).data[0]
    assert heatmap.type == "heatmap" and (heatmap.zmin, heatmap.zmax) == (-1, 1)
    assert list(heatmap.x) == ["a", "b"]


def test_feature_history_draws_the_bootstrap_limit_when_present():
    history = pd.DataFrame({"window": ["2026-01", "2026-02"], "psi": [0.05, 0.3], "psi_limit": [0.04, 0.06],
                            "level": ["ok", "alert"]})
    figure = figures.feature_history_figure("x", history, ["psi"], {"psi": CUTOFFS}, {"psi": "psi_limit"})
    assert [trace.name for trace in figure.data] == ["PSI", "PSI limit (bootstrap)"]
    assert list(figure.data[1].y) == [0.04, 0.06]
    assert figure.layout.annotations[0].text == "PSI (dotted: bootstrap limit)"
    without = figures.feature_history_figure("x", history.assign(psi_limit=np.nan), ["psi"], None, {"psi": "psi_limit"})
    assert len(without.data) == 1


def test_importance_puts_the_largest_on_top():
    importance = pd.DataFrame({"feature": ["a", "b", "c"], "importance": [0.01, 0.05, 0.02], "std": [0.0, 0.01, 0.0]})
    bar = figures.importance_figure(importance, top=2).data[0]
    assert bar.orientation == "h"
    assert list(bar.y) == ["c", "b"]
    assert list(bar.error_x.array) == [0.0, 0.01]


def test_performance_adds_mean_pd_of_labelled_rows_when_written(windows):
    figure = figures.performance_figure(windows.assign(mean_pd_labelled=[0.05, 0.06, np.nan]), {}, None)
    assert "mean PD of the labelled rows" in [trace.name for trace in figure.data]


def test_histogram_on_log_scale_bins_log10_of_positive_values():
    values = {"paid on time": pd.Series([0.0, 10.0, 1000.0]), "default": pd.Series([100.0])}
    figure = figures.histogram_figure(values, "salario_cliente", log_x=True)
    assert list(figure.data[0].x) == [1.0, 3.0]
    assert figure.layout.xaxis.title.text == "log10 salario_cliente (COP)"


def test_subplot_figures_keep_the_legend_clear_of_panel_titles(windows):
    assert figures.performance_figure(windows, {}, None).layout.legend.y < 0
    assert figures.score_drift_figure(windows).layout.legend.y > 1


def test_light_counts_colours_each_traffic_light_in_order():
    figure = figures.light_counts_figure({"red": 2, "green": 11, "yellow": 1})
    bar = figure.data[0]
    assert list(bar.x) == ["green", "yellow", "red"] and list(bar.y) == [11, 1, 2]
    assert list(bar.marker.color) == [figures.LIGHT_COLOURS[light] for light in ("green", "yellow", "red")]
    assert figures.LIGHT_COLOURS["red"] == figures.LEVEL_COLOURS["alert"]


def test_calibration_intervals_are_asymmetric_error_bars_from_the_written_bounds():
    curve = [{"mean_pd": 0.02, "observed_rate": 0.025, "rate_lower": 0.01, "rate_upper": 0.06, "rows": 200},
             {"mean_pd": 0.10, "observed_rate": 0.08, "rate_lower": 0.05, "rate_upper": 0.125, "rows": 200}]
    figure = figures.calibration_interval_figure(curve, confidence=0.95)
    points, identity = figure.data
    assert (points.type, identity.name) == ("scatter", "perfect calibration")
    assert list(points.x) == [0.02, 0.10] and list(points.y) == [0.025, 0.08]
    assert points.error_y.symmetric is False
    assert list(points.error_y.array) == pytest.approx([0.035, 0.045])
    assert list(points.error_y.arrayminus) == pytest.approx([0.015, 0.03])
    assert "95% interval" in points.name
    assert identity.x[1] == identity.y[1] >= 0.125, "the diagonal reaches past the highest upper bound"


def test_calibration_intervals_without_points_is_an_empty_figure():
    figure = figures.calibration_interval_figure([])
    assert len(figure.data[0].x) == 0


@pytest.fixture
def vintages() -> pd.DataFrame:
    return pd.DataFrame({
        "vintage": ["2025-01", "2025-02", "2025-03", "2025-04"], "loans": [500, 480, 450, 300],
        "defaults": [25, 22, 9, 2], "default_rate": [0.05, 22 / 480, 0.02, 2 / 300],
        "rate_lower": [0.034, 0.030, 0.011, 0.002], "rate_upper": [0.073, 0.068, 0.038, 0.024],
        "mature": [True, True, False, False],
    })


def test_vintages_draw_the_rate_its_wilson_band_and_mark_the_immature_months(vintages):
    figure = figures.vintage_figure(vintages)
    by_name = {trace.name: trace for trace in figure.data}
    rate = by_name["default rate"]
    assert list(rate.x) == vintages["vintage"].tolist() and list(rate.y) == vintages["default_rate"].tolist()
    assert list(rate.marker.symbol) == ["circle", "circle", "circle-open", "circle-open"]
    assert list(by_name["Wilson interval"].y) == vintages["rate_lower"].tolist()
    assert by_name["Wilson interval"].fill == "tonexty"
    assert list(by_name["Wilson interval upper"].y) == vintages["rate_upper"].tolist()
    assert list(by_name["immature month (outcome not final)"].x) == ["2025-03", "2025-04"]
    assert list(by_name["loans"].y) == [500, 480, 450, 300] and by_name["loans"].yaxis == "y2"
    shaded = [shape for shape in figure.layout.shapes if shape.type == "rect"]
    assert [(shape.x0, shape.x1) for shape in shaded] == [(1.5, 3.5)], "the two youngest months are shaded"


def test_vintages_all_mature_mark_and_shade_nothing(vintages):
    figure = figures.vintage_figure(vintages.assign(mature=True))
    assert "immature month (outcome not final)" not in [trace.name for trace in figure.data]
    assert not [shape for shape in figure.layout.shapes if shape.type == "rect"]
    assert set(figure.data[-1].marker.symbol) == {"circle"}


def test_vintages_immature_between_mature_months_are_marked_not_shaded(vintages):
    figure = figures.vintage_figure(vintages.assign(mature=[True, False, True, True]))
    assert [trace.x for trace in figure.data if trace.name.startswith("immature")] == [("2025-02",)]
    assert not [shape for shape in figure.layout.shapes if shape.type == "rect"]


def test_the_pd_level_draws_each_ratio_with_its_interval_in_its_level_colour_and_the_cutoffs_both_ways():
    windows = pd.DataFrame({
        "window": ["2026-01", "2026-02", "2026-03", "2026-04"],
        "calibration_ratio": [1.02, 1.6, 0.0, np.nan], "calibration_ratio_low": [0.8, 1.3, 0.0, np.nan],
        "calibration_ratio_high": [1.3, 1.95, 0.3, np.nan], "calibration_level": ["ok", "alert", "alert", None],
    })
    figure = figures.pd_level_figure(windows, {"warn": 1.25, "alert": 1.5}, confidence=0.95)
    points = figure.data[0]
    assert list(points.x) == ["2026-01", "2026-02", "2026-03"], "a window without labels has no point"
    assert list(points.marker.color) == [figures.LEVEL_COLOURS[level] for level in ("ok", "alert", "alert")]
    assert list(points.error_y.array) == pytest.approx([0.28, 0.35, 0.3])
    assert list(points.error_y.arrayminus) == pytest.approx([0.22, 0.3, 0.0])
    assert "95% interval" in points.name
    assert hline_values(figure) == pytest.approx([1 / 1.5, 0.8, 1.0, 1.25, 1.5])
    assert len(figures.pd_level_figure(pd.DataFrame({"window": ["2026-01"]})).data[0].x) == 0


def test_band_colours_follow_the_risk_order_the_model_gives_not_the_names():
    """Green for the safest band, red for the riskiest, whatever the bands are called."""
    windows = pd.DataFrame({"window": ["2026-01"], "band_mix": [{"low": 0.6, "mid": 0.3, "high": 0.1}]})
    figure = figures.band_mix_figure(windows, None, bands=["low", "mid", "high"])
    assert [trace.name for trace in figure.data] == ["band low", "band mid", "band high"]
    assert [trace.marker.color for trace in figure.data] == ["#1b7837", "#d9c21f", "#c62828"]
    assert figure.layout.legend.traceorder == "normal"


def test_the_toolbar_has_a_margin_of_its_own_wider_where_a_colour_bar_stands():
    """Plotly's vertical toolbar covered the vintage chart's "loans" and the heatmap's colour bar."""
    features = pd.DataFrame({"window": ["2026-01"], "feature": ["a"], "psi": [0.1], "level": ["ok"]})
    assert figures.score_drift_figure(pd.DataFrame({"window": ["2026-01"], "score_psi": [0.1],
                                                    "status": ["ok"]})).layout.margin.r == figures.MODEBAR_MARGIN
    for figure in (figures.psi_heatmap_figure(features),
                   figures.correlation_figure(pd.DataFrame([[1.0]], index=["a"], columns=["a"]))):
        assert figure.layout.margin.r == figures.MODEBAR_MARGIN + figures.COLOUR_BAR_MARGIN
        assert figure.layout.modebar.orientation == "v"


def test_the_heatmap_keeps_the_windows_in_time_order():
    features = pd.DataFrame({"window": ["2026-10", "log:2026-09", "2026-09"], "feature": ["a"] * 3,
                             "psi": [0.3, 0.2, 0.1], "level": ["alert", "ok", "ok"]})
    figure = figures.psi_heatmap_figure(features, windows=["2026-09", "log:2026-09", "2026-10"])
    assert list(figure.data[0].x) == ["2026-09", "log:2026-09", "2026-10"]


@pytest.fixture
def compare_windows() -> pd.DataFrame:
    return pd.DataFrame({
        "window": ["2026-01", "2026-02", "log:2026-02"],
        "rows": [700, 650, 40],
        "decision_agreement": [0.97, 0.95, 0.9],
        "pd_psi": [0.05, 0.08, 0.2],
        "champion_roc_auc": [0.70, 0.68, np.nan],
        "challenger_roc_auc": [0.72, 0.68, np.nan],
        "delong_pvalue": [0.04, 1.0, np.nan],
        "labelled_rows": [700, 650, np.nan],
        "defaults": [35, 30, np.nan],
    })


def test_challenger_roc_auc_draws_both_models_on_the_labelled_windows_only(compare_windows):
    figure = figures.challenger_roc_auc_figure(compare_windows)
    assert [trace.name for trace in figure.data] == ["champion", "challenger"]
    assert list(figure.data[1].x) == ["2026-01", "2026-02"] and list(figure.data[1].y) == [0.72, 0.68]
    assert figure.data[0].marker.size > figure.data[1].marker.size  # equal values still show both


def test_decision_agreement_puts_the_pd_psi_on_a_second_axis(compare_windows):
    figure = figures.decision_agreement_figure(compare_windows)
    assert trace_types(figure) == ["bar", "scatter"]
    assert list(figure.data[0].y) == [0.97, 0.95, 0.9] and figure.data[1].yaxis == "y2"
    assert figure.layout.yaxis.range == (0, 1)


def test_band_migration_is_the_matrix_as_written_champion_down_challenger_across():
    migration = {"champion_bands": ["A", "B"], "challenger_bands": ["A", "B", "C"], "counts": [[5, 1, 0], [0, 3, 2]]}
    figure = figures.band_migration_figure(migration, "Loans by band")
    heatmap = figure.data[0]
    assert heatmap.z.tolist() == [[5, 1, 0], [0, 3, 2]]
    assert list(heatmap.x) == ["challenger A", "challenger B", "challenger C"]
    assert list(heatmap.y) == ["champion A", "champion B"] and figure.layout.yaxis.autorange == "reversed"
