"""Models and versions: the candidates training compared, the released versions side by side, the stages and their
history, test curves."""

import pandas as pd
import streamlit as st

from creditrisk.modeling.reasons import reason_catalogue
from dashboard import figures, reports
from dashboard.components import REPRO, empty_state, paths, show_table
from dashboard.formatting import label, model_title, RATE
from dashboard.loaders import (
    read_csv,
    read_json,
    read_model_comparison,
    read_registry_stages,
    read_release_list,
    read_released_metrics,
)

RELEASE_METRICS = ("roc_auc", "pr_auc", "ks", "brier")
COMPARISON_METRICS = ("roc_auc", "pr_auc", "ks", "gini", "brier", "log_loss", "f1", "recall", "precision")
TABLE_METRICS = ("roc_auc", "pr_auc", "ks", "brier", "log_loss", "f1")
ROC_FILE = "roc.csv"
CALIBRATION_FILE = "calibration.csv"
IMPORTANCE_FILE = "importance.csv"


where = paths()
st.title("Models and versions")

st.subheader("Candidate models (cross-validation on the training split)")
comparison = read_model_comparison(where.model_comparison)
card = read_json(where.model_card) or {}
if comparison is None:
    empty_state("The candidate comparison", where.model_comparison, REPRO)
elif comparison.empty:
    st.info(f"`{where.model_comparison}` lists no candidate model.")
else:
    available = [m for m in COMPARISON_METRICS if f"{m}_mean" in comparison.columns]
    if card.get("model"):
        st.markdown(f"Selected and calibrated: **{model_title(card['model'])}** (`{card['model']}`)"
                    + (f", the best {label(card['selected_by'])} in forward CV" if card.get("selected_by") else ""))
    shown = [metric for metric in TABLE_METRICS if metric in available]
    show_table(reports.comparison_display_table(comparison, shown), key="models_comparison_table",
               formats={"monotone_violation": "%.4f"})
    st.caption("Forward-chaining CV on the training split, mean ± standard deviation over the folds; the chart "
               "below has every metric. Each candidate is fitted under the monotone directions and without them; "
               "only the setting `train.monotone` names competes, and under it only a model whose PD never moves "
               "against a direction on the latest fold (beyond `train.monotone_tolerance`).")
    if available:
        metric = st.selectbox("Metric", available, key="models_comparison_metric", format_func=label)
        st.plotly_chart(figures.model_comparison_figure(comparison, metric), key="models_comparison_chart")

st.subheader("Released versions")
release_list = read_release_list(str(where.repo_dir))
if release_list.releases:
    show_table(pd.DataFrame([{"version": r.tag, "date": r.date[:10], "commit": r.commit[:12], "summary": r.summary}
                             for r in release_list.releases]), key="models_release_record")
else:
    st.info(f"No release record (`releases.yaml`) in `{where.repo_dir}`.")
releases = read_released_metrics(str(where.repo_dir), tuple(release_list.tags))
if releases.missing_tags:
    st.warning(
        "Release tag(s) not found in the repository: " + ", ".join(f"`{tag}`" for tag in releases.missing_tags)
        + ". Releases are annotated git tags on commits whose `dvc.lock` and reports match their code: "
        "`make setup` recreates them from `releases.yaml`."
    )
for label, problem in releases.problems.items():
    st.caption(f"{label}: {problem}")
if releases.versions:
    labels = list(releases.versions)
    table = pd.DataFrame(releases.versions).sort_index()
    for before, after in zip(labels, labels[1:]):
        table[f"change {before} → {after}"] = table[after] - table[before]
    show_table(table.rename(index=label).rename_axis("metric").reset_index(), key="models_release_table")
    chosen = [name for name in RELEASE_METRICS if name in table.index]
    st.plotly_chart(figures.release_comparison_figure(releases.versions, chosen), key="models_release_chart")
else:
    st.info(f"No version metrics could be read with DVC from `{where.repo_dir}`.")

st.subheader("Stages")
stages = read_registry_stages(str(where.repo_dir))
if stages.holders:
    holder_columns = st.columns(max(len(stages.holders), 2))
    for column, (stage, version) in zip(holder_columns, stages.holders.items()):
        column.metric(f"In {stage}", f"v{version}")
    show_table(pd.DataFrame([{"date (UTC)": a.date[:16].replace("T", " "), "stage": a.stage,
                              "version": f"v{a.version}", "action": a.action, "why": a.reason,
                              "release gate": a.gate, "by": a.person[0], "tag": a.tag}
                             for a in reversed(stages.assignments)]),
               key="models_stage_history")
    st.caption("Every stage assignment, newest first, as `releases.yaml` records it and GTO's tags "
               "(`credit-model#<stage>#N`, whose tagger gives the email too) carry it: `make promote` runs the release "
               "gate against the version in the stage, `make rollback` assigns the previous one again; `make stages` "
               "and `gto history` show the same.")
else:
    st.info(f"No version is assigned to a stage yet (`{where.repo_dir / 'releases.yaml'}`): "
            "`make promote VERSION=x.y.z STAGE=prod REASON=\"...\"` assigns one.")

st.subheader("Out-of-time test curves")
metrics = read_json(where.metrics) or {}
roc_column, calibration_column = st.columns(2)
with roc_column:
    roc = read_csv(where.plots_dir / ROC_FILE)
    if roc is None:
        empty_state("The ROC curve", where.plots_dir / ROC_FILE, REPRO)
    else:
        st.plotly_chart(figures.roc_figure(roc, metrics.get("roc_auc")), key="models_roc")
with calibration_column:
    calibration = read_csv(where.plots_dir / CALIBRATION_FILE)
    if calibration is None:
        empty_state("The calibration curve", where.plots_dir / CALIBRATION_FILE, REPRO)
    else:
        st.plotly_chart(figures.calibration_figure(calibration), key="models_calibration")

importance = read_csv(where.plots_dir / IMPORTANCE_FILE)
if importance is not None and not importance.empty:
    st.plotly_chart(figures.importance_figure(importance), key="models_importance")

st.subheader("Scorecard points and reasons")
if card.get("bands") and card.get("scorecard"):
    scale = card["scorecard"]
    st.markdown(
        f"points = {scale['offset']:.1f} − {scale['factor']:.2f} × ln(PD / (1 − PD)): **{scale['points0']:g} points "
        f"at good:bad odds of {scale['odds0']:g}:1, {scale['pdo']:g} points to double the odds** (higher is safer)."
    )
    show_table(reports.band_points_table(card["bands"]), key="models_band_points",
               formats={"PD above": RATE, "PD up to": RATE, "points from": "%.1f", "points to": "%.1f"})
reasons = card.get("reasons") or {}
if reasons.get("reference_applicant"):
    st.markdown(f"Each scored row carries up to **{reasons['top_k']}** principal reasons: the inputs that raised its "
                f"PD above the reference applicant's, {reasons['reference']}.")
    show_table(reports.reference_applicant_table(reasons["reference_applicant"], reason_catalogue()),
               key="models_reference_applicant")
elif card:
    st.info(f"The model card `{where.model_card}` has no scorecard or reasons (a model trained before they existed).")

benchmark = card.get("benchmark") or {}
points = card.get("points_table") or benchmark.get("points_table")
if points:
    served = card.get("model") == benchmark.get("model") or bool(card.get("points_table"))
    st.subheader("The points scorecard" + ("" if served else " (benchmark)"))
    st.markdown("Monotone weight-of-evidence bins and a logistic regression on them, on the same points scale: a "
                "row's points are the sum of its characteristics' lines below. "
                + ("It is the served model." if served else "It is the interpretable benchmark beside the served "
                   "model; `make scorecard-sql` writes it as one SQL SELECT."))
    show_table(reports.benchmark_table(card), key="models_benchmark",
               formats={"forward-CV ROC-AUC": "%.4f", "standard error": "%.4f", "out-of-time ROC-AUC": "%.4f"})
    show_table(reports.points_table(points), key="models_points_table", formats={"points": "%.1f", "woe": "%.3f"})
