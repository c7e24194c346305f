"""Cached readers of the artifacts the pipeline and the API wrote.

Loaders only read: each returns the artifact as written (or None when the
file is not there yet) and raises `UnreadableArtifact`, naming the file, when
it exists but cannot be parsed. Caches are keyed by the file's modification
time, so a fresh `dvc repro` shows up on the next page load.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from creditrisk.monitoring.report import (
    COMPARE_SUMMARY_FILE,
    COMPARE_WINDOWS_FILE,
    DISTRIBUTIONS_FILE,
    FEATURES_FILE,
    SUMMARY_FILE,
    WINDOWS_FILE,
)
from creditrisk.serving.predlog import is_database_url, open_reader, PredictionLogUnreadable
from creditrisk.releases.record import VERSION_PATTERN, Assignment, Release, ReleaseError, load_record, load_releases
from creditrisk.releases.registry import stage_holders

WORKSPACE = "workspace"
RELEASE_RECORD_FILE = "releases.yaml"
"""The committed release record at the repository's root (see creditrisk.releases)."""
RELEASE_METRICS_FILE = "reports/metrics.json"
"""Where the evaluate stage's metrics live inside the repository, at every revision (see dvc.yaml)."""

VALIDATION_FILE = "validation.json"
"""The evaluate stage's validation pack (creditrisk.modeling.validation.validation_pack), beside metrics.json."""
VINTAGES_FILE = "vintages.csv"
"""The prepare stage's vintage table (creditrisk.data.vintages.vintage_table), one row per loan month."""
MODEL_REPORT_FILE = "model_report.html"
"""The evaluate stage's model report (creditrisk.modeling.model_report), one self-contained HTML file."""

RELEASES_TTL_SECONDS = 300
PREDICTION_LOG_TTL_SECONDS = 30
API_TTL_SECONDS = 10
API_TIMEOUT_SECONDS = 3


class UnreadableArtifact(ValueError):
    """An artifact exists but cannot be read; the message names the file and the reason."""


def _log_target(setting: str | None, default: Path | str) -> Path | str:
    if not setting:
        return default
    return setting if is_database_url(setting) else Path(setting)


@dataclass(frozen=True)
class DashboardPaths:
    """Where the dashboard looks for artifacts (environment variables, defaults in docs/interfaces.md)."""

    reports_dir: Path = Path("reports")
    prepared_dir: Path = Path("data/prepared")
    models_dir: Path = Path("models")
    prediction_log: Path | str = Path("data/monitoring/predictions.sqlite")  # str: a postgresql:// URL
    repo_dir: Path = Path(".")
    api_url: str | None = None  # the scoring API to ask what serves; unset: the workspace's model card
    api_token: str | None = None  # its bearer token, for /model

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> DashboardPaths:
        environ = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            reports_dir=Path(environ.get("CREDITRISK_REPORTS_DIR", defaults.reports_dir)),
            prepared_dir=Path(environ.get("CREDITRISK_PREPARED_DIR", defaults.prepared_dir)),
            models_dir=Path(environ.get("CREDITRISK_MODELS_DIR", defaults.models_dir)),
            prediction_log=_log_target(environ.get("CREDITRISK_PREDICTION_LOG"), defaults.prediction_log),
            repo_dir=Path(environ.get("CREDITRISK_REPO_DIR", defaults.repo_dir)),
            api_url=environ.get("CREDITRISK_API_URL", "").strip().rstrip("/") or None,
            api_token=environ.get("CREDITRISK_API_TOKEN") or None,
        )

    @property
    def metrics(self) -> Path:
        return self.reports_dir / "metrics.json"

    @property
    def model_comparison(self) -> Path:
        return self.reports_dir / "model_comparison.json"

    @property
    def plots_dir(self) -> Path:
        return self.reports_dir / "plots"

    @property
    def leakage(self) -> Path:
        return self.reports_dir / "leakage.json"

    @property
    def data_quality(self) -> Path:
        return self.reports_dir / "data_quality.json"

    @property
    def validation(self) -> Path:
        return self.reports_dir / VALIDATION_FILE

    @property
    def vintages(self) -> Path:
        return self.reports_dir / VINTAGES_FILE

    @property
    def model_report(self) -> Path:
        return self.reports_dir / MODEL_REPORT_FILE

    @property
    def drift_dir(self) -> Path:
        return self.reports_dir / "drift"

    @property
    def drift_summary(self) -> Path:
        return self.drift_dir / SUMMARY_FILE

    @property
    def drift_windows(self) -> Path:
        return self.drift_dir / WINDOWS_FILE

    @property
    def compare_dir(self) -> Path:
        return self.reports_dir / "compare"

    @property
    def compare_summary(self) -> Path:
        return self.compare_dir / COMPARE_SUMMARY_FILE

    @property
    def compare_windows(self) -> Path:
        return self.compare_dir / COMPARE_WINDOWS_FILE

    @property
    def drift_features(self) -> Path:
        return self.drift_dir / FEATURES_FILE

    @property
    def drift_distributions(self) -> Path:
        return self.drift_dir / DISTRIBUTIONS_FILE

    @property
    def model_card(self) -> Path:
        return self.models_dir / "model_card.json"

    @property
    def train(self) -> Path:
        return self.prepared_dir / "train.parquet"


def _modified(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None


@st.cache_data(show_spinner=False, max_entries=64)
def _read_json(path: str, modified: float) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UnreadableArtifact(f"{path} is not valid JSON ({error}); rerun the stage that writes it") from error


@st.cache_data(show_spinner=False, max_entries=64)
def _read_csv(path: str, modified: float) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise UnreadableArtifact(
            f"{path} is not a readable CSV file ({error}); rerun the stage that writes it"
        ) from error


@st.cache_data(show_spinner=False, max_entries=8)
def _read_parquet(path: str, modified: float) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as error:
        raise UnreadableArtifact(f"{path} is not a readable parquet file ({error}); rerun `dvc repro`") from error


def read_json(path: Path) -> Any | None:
    modified = _modified(path)
    return None if modified is None else _read_json(str(path), modified)


def read_csv(path: Path) -> pd.DataFrame | None:
    modified = _modified(path)
    return None if modified is None else _read_csv(str(path), modified)


def read_parquet(path: Path) -> pd.DataFrame | None:
    modified = _modified(path)
    return None if modified is None else _read_parquet(str(path), modified)


def read_drift_windows(path: Path) -> pd.DataFrame | None:
    """`windows.json` as a frame, one row per window in time order (band_mix kept as dicts).

    Windows of the API prediction log have their own labels, so a month can
    appear twice (incoming batch and log); they sort by end date.
    """
    records = read_json(path)
    if records is None:
        return None
    if not isinstance(records, list):
        raise UnreadableArtifact(f"{path} should hold a list of windows, found {type(records).__name__}")
    frame = pd.DataFrame.from_records(records)
    if frame.empty:
        return frame
    if "window" not in frame.columns:
        raise UnreadableArtifact(f"{path}: windows have no 'window' field")
    order = ["end", "window"] if "end" in frame.columns else ["window"]
    return frame.sort_values(order, kind="stable").reset_index(drop=True)


def read_compare_windows(path: Path) -> pd.DataFrame | None:
    """The compare stage's `windows.json`, laid out as the drift stage's: one row per window and source, in time
    order (band_migration kept as dicts)."""
    return read_drift_windows(path)


def read_validation(path: Path) -> dict[str, Any] | None:
    """The validation pack as the evaluate stage wrote it: every test with its verdict (traffic light)."""
    pack = read_json(path)
    if pack is None:
        return None
    if not isinstance(pack, dict) or not isinstance(pack.get("discrimination"), dict):
        raise UnreadableArtifact(f"{path} should hold the validation pack (an object with 'discrimination', ...)")
    return pack


def read_model_report(path: Path) -> bytes | None:
    """The model report's bytes (for the page's download button), or None before evaluate wrote it."""
    return path.read_bytes() if path.is_file() else None


def read_vintages(path: Path) -> pd.DataFrame | None:
    """The vintage table, one row per loan month in time order; `mature` as booleans."""
    table = read_csv(path)
    if table is None:
        return None
    absent = [name for name in ("vintage", "default_rate", "mature") if name not in table.columns]
    if absent:
        raise UnreadableArtifact(f"{path}: the vintage table has no column(s) {absent}")
    mature = table["mature"].map({True: True, False: False, "True": True, "False": False})
    if mature.isna().any():
        raise UnreadableArtifact(f"{path}: 'mature' should be True or False in every row")
    return table.assign(vintage=table["vintage"].astype(str), mature=mature.astype(bool)).sort_values(
        "vintage", kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class ApiActivity:
    """What the prediction log says about recent scoring."""

    daily: pd.DataFrame
    total_rows: int
    recent_rows: int
    last_logged_at: str | None
    model_versions: list[str] = field(default_factory=list)


@st.cache_data(show_spinner=False, ttl=PREDICTION_LOG_TTL_SECONDS, max_entries=8)
def _read_activity(target: str, since: str, stamp: tuple[float | None, ...]) -> ApiActivity:
    """Counted and grouped by the database (SQLite or PostgreSQL): only the daily totals travel."""
    try:
        found = open_reader(target).activity(since)
    except PredictionLogUnreadable as error:
        raise UnreadableArtifact(str(error)) from error
    daily = found.daily
    return ApiActivity(
        daily=daily,
        total_rows=found.total_rows,
        recent_rows=int(daily["rows"].sum()) if not daily.empty else 0,
        last_logged_at=found.last_logged_at,
        model_versions=found.model_versions,
    )


def read_api_activity(target: Path | str, days: int = 30, now: datetime | None = None) -> ApiActivity | None:
    """Rows scored per day over the last `days` days, read-only; None when there is no SQLite log yet.

    An SQLite log is re-read when its files change; a PostgreSQL one (a postgresql:// URL) every
    `PREDICTION_LOG_TTL_SECONDS`.
    """
    now = now or datetime.now(UTC)
    since = (now - timedelta(days=days)).strftime("%Y-%m-%d")
    if is_database_url(target):
        return _read_activity(str(target), since, ())
    path = Path(target)
    modified = _modified(path)
    if modified is None:
        return None
    stamp = (modified, _modified(path.with_name(path.name + "-wal")))
    return _read_activity(str(path), since, stamp)


@dataclass(frozen=True)
class ApiServing:
    """What the scoring API says it serves: `/ready`'s answer (200 or 503) and `/model`'s (None without the
    token); `problem` says why the API could not be asked."""

    url: str
    ready: dict[str, Any] | None = None
    model: dict[str, Any] | None = None
    problem: str | None = None


def _ask(url: str, token: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"Accept": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                    timeout=API_TIMEOUT_SECONDS) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@st.cache_data(show_spinner=False, ttl=API_TTL_SECONDS, max_entries=4)
def read_api_serving(url: str, token: str | None) -> ApiServing:
    """Ask the API what serves (`/ready`, and `/model` for the model card); never raises."""
    try:
        _, ready = _ask(f"{url}/ready", None)
        status, model = _ask(f"{url}/model", token)
    except (OSError, ValueError) as error:
        return ApiServing(url, problem=f"{type(error).__name__}: {error}")
    return ApiServing(url, ready=ready, model=model if status == 200 else None)


@dataclass(frozen=True)
class RegistryStages:
    """The record's stage assignments (oldest first) and the version holding each stage."""

    assignments: list[Assignment]
    holders: dict[str, str]


def read_registry_stages(repo_dir: str) -> RegistryStages:
    """Read from the committed record, as the library wrote it; raises `UnreadableArtifact` for a broken one.
    Not cached: one small file, and an assignment made since must show."""
    path = Path(repo_dir) / RELEASE_RECORD_FILE
    if not path.is_file():
        return RegistryStages([], {})
    try:
        record = load_record(path)
    except ReleaseError as error:
        raise UnreadableArtifact(str(error)) from error
    return RegistryStages(record.assignments, stage_holders(record))


@dataclass(frozen=True)
class ReleasedMetrics:
    """Test metrics per version label (tags in order, then the workspace)."""

    versions: dict[str, dict[str, float]]
    missing_tags: list[str]
    problems: dict[str, str]


def _numbers(metrics: Mapping[str, Any]) -> dict[str, float]:
    return {
        str(name): float(value) for name, value in metrics.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }


@dataclass(frozen=True)
class ReleaseList:
    """The releases: every recorded one (`releases.yaml`), then any `vX.Y.Z` tag the record lacks."""

    releases: list[Release]
    unrecorded_tags: list[str]

    @property
    def tags(self) -> list[str]:
        return [release.tag for release in self.releases] + self.unrecorded_tags


def _version_key(tag: str) -> tuple[int, ...]:
    return tuple(int(part) for part in tag[1:].split("."))


def read_release_list(repo_dir: str) -> ReleaseList:
    """The release record and the repository's release tags; raises `UnreadableArtifact` for a broken record.

    Not cached: a small file and one git call, and a cache would miss a record written since."""
    path = Path(repo_dir) / RELEASE_RECORD_FILE
    try:
        recorded = load_releases(path) if path.is_file() else []
    except ReleaseError as error:
        raise UnreadableArtifact(str(error)) from error
    try:
        listed = subprocess.run(["git", "tag", "--list", "v*"], cwd=repo_dir, capture_output=True, text=True)
    except OSError:  # no git at all (the dashboard image has none): no tags to list
        listed = None
    tags = ([tag for tag in listed.stdout.split() if VERSION_PATTERN.match(tag[1:])]
            if listed is not None and listed.returncode == 0 else [])
    known = {release.tag for release in recorded}
    return ReleaseList(recorded, sorted((tag for tag in tags if tag not in known), key=_version_key))


@st.cache_data(show_spinner="Reading released versions with DVC...", ttl=RELEASES_TTL_SECONDS, max_entries=4)
def read_released_metrics(repo_dir: str, tags: Sequence[str]) -> ReleasedMetrics:
    """Metrics of the git tags and of the workspace, through DVC's Python API.

    Tags that do not exist are listed in `missing_tags`; a revision whose
    metrics cannot be read is listed in `problems` with the reason.
    """
    import dvc.api
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    versions: dict[str, dict[str, float]] = {}
    problems: dict[str, str] = {}
    try:
        with Repo(repo_dir) as repo:
            existing = set(repo.scm.list_tags()) if repo.scm is not None else set()
    except (DvcException, OSError) as error:
        return ReleasedMetrics({}, list(tags), {"repository": f"{repo_dir} is not a DVC repository ({error})"})
    missing = [tag for tag in tags if tag not in existing]
    target = str(Path(repo_dir).resolve() / RELEASE_METRICS_FILE)  # DVC resolves relative targets against the cwd
    for label, revision in [(tag, tag) for tag in tags if tag in existing] + [(WORKSPACE, None)]:
        try:
            metrics = dvc.api.metrics_show(target, repo=repo_dir, rev=revision)
        except Exception as error:  # DVC raises many types for a revision without the file
            problems[label] = f"no readable {RELEASE_METRICS_FILE} at {label} ({type(error).__name__}: {error})"
            continue
        numbers = _numbers(metrics)
        if numbers:
            versions[label] = numbers
        else:
            problems[label] = f"{RELEASE_METRICS_FILE} at {label} holds no metrics"
    return ReleasedMetrics(versions=versions, missing_tags=missing, problems=problems)


def read_model_comparison(path: Path) -> pd.DataFrame | None:
    """The train stage's candidate table, one row per model (`model`, `<metric>_mean`, `<metric>_std`, ...).

    The stage writes the records under `models`, beside the selection (`select_metric`, `selected`, `folds`).
    """
    payload = read_json(path)
    if payload is None:
        return None
    records = payload.get("models") if isinstance(payload, dict) else None
    if not isinstance(records, list) or not all(isinstance(item, dict) for item in records):
        raise UnreadableArtifact(f"{path} should hold one record per candidate model under 'models'")
    frame = pd.DataFrame.from_records(records)
    if not frame.empty and "model" not in frame.columns:
        raise UnreadableArtifact(f"{path}: the candidate records have no 'model' field")
    return frame
