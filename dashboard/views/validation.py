"""Validation: the out-of-time validation pack with its traffic lights, the calibration plot, rank ordering,
fair lending and segments (with the labelled drift windows' segment findings), the vintages, and the model report.

Every estimate, interval, p-value and light is the evaluate stage's (`reports/validation.json`) and every
vintage the prepare stage's (`reports/vintages.csv`): the page lays them out and tests nothing itself.
"""

import pandas as pd
import streamlit as st

from dashboard import figures, formatting, reports
from dashboard.components import (
    BAND_TEST_COLUMNS,
    REPRO,
    empty_state,
    format_number,
    light_badge,
    light_levels,
    light_styled,
    paths,
    show_table,
)
from dashboard.loaders import read_drift_windows, read_json, read_model_report, read_validation, read_vintages

VINTAGE_COLUMNS = ("vintage", "loans", "defaults", "default_rate", "rate_lower", "rate_upper", "mature")
P_VALUE = "{:.3g}"
GROUP_FORMATS = {"observed": formatting.RATE, "mean PD": formatting.RATE, "binomial p": formatting.P_VALUE}
PAIR_FORMATS = {"lower_rate": formatting.RATE, "higher_rate": formatting.RATE, "pvalue": formatting.P_VALUE}
SEGMENT_TITLES = {"age_band": "age band", "tipo_credito": "product (tipo_credito)",
                  "tipo_laboral": "employment type (tipo_laboral)"}


def with_interval(estimate: object, lower: object, upper: object, pattern: str = "{:.3f}") -> str:
    return f"{format_number(estimate, pattern)} [{format_number(lower, pattern)}, {format_number(upper, pattern)}]"


def model_tests(pack: dict) -> pd.DataFrame:
    """The pack's tests of the whole sample, one display row each: what was tested, the numbers, the light."""
    decline = pack.get("auc_decline") or {}
    calibration = pack.get("calibration") or {}
    groups = pack.get("hosmer_lemeshow") or {}
    large = pack.get("calibration_in_the_large") or {}
    rows = [
        ("AUC decline, development (forward CV) to out-of-time",
         f"ROC-AUC {format_number(decline.get('development_auc'))} → {format_number(decline.get('current_auc'))}, "
         f"z {format_number(decline.get('statistic'), '{:.2f}')}",
         format_number(decline.get("pvalue"), P_VALUE), decline.get("light")),
        ("Calibration intercept and slope (intercept 0, slope 1)",
         f"intercept {format_number(calibration.get('intercept'), '{:+.3f}')} "
         f"(se {format_number(calibration.get('intercept_se'))}), "
         f"slope {format_number(calibration.get('slope'))} (se {format_number(calibration.get('slope_se'))})",
         f"intercept {format_number(calibration.get('intercept_pvalue'), P_VALUE)}, "
         f"slope {format_number(calibration.get('slope_pvalue'), P_VALUE)}",
         calibration.get("light")),
        ("Hosmer-Lemeshow",
         f"H {format_number(groups.get('statistic'), '{:.2f}')} on {format_number(groups.get('df'), '{:.0f}')} df, "
         f"{format_number(groups.get('groups'), '{:.0f}')} groups by PD",
         format_number(groups.get("pvalue"), P_VALUE), groups.get("light")),
        ("Calibration in the large (mean PD = default rate)",
         f"mean PD {format_number(large.get('mean_pd'), '{:.2%}')} vs observed "
         f"{format_number(large.get('observed_rate'), '{:.2%}')} "
         f"({format_number(large.get('defaults'), '{:,.0f}')} defaults in "
         f"{format_number(large.get('rows'), '{:,.0f}')} loans)",
         format_number(large.get("pvalue"), P_VALUE), large.get("light")),
    ]
    return pd.DataFrame(rows, columns=["test", "result", "p-value", "light"])


def show_review(pack: dict, levels: dict | None) -> None:
    """The pack's rank ordering and fair-lending sections (the verdicts the evaluate stage wrote)."""
    order = pack.get("rank_ordering")
    if order:
        st.subheader("Rank ordering")
        st.markdown(f"{light_badge(order.get('light'))} Observed default rates must rise with the band: "
                    + ("pairs to merge: " + ", ".join(" and ".join(pair) for pair in order["merge"])
                       if order.get("merge") else "no pair to merge."))
        show_table(light_styled(reports.rank_ordering_table(order.get("pairs") or [])), key="validation_rank_ordering",
                   formats=PAIR_FORMATS)
        st.caption(f"{order.get('test', '')}; an observed inversion is at least yellow. "
                   f"Levels: {light_levels(levels)}.")

    check = pack.get("age_check")
    fairness = pack.get("fairness")
    if check or fairness:
        st.subheader("Fair lending")
    if check:
        st.markdown(f"{light_badge(check.get('light'))} **Regulation B**, applicants aged "
                    f"{check.get('elderly_age')} or over: {check.get('verdict')}.")
        readings = reports.age_check_table(check)
        if readings is not None:
            show_table(readings, key="validation_age_check")
        st.caption("Age may enter an empirically derived system, but an elderly applicant's age may not be assigned a "
                   "negative factor (12 CFR 1002.6(b)(2)(iv)): red when age raises any of their PDs.")
    if fairness:
        fair_levels = fairness.get("levels") or {}
        fair_lights = fairness.get("lights") or {}
        st.markdown(f"Groups: {fair_lights.get('green', 0)} green, {fair_lights.get('yellow', 0)} yellow, "
                    f"{fair_lights.get('red', 0)} red"
                    + (f" ({', '.join(fairness['red'])})" if fairness.get("red") else ""))
        for column, table in (fairness.get("tables") or {}).items():
            st.markdown(f"**By {SEGMENT_TITLES.get(column, column)}** (most favoured: {table.get('favoured_group')})")
            show_table(light_styled(reports.group_table(table)), key=f"validation_fairness_{column}",
                       formats=GROUP_FORMATS)
        st.caption(
            f"AIR: a group's approval rate over the most favoured group's, yellow below "
            f"{fair_levels.get('air_yellow_below')}, red below {fair_levels.get('air_red_below')}. The four-fifths "
            "convention comes from US employment practice (29 CFR 1607.4(D)), not from credit law: a level for "
            f"review. Groups under {fair_levels.get('min_group_rows')} loans are not judged; these findings are not "
            "counted in the pack's lights."
        )


where = paths()
st.title("Validation")
st.caption(
    "The validation pack of the out-of-time test set and the default rate by loan month, as the pipeline wrote "
    "them: each light is the stage's verdict at the levels it records."
)

pack = read_validation(where.validation)
if pack is None:
    empty_state("The validation pack", where.validation, REPRO)
else:
    levels = pack.get("traffic_lights")
    confidence = pack.get("confidence")
    st.subheader("Traffic lights")
    lights = pack.get("lights") or {}
    summary_column, chart_column = st.columns([2, 3])
    with summary_column:
        counts = st.columns(3)
        for column, light in zip(counts, figures.LIGHTS):
            column.metric(light.capitalize(), format_number(lights.get(light), "{:.0f}"))
        st.caption(f"Levels: {light_levels(levels)}.")
        red = pack.get("red") or []
        if red:
            st.warning("Red: " + ", ".join(str(name) for name in red), icon=":material/warning:")
        else:
            st.success("No test is red.", icon=":material/check_circle:")
    with chart_column:
        if lights:
            st.plotly_chart(figures.light_counts_figure(lights), key="validation_lights")

    st.subheader("Discrimination")
    discrimination = pack.get("discrimination") or {}
    share = format_number(confidence, "{:.0%}")
    tiles = st.columns(3)
    tiles[0].metric(f"ROC-AUC [{share} CI]", with_interval(
        discrimination.get("roc_auc"), discrimination.get("roc_auc_lower"), discrimination.get("roc_auc_upper")))
    tiles[1].metric(f"Gini [{share} CI]", with_interval(
        discrimination.get("gini"), discrimination.get("gini_lower"), discrimination.get("gini_upper")))
    tiles[2].metric("KS", format_number(discrimination.get("ks")))
    decline = pack.get("auc_decline") or {}
    st.markdown(
        f"{light_badge(decline.get('light'))} AUC decline from development (forward CV, "
        f"{format_number(decline.get('development_auc'))}) to out-of-time "
        f"({format_number(decline.get('current_auc'))}): one-sided p {format_number(decline.get('pvalue'), '{:.3g}')}"
    )
    st.caption(
        f"Intervals: DeLong standard error {format_number(discrimination.get('roc_auc_se'), '{:.4f}')}; "
        "Gini = 2 AUC − 1."
    )

    st.subheader("Calibration")
    scores = st.columns(3)
    scores[0].metric("Brier", format_number(pack.get("brier"), "{:.4f}"))
    scores[1].metric("Brier skill (vs the train default rate)", format_number(pack.get("brier_skill"), "{:.3f}"))
    scores[2].metric("Log-loss", format_number(pack.get("log_loss"), "{:.4f}"))
    st.caption(f"Brier skill compares with always predicting the train default rate, "
               f"{format_number(pack.get('reference_rate'), '{:.2%}')}; above 0 beats it.")
    show_table(light_styled(model_tests(pack)), key="validation_tests")
    curve = pack.get("calibration_curve") or []
    if curve:
        st.plotly_chart(figures.calibration_interval_figure(curve, confidence), key="validation_calibration")

    st.subheader("Risk bands")
    bands = pack.get("bands") or []
    if bands:
        table = pd.DataFrame.from_records(bands)
        table = table[[name for name in BAND_TEST_COLUMNS if name in table.columns]]
        show_table(light_styled(table), key="validation_bands")
        st.caption(
            "Per band, one-sided tests that the band's mean PD is too low for its observed default rate: exact "
            "binomial and Jeffreys (Beta posterior). " + f"Levels: {light_levels(levels)}."
        )
        band_warnings = (read_json(where.model_card) or {}).get("band_warnings") or []
        if band_warnings:
            st.warning("The model card on its risk bands:\n" + "\n".join(f"- {text}" for text in band_warnings),
                       icon=":material/warning:")
    else:
        st.info("The pack holds no band tests.")

st.subheader("Vintages")
vintages = read_vintages(where.vintages)
if vintages is None:
    empty_state("The vintage table", where.vintages, REPRO)
elif vintages.empty:
    st.info("The vintage table has no loan months.")
else:
    st.plotly_chart(figures.vintage_figure(vintages), key="validation_vintages")
    immature = vintages.loc[~vintages["mature"], "vintage"].tolist()
    st.caption(
        f"{len(vintages)} loan months; "
        + (f"{len(immature)} immature ({immature[0]} to {immature[-1]}): younger than the performance window at the "
           "export's last loan date, so their default rate is not final." if immature else "every month is mature.")
        + " The band is the Wilson interval of each month's rate."
    )
    with st.expander("Vintage table"):
        shown = vintages[[name for name in VINTAGE_COLUMNS if name in vintages.columns]]
        show_table(shown, key="validation_vintage_table")


if pack is not None:
    show_review(pack, pack.get("traffic_lights"))

windows = read_drift_windows(where.drift_windows)
findings = reports.window_segment_findings(windows) if windows is not None and not windows.empty else None
if findings is not None:
    st.subheader("Segments in operation")
    show_table(findings, key="validation_window_segments")
    st.caption("The same group tables for every labelled drift window (reports/drift/windows.json): a segment that "
               "degrades in operation shows here. They do not change the window's status.")

report = read_model_report(where.model_report)
st.subheader("Model report")
if report is None:
    empty_state("The model report", where.model_report, REPRO)
else:
    st.download_button("Open the model report (HTML)", report, file_name="model_report.html", mime="text/html",
                       key="validation_model_report")
    st.caption(f"`{where.model_report}`: one self-contained file for a reviewer (purpose, data, leakage guard, "
               "selection, validation, fairness and segments, rank ordering, scorecard and reasons, limitations, "
               "change since the last release); `make report` rebuilds it and prints a PDF beside it.")
