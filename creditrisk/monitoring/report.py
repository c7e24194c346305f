"""The monitoring reports' names: their files and the keys a reader looks up (formats in docs/interfaces.md).

One place for the names the drift and compare runs write and the dashboard reads. This
module imports nothing, so a reader gets the names without the statistics.
"""

SUMMARY_FILE = "summary.json"
SUMMARY_METRICS_FILE = "summary_metrics.json"
"""The numbers of summary.json: the drift stage's DVC metrics file (text stays in summary.json)."""
WINDOWS_FILE = "windows.json"
FEATURES_FILE = "features.csv"
DISTRIBUTIONS_FILE = "distributions.json"
PROFILE_FILE = "reference_profile.json"
REPORT_FILES = (SUMMARY_FILE, SUMMARY_METRICS_FILE, WINDOWS_FILE, FEATURES_FILE, DISTRIBUTIONS_FILE, PROFILE_FILE)

SCORE = "__score__"
"""The model's PD, profiled and compared like a feature: its key in distributions.json and reference_profile.json."""

COMPARE_SUMMARY_FILE = "summary.json"
COMPARE_WINDOWS_FILE = "windows.json"
"""The compare stage's files (`monitoring.compare`), in its own folder: the verdict, and one record per window."""
