"""Overview: the model in service, its out-of-time metrics, this week's drift verdict and what to do."""

import streamlit as st

from dashboard import figures
from dashboard.advice import next_steps
from dashboard.formatting import model_title
from dashboard.components import (
    REPRO,
    REPRO_DRIFT,
    START_API,
    empty_state,
    format_number,
    paths,
    status_badge,
)
from dashboard.loaders import DashboardPaths, read_api_activity, read_api_serving, read_drift_windows, read_json

HEADLINE_METRICS = (
    ("roc_auc", "ROC-AUC", "{:.3f}"),
    ("gini", "Gini", "{:.3f}"),
    ("ks", "KS", "{:.3f}"),
    ("brier", "Brier", "{:.4f}"),
    ("default_rate", "Observed default rate", "{:.2%}"),
    ("pd_mean", "Mean PD", "{:.2%}"),
)


def date_range(window: dict) -> str:
    return f"{str(window.get('start'))[:10]} → {str(window.get('end'))[:10]}"


def show_model_card(card: dict | None, where: DashboardPaths, header: bool = True) -> None:
    """The model card's version (with `header`), model, training window and details."""
    if card is None:
        empty_state("The model card", where.model_card, REPRO)
        return
    window = card.get("data_window") or {}
    train_window = window.get("train")
    test_window = window.get("test")
    model_columns = st.columns([0.8, 2, 3] if header else [2, 3.8])
    if header:
        model_columns[0].metric("Model version", str(card.get("version") or "unversioned"))
    model = card.get("model")
    model_columns[-2].metric("Model", model_title(model) if model else "n/a",
                             help=f"candidate `{model}`" if model else None)
    if isinstance(train_window, dict) and train_window.get("start"):
        model_columns[-1].metric("Training window", date_range(train_window))
    details = []
    if card.get("calibration"):
        details.append(f"calibration: {card['calibration']}")
    if isinstance(card.get("threshold"), (int, float)):
        details.append(f"decision threshold PD ≥ {card['threshold']:.3f}")
    if isinstance(test_window, dict) and test_window.get("start"):
        details.append(f"out-of-time test window {date_range(test_window)}")
    if card.get("dropped_leaks"):
        details.append("dropped leaks: " + ", ".join(card["dropped_leaks"]))
    if details:
        st.caption(" · ".join(details))


where = paths()
st.title("Credit-risk model overview")

metrics = read_json(where.metrics)
summary = read_json(where.drift_summary)
windows = read_drift_windows(where.drift_windows)

st.subheader("Model in service")
if where.api_url:
    serving = read_api_serving(where.api_url, where.api_token)
    ready = serving.ready or {}
    if serving.problem is not None:
        st.error(f"The API at {where.api_url} did not answer ({serving.problem}); below, the workspace's model card, "
                 "which may not be what serves.")
        show_model_card(read_json(where.model_card), where)
    elif not ready.get("ready"):
        st.error(f"The API at {where.api_url} is not ready: {ready.get('reason') or ready}")
    else:
        columns = st.columns([0.8, 0.8, 2.4])
        columns[0].metric("Version serving", str(ready.get("model_version")))
        columns[1].metric("Stage", ready.get("stage") or "by path",
                          help="The registry stage the API serves (CREDITRISK_MODEL_STAGE), or a file by path")
        columns[2].metric("Model file md5", str(ready.get("md5") or "n/a")[:12], help=ready.get("source"))
        if ready.get("stale"):
            now = (f"v{ready['current_version']} " if ready.get("current_version") else "") + \
                f"(md5 {str(ready.get('current_md5'))[:12]})"
            st.warning(f"**Stale**: {ready.get('stale_reason')}. The API still serves v{ready.get('model_version')}; "
                       f"a reload (SIGHUP to gunicorn) would load {now}.")
        st.caption(f"As the API at {where.api_url} reports it (`/ready`, {ready.get('verified')}; loaded "
                   f"{str(ready.get('loaded_at'))[:19].replace('T', ' ')} UTC).")
        if serving.model is not None:
            show_model_card(serving.model.get("model_card") or {}, where, header=False)
        else:
            st.caption("The model's card needs `/model`, which wants the API token (CREDITRISK_API_TOKEN).")
else:
    show_model_card(read_json(where.model_card), where)
    st.caption(f"The workspace's model card (`{where.model_card}`): what the pipeline last built. Set "
               "CREDITRISK_API_URL to show what the API serves.")

st.subheader("Out-of-time test metrics")
if metrics is None:
    empty_state("Test metrics", where.metrics, REPRO)
else:
    metric_columns = st.columns(len(HEADLINE_METRICS))
    for column, (key, label, pattern) in zip(metric_columns, HEADLINE_METRICS):
        column.metric(label, format_number(metrics.get(key), pattern))
    st.caption(f"{format_number(metrics.get('rows'), '{:,.0f}')} loans after the training period.")

st.subheader("Drift, latest window")
if summary is None:
    empty_state("The drift summary", where.drift_summary, REPRO_DRIFT)
else:
    status = str(summary.get("status", "unknown"))
    latest = summary.get("latest_window") or "n/a"
    light, counts_column, score_column = st.columns([1, 2, 2])
    with light:
        st.markdown(f"### {status_badge(status)}")
        st.markdown(f"Window **{latest}**")
        st.metric("Score PSI (PD drift)", format_number(summary.get("score_psi")))
    if summary.get("reason"):
        st.caption(f"Why: {summary['reason']}")
    counts = summary.get("counts_by_level") or {}
    with counts_column:
        if counts:
            st.plotly_chart(figures.alert_counts_figure(counts), width="stretch")
    with score_column:
        if windows is not None and not windows.empty and "score_psi" in windows:
            cutoffs = (summary.get("thresholds") or {}).get("score_psi")
            st.plotly_chart(figures.score_drift_figure(windows, cutoffs), width="stretch")

st.subheader("What to do next")
for step in next_steps(summary):
    st.markdown(f"- {step}")

st.subheader("Scoring API")
activity = read_api_activity(where.prediction_log)
if activity is None:
    empty_state("The API prediction log", where.prediction_log, f"{START_API}` and send requests to `POST /predict")
else:
    api_columns = st.columns(3)
    api_columns[0].metric("Rows scored, last 30 days", f"{activity.recent_rows:,}")
    api_columns[1].metric("Rows scored, all time", f"{activity.total_rows:,}")
    api_columns[2].metric("Last request (UTC)", (activity.last_logged_at or "never")[:19].replace("T", " "))
    if activity.model_versions:
        st.caption("Model versions serving: " + ", ".join(activity.model_versions))
    if not activity.daily.empty:
        st.plotly_chart(figures.api_activity_figure(activity.daily), width="stretch")
