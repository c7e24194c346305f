"""Data exploration: the prepared training split, and what prepare and the leakage guard reported about it."""

import streamlit as st

from creditrisk.data import exploration
from creditrisk.data.contract import TARGET
from dashboard import figures, reports
from dashboard.formatting import with_unit
from dashboard.components import REPRO, empty_state, paths, require, show_table
from dashboard.loaders import read_json, read_parquet

where = paths()
st.title("Data exploration")

train = require(read_parquet(where.train), "The prepared training data", where.train, REPRO)
if TARGET not in train.columns or train.empty:
    st.info(f"`{where.train}` has no labelled rows to explore; rerun `{REPRO}`.")
    st.stop()

labelled = train[train[TARGET].notna()]
overall_default_rate = float((labelled[TARGET] == 0).mean()) if len(labelled) else None
numeric = exploration.numeric_columns(train)
categorical = exploration.categorical_columns(train)
st.caption(
    f"{len(train):,} training loans, {len(numeric)} numeric and {len(categorical)} categorical columns; "
    + (f"default rate {overall_default_rate:.2%}." if overall_default_rate is not None else "no labels.")
)

st.subheader("One column")
column = st.selectbox("Column", numeric + categorical, key="exploration_column", format_func=with_unit)
if column in numeric:
    by_outcome = exploration.split_by_outcome(train, column)
    log_x = st.checkbox("Log scale (heavy-tailed amounts)", key="exploration_log")
    left, right = st.columns(2)
    left.plotly_chart(figures.histogram_figure(by_outcome, column, log_x=log_x), key="exploration_histogram")
    right.plotly_chart(figures.box_figure(by_outcome, column), key="exploration_box")
bins = st.slider("Bins", min_value=2, max_value=20, value=10, key="exploration_bins")
rates = exploration.default_rate_by_bins(train, column, bins=bins)
st.plotly_chart(
    figures.default_rate_by_bin_figure(rates, column, overall_default_rate), key="exploration_default_rate"
)

st.subheader("Correlation between numeric columns")
st.plotly_chart(figures.correlation_figure(exploration.correlation_matrix(train, numeric)), key="exploration_corr")


def show_raw(report: dict, label: str) -> None:
    with st.expander(f"{label} as written"):
        st.json(report, expanded=False)


st.subheader("Data-quality report (prepare)")
quality = read_json(where.data_quality)
if quality is None:
    empty_state("The data-quality report", where.data_quality, REPRO)
else:
    rows = reports.quality_rows(quality)
    if rows:
        for column, (name, value) in zip(st.columns(len(rows)), rows.items()):
            column.metric(name.replace("_", " "), f"{value:,}")
    split = reports.quality_split_table(quality)
    if split is not None:
        show_table(split, key="exploration_quality_split")
    columns = reports.quality_columns_table(quality)
    if columns is not None:
        st.markdown("Values nulled by a contract rule, and missing values, per column")
        counts = reports.quality_counts_note(quality)
        show_table(columns, key="exploration_quality_columns", labels=counts[0] if counts else None)
        if counts:
            st.caption(counts[1])
    show_raw(quality, "The data-quality report")

st.subheader("Leakage report (featurize)")
leakage = read_json(where.leakage)
if leakage is None:
    empty_state("The leakage report", where.leakage, REPRO)
else:
    dropped = leakage.get("dropped") or {}
    if dropped:
        st.error("Dropped as target leaks:\n" + "\n".join(
            f"- `{name}`: {'; '.join(reasons) if isinstance(reasons, list) else reasons}"
            for name, reasons in dropped.items()))
    else:
        st.success("The leakage guard dropped no column.")
    screened = reports.leakage_table(leakage)
    if screened is not None:
        show_table(screened.drop(columns=["reasons"], errors="ignore"), key="exploration_leakage_table",
                   pinned=("column",))
    show_raw(leakage, "The leakage report")
