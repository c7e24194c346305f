"""Small Streamlit building blocks the pages share: empty states, status badges, coloured tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import streamlit as st
from pandas.io.formats.style import Styler

from creditrisk.monitoring.rules import LEVELS
from dashboard.figures import LEVEL_COLOURS
from dashboard.loaders import DashboardPaths

T = TypeVar("T")

RUN_PIPELINE = "make run"
REPRO = "dvc repro"
REPRO_DRIFT = "dvc repro drift"
START_API = "make serve"

STATUS_COLOURS = {"ok": "green", "warn": "orange", "alert": "red"}
LEVEL_RANK = {level: rank for rank, level in enumerate(reversed(LEVELS))}
"""Display order, most severe first."""


def paths() -> DashboardPaths:
    return DashboardPaths.from_environment()


def empty_state(what: str, path: Path, command: str) -> None:
    """Say what is missing, where it was looked for, and which command writes it."""
    st.info(
        f"**{what}** not found yet: `{path}` does not exist. Run `{command}` to produce it.",
        icon=":material/info:",
    )


def require(value: T | None, what: str, path: Path, command: str) -> T:
    """Return `value`, or show the empty state and stop the page when it is missing."""
    if value is None:
        empty_state(what, path, command)
        st.stop()
    return value


def status_badge(status: str) -> str:
    """Markdown for a traffic-light status: a coloured dot and the level in capitals."""
    colour = STATUS_COLOURS.get(status, "gray")
    return f":{colour}[● **{status.upper()}**]"


def format_number(value: Any, pattern: str = "{:.3f}") -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "n/a"
    if isinstance(value, (int, float)):
        return pattern.format(value)
    return str(value)


def by_severity(table: pd.DataFrame, level_column: str = "level", then_by: str = "psi") -> pd.DataFrame:
    """Alert first, then warn, then ok; within a level the larger `then_by` first."""
    rank = table[level_column].map(LEVEL_RANK).fillna(len(LEVEL_RANK))
    ordered = table.assign(_rank=rank).sort_values(
        ["_rank", then_by] if then_by in table else ["_rank"],
        ascending=[True, False] if then_by in table else [True],
        kind="stable",
    )
    return ordered.drop(columns="_rank").reset_index(drop=True)


def _level_style(level: object) -> str:
    colour = LEVEL_COLOURS.get(str(level))
    return f"background-color: {colour}; color: white; font-weight: 600" if colour else ""


def level_styled(table: pd.DataFrame, level_columns: tuple[str, ...] = ("level", "status")) -> Styler:
    """The table with its level/status cells coloured like the traffic light."""
    columns = [name for name in level_columns if name in table.columns]
    return table.style.map(_level_style, subset=columns).format(precision=4, na_rep="")

