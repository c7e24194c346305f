"""Performance over time: how the model does on each window that has labels, against the out-of-time test."""

import pandas as pd
import streamlit as st

from dashboard import figures
from dashboard.components import (
    BAND_TEST_COLUMNS,
    REPRO,
    REPRO_DRIFT,
    empty_state,
    level_styled,
    light_levels,
    light_styled,
    paths,
    require,
    show_table,
)
from dashboard.loaders import read_drift_windows, read_json

TABLE_COLUMNS = (
    "window", "status", "labelled_rows", "roc_auc", "delta_roc_auc", "estimated_roc_auc", "delta_estimated_roc_auc",
    "default_rate", "estimated_default_rate", "calibration_ratio", "calibration_level", "brier",
)

where = paths()
st.title("Performance over time")

windows = require(read_drift_windows(where.drift_windows), "The drift windows", where.drift_windows, REPRO_DRIFT)
if windows.empty:
    st.info(f"The drift stage found no incoming data. Add monthly batches and run `{REPRO_DRIFT}`.")
    st.stop()
metrics = read_json(where.metrics)
if metrics is None:
    empty_state("The out-of-time test metrics (reference lines)", where.metrics, REPRO)
summary = read_json(where.drift_summary) or {}
score_cutoffs = (summary.get("thresholds") or {}).get("score_psi")

labelled = windows[windows["roc_auc"].notna()] if "roc_auc" in windows else windows.iloc[0:0]
if labelled.empty:
    st.info(
        "No window has matured labels yet, so realised ROC-AUC, default rate and Brier cannot be shown; the "
        "values estimated from the PDs (dashed) and score PSI are shown for every window."
    )
else:
    st.caption(
        f"{len(labelled)} of {len(windows)} windows have labels. Solid: realised; dashed: estimated from the PDs "
        "before labels arrive, with its 95 % band (the pipeline's estimates, see the Monitoring section of the "
        "README); dotted: the out-of-time test values."
    )

test_metrics = {key: value for key, value in (metrics or {}).items() if isinstance(value, (int, float))}
st.plotly_chart(figures.performance_figure(windows, test_metrics, score_cutoffs), key="performance_curves")

if "calibration_ratio" in windows and windows["calibration_ratio"].notna().any():
    st.subheader("PD level")
    rules = summary.get("calibration") or {}
    cutoffs = (summary.get("thresholds") or {}).get("calibration_ratio")
    st.plotly_chart(figures.pd_level_figure(windows, cutoffs, rules.get("confidence")), key="performance_pd_level")
    if cutoffs and rules:
        st.caption(
            "Observed defaults over the sum of the PDs in each labelled window, with its interval; the colour is "
            f"the drift stage's verdict, which enters the window's status: warn when the ratio or its inverse "
            f"reaches {cutoffs['warn']:g}, alert at {cutoffs['alert']:g}, each only when the Poisson-binomial test "
            f"is significant at {summary.get('alpha')}; warn too when {rules.get('red_bands')} risk bands are red; "
            f"not judged below {rules.get('min_expected_defaults'):g} expected defaults. See the README, When the "
            "PD level moves."
        )

st.subheader("Per window")
shown = windows[[column for column in TABLE_COLUMNS if column in windows.columns]]
show_table(level_styled(shown, ("status", "calibration_level")), key="performance_table", pinned=("window",))
st.caption("Δ columns are the window minus the out-of-time test (or the reference's estimate): negative is worse.")

if "band_mix" in windows:
    test_bands = (metrics or {}).get("bands") or {}
    test_shares = {band: values.get("share", 0.0) for band, values in test_bands.items() if isinstance(values, dict)}
    bands = [band["name"] for band in (read_json(where.model_card) or {}).get("bands") or []]
    st.plotly_chart(figures.band_mix_figure(windows, test_shares, bands), key="performance_band_mix")

if "band_tests" in windows:
    tested = windows[windows["band_tests"].map(lambda tests: isinstance(tests, list) and len(tests) > 0)]
    if not tested.empty:
        st.subheader("Risk bands of a labelled window")
        labels = tested["window"].astype(str).tolist()
        chosen = st.selectbox("Labelled window", labels, index=len(labels) - 1, key="performance_band_window")
        tests = pd.DataFrame.from_records(tested[tested["window"].astype(str) == chosen].iloc[0]["band_tests"])
        shown = tests[[name for name in BAND_TEST_COLUMNS if name in tests.columns]]
        show_table(light_styled(shown), key="performance_band_tests")
        levels = summary.get("band_tests")
        st.caption(
            f"Per band of {chosen}'s labelled loans, one-sided tests that the band's mean PD is too low for its "
            "observed default rate (exact binomial, Jeffreys); red binomial tests count toward the window's PD "
            "level." + (f" Levels: {light_levels(levels)}." if levels else "")
        )
