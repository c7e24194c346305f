"""Entry point: `streamlit run dashboard/app.py` from the repository root.

The `dashboard` package is imported as installed (`pip install -e .`, which
`make setup` runs). Artifact locations come from the environment (see
docs/interfaces.md); the pages read what the pipeline and the API wrote and
compute nothing themselves.
"""

import streamlit as st

from dashboard.loaders import UnreadableArtifact

st.set_page_config(page_title="Credit risk monitoring", page_icon=":material/monitoring:", layout="wide")

PAGES = [
    st.Page("views/overview.py", title="Overview", icon=":material/traffic:", default=True),
    st.Page("views/validation.py", title="Validation", icon=":material/fact_check:"),
    st.Page("views/drift.py", title="Drift", icon=":material/waves:"),
    st.Page("views/performance.py", title="Performance over time", icon=":material/trending_up:"),
    st.Page("views/challenger.py", title="Champion and challenger", icon=":material/compare_arrows:"),
    st.Page("views/models.py", title="Models and versions", icon=":material/sell:"),
    st.Page("views/exploration.py", title="Data exploration", icon=":material/search:"),
]

try:
    st.navigation(PAGES).run()
except UnreadableArtifact as error:
    st.error(f"An artifact could not be read: {error}")
