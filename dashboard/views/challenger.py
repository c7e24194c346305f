"""Champion and challenger: the compare stage's verdict on the shadow challenger, the command it names, and the
figures behind it. The verdict and the command are the stage's (`creditrisk.monitoring.rules.challenger_verdict`);
this page decides nothing."""

import streamlit as st

from dashboard import figures
from dashboard.components import empty_state, format_number, level_styled, paths, require, show_table
from dashboard.loaders import read_compare_windows, read_json

REPRO_COMPARE = "dvc repro compare"
VERDICT_COLOURS = {"better": "green", "no evidence": "gray", "worse": "red"}
TABLE_COLUMNS = (
    "window", "source", "champion_version", "challenger_version", "in_sample", "rows", "decision_agreement", "pd_psi",
    "labelled_rows", "defaults", "champion_roc_auc", "challenger_roc_auc", "roc_auc_difference", "delong_pvalue",
    "champion_brier", "challenger_brier", "champion_calibration_level", "challenger_calibration_level",
)
POOLED = (
    ("ROC-AUC", "roc_auc", "{:.3f}"),
    ("Brier", "brier", "{:.4f}"),
    ("PD level", "calibration_level", "{}"),
    ("Observed / expected", "calibration_ratio", "{:.2f}"),
)

where = paths()
st.title("Champion and challenger")
summary = require(read_json(where.compare_summary), "The champion-against-challenger summary", where.compare_summary,
                  REPRO_COMPARE)
windows = read_compare_windows(where.compare_windows)

verdict = str(summary.get("verdict"))
st.subheader("Verdict")
colour = VERDICT_COLOURS.get(verdict, "gray")
challenger = summary.get("challenger_version") or "no challenger"
st.markdown(f"### :{colour}[● {verdict.upper()}] · challenger **{challenger}** against champion "
            f"**{summary.get('champion_version')}**")
st.write(summary.get("reason"))
pooled_windows = summary.get("verdict_windows") or []
rules = summary.get("rules") or {}
if pooled_windows:
    st.caption(f"On the labelled loans of {', '.join(pooled_windows)} pooled, scored by both models. Rules "
               f"(params.yaml `compare`): the paired DeLong test at alpha {rules.get('alpha')}, each model's PD-level verdict, the "
               f"challenger's Brier at most the champion's plus {rules.get('brier_tolerance')}; not judged below "
               f"{rules.get('min_labelled_defaults')} defaults.")
in_sample = summary.get("in_sample_windows") or []
if in_sample:
    st.caption(f"Left out of the verdict: {', '.join(in_sample)}, whose labels a model was fitted on (in sample: "
               "they flatter it).")
st.markdown(f"**Next step:** {summary.get('next_step')}.")
if summary.get("promote_command"):
    st.code(summary["promote_command"], language="bash", wrap_lines=True)
    st.caption("`make promote` runs the release gate against the version in `prod` before it assigns the stage, "
               "and records who, when and why.")

pooled = summary.get("pooled") or {}
if pooled.get("labelled_rows"):
    st.subheader("Labelled loans, both models")
    columns = st.columns(len(POOLED) + 1)
    for column, (title, key, pattern) in zip(columns, POOLED):
        column.metric(f"{title}, challenger", format_number(pooled.get(f"challenger_{key}"), pattern),
                      help=f"champion: {format_number(pooled.get(f'champion_{key}'), pattern)}")
        column.caption(f"champion {format_number(pooled.get(f'champion_{key}'), pattern)}")
    columns[-1].metric("DeLong p", format_number(pooled.get("delong_pvalue"), "{:.3g}"),
                       help="Paired DeLong test of the ROC-AUC difference, two-sided")
    columns[-1].caption(f"{pooled.get('labelled_rows'):,} loans, {pooled.get('defaults')} defaults")

if windows is None or windows.empty:
    empty_state("Windows scored by both models", where.compare_windows, REPRO_COMPARE)
    st.stop()

st.subheader("By window")
st.caption(f"Incoming batches scored by both model files, and the prediction log's shadowed rows as each model "
           f"answered live ({summary.get('logged_rows', 0):,} rows; windows prefixed `log:`).")
st.plotly_chart(figures.decision_agreement_figure(windows), key="challenger_agreement")
if "champion_roc_auc" in windows and windows["champion_roc_auc"].notna().any():
    st.plotly_chart(figures.challenger_roc_auc_figure(windows), key="challenger_roc_auc")
shown = windows[[column for column in TABLE_COLUMNS if column in windows.columns]]
show_table(level_styled(shown, ("champion_calibration_level", "challenger_calibration_level")),
           key="challenger_table", pinned=("window",))

migrations = windows[windows["band_migration"].map(lambda value: isinstance(value, dict))]
if not migrations.empty:
    st.subheader("Band migration")
    labels = migrations["window"].astype(str).tolist()
    chosen = st.selectbox("Window", labels, index=len(labels) - 1, key="challenger_migration_window")
    migration = migrations[migrations["window"].astype(str) == chosen].iloc[0]["band_migration"]
    st.plotly_chart(figures.band_migration_figure(migration, f"Loans by band, {chosen}: champion down, challenger "
                                                             "across"), key="challenger_migration")
