"""Streamlit + Plotly dashboard over the artifacts the pipeline and the API wrote."""
