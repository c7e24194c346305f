"""Drift: per window, which features moved, how far, since when; drill down into one feature."""

import streamlit as st

from creditrisk.monitoring.report import SCORE
from dashboard import figures
from dashboard.formatting import label
from dashboard.components import (
    REPRO_DRIFT,
    by_severity,
    format_number,
    level_styled,
    paths,
    require,
    show_table,
    status_badge,
)
from dashboard.loaders import read_csv, read_drift_windows, read_json

# The table's columns, as many as fit the page; the kind, the missing shares before and after and the reason
# for the level are in the drill-down.
TABLE_COLUMNS = (
    "feature", "level", "psi", "psi_limit", "js", "ks_stat", "ks_pvalue_adj", "chi2_pvalue_adj",
    "missing_share_change",
)
HISTORY_STATISTICS = {
    "numeric": ("psi", "js", "ks_stat", "ks_pvalue_adj", "missing_share_change"),
    "categorical": ("psi", "js", "chi2_pvalue_adj", "missing_share_change"),
}
HISTORY_LIMITS = {"psi": "psi_limit"}


def significance_lines(alpha: float | None) -> dict[str, dict[str, float]]:
    """The drift stage's significance level, drawn on the p-value charts (a test below it is significant)."""
    return {} if alpha is None else {name: {"alpha": alpha} for name in ("ks_pvalue_adj", "chi2_pvalue_adj")}

where = paths()
st.title("Drift")

features = require(read_csv(where.drift_features), "The per-feature drift table", where.drift_features, REPRO_DRIFT)
windows = require(read_drift_windows(where.drift_windows), "The drift windows", where.drift_windows, REPRO_DRIFT)
if features.empty or windows.empty:
    st.info(f"The drift stage found no incoming data to compare. Add monthly batches and run `{REPRO_DRIFT}`.")
    st.stop()
summary = read_json(where.drift_summary) or {}
distributions = read_json(where.drift_distributions) or {}
thresholds = summary.get("thresholds") or {}

window_names = windows["window"].astype(str).tolist()
chosen_window = st.selectbox("Window", window_names, index=len(window_names) - 1, key="drift_window")
window = windows[windows["window"].astype(str) == chosen_window].iloc[0]
source = window.get("source")

head = st.columns(4)
head[0].markdown(f"Status  \n{status_badge(str(window.get('status', 'unknown')))}")
head[1].metric("Rows", format_number(window.get("rows"), "{:,.0f}"))
head[2].metric("Share of features drifted", format_number(window.get("share_drifted"), "{:.0%}"))
head[3].metric("Score PSI", format_number(window.get("score_psi")))
reason = window.get("reason")
st.caption(f"Source: {source or 'n/a'}" + (f" · why: {reason}" if isinstance(reason, str) and reason else ""))

st.subheader(f"Features in {chosen_window}, most severe first")
in_window = features[features["window"].astype(str) == chosen_window]
table = by_severity(in_window[[c for c in TABLE_COLUMNS if c in in_window.columns]])
show_table(level_styled(table), key="drift_table", pinned=("feature",))
st.caption("Choose a feature below for the reason of its level, its distribution and its statistics over time.")

st.subheader("Drill-down")
feature_names = table["feature"].astype(str).tolist()
chosen_feature = st.selectbox("Feature", feature_names, index=0, key="drift_feature")
st.markdown(f"#### {chosen_feature}")
row = in_window[in_window["feature"].astype(str) == chosen_feature].iloc[0]
kind = str(row["kind"])
reason = row.get("reason")
st.markdown(
    f"{status_badge(str(row.get('level', 'ok')))} in {chosen_window} · {kind}"
    + (f" · {reason}" if isinstance(reason, str) and reason else "")
)
overlay_column, history_column = st.columns(2)
with overlay_column:
    overlay = distributions.get(chosen_window, {}).get(chosen_feature)
    if overlay:
        st.plotly_chart(
            figures.distribution_overlay_figure(
                chosen_feature, overlay["bins"], overlay["reference"], overlay["current"], kind
            ),
            key="drift_overlay",
        )
        if "missing_reference" in overlay:
            st.caption(
                f"Missing values: reference {format_number(overlay.get('missing_reference'), '{:.1%}')}, "
                f"current {format_number(overlay.get('missing_current'), '{:.1%}')} (bars share the non-missing rows)."
            )
    else:
        st.info(f"No distribution for {chosen_feature} in {chosen_window} in `{where.drift_distributions}`.")
with history_column:
    history = features[features["feature"].astype(str) == chosen_feature]
    history = history.set_index("window").reindex(windows["window"]).dropna(how="all").reset_index()
    st.plotly_chart(
        figures.feature_history_figure(
            chosen_feature,
            history,
            HISTORY_STATISTICS[kind],
            {**thresholds, **significance_lines(summary.get("alpha"))},
            HISTORY_LIMITS,
        ),
        key="drift_history",
    )

score_overlay = distributions.get(chosen_window, {}).get(SCORE)
if score_overlay:
    st.subheader("Predicted PD, reference vs current")
    st.plotly_chart(
        figures.distribution_overlay_figure(
            "PD", score_overlay["bins"], score_overlay["reference"], score_overlay["current"], "numeric",
            column=SCORE,
        ),
        key="drift_score_overlay",
    )

st.subheader("All windows")
if {"features_warn", "features_alert", "status"} <= set(windows.columns):
    st.plotly_chart(figures.window_status_figure(windows), key="drift_window_status")
statistic = st.radio("Heatmap statistic", ["psi", "js"], horizontal=True, key="drift_heatmap_statistic",
                     format_func=label)
st.plotly_chart(figures.psi_heatmap_figure(features, value=statistic, windows=window_names), key="drift_heatmap")
