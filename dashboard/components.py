"""Small Streamlit building blocks the pages share: empty states, status badges and traffic lights, coloured tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import streamlit as st
from pandas.io.formats.style import Styler

from creditrisk.monitoring.rules import LEVELS
from dashboard.figures import LEVEL_COLOURS, LIGHT_COLOURS
from dashboard.formatting import COLUMN_FORMATS, COLUMN_HELP, COLUMN_WIDTHS, label
from dashboard.loaders import DashboardPaths

T = TypeVar("T")

REPRO = "dvc repro"
REPRO_DRIFT = "dvc repro drift"
START_API = "make serve"

STATUS_COLOURS = {"ok": "green", "warn": "orange", "alert": "red"}
LIGHT_TEXT_COLOURS = {"green": "green", "yellow": "orange", "red": "red"}
"""Markdown colours of the validation pack's traffic lights (orange reads better than yellow on white)."""
BAND_TEST_COLUMNS = (
    "band", "rows", "defaults", "observed_rate", "mean_pd", "binomial_pvalue", "binomial_light", "jeffreys_pvalue",
    "jeffreys_light",
)
"""The per-band tests as the evaluate stage (validation.json) and the drift stage (windows.json) write them."""
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


def light_badge(light: object) -> str:
    """Markdown for a traffic light of the validation pack: a coloured dot and the light in capitals."""
    colour = LIGHT_TEXT_COLOURS.get(str(light), "gray")
    return f":{colour}[● **{str(light).upper()}**]"


def light_levels(levels: dict[str, float] | None) -> str:
    """The levels a pack or a drift run used, in words: green p >= yellow level, red p < red level."""
    if not levels:
        return ""
    yellow, red = levels.get("yellow_below"), levels.get("red_below")
    return f"green p ≥ {yellow:g}, yellow {red:g} ≤ p < {yellow:g}, red p < {red:g}"


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


def table_config(table: pd.DataFrame, labels: dict[str, str] | None = None,
                 formats: dict[str, str] | None = None, pinned: tuple[str, ...] = ()) -> dict[str, Any]:
    """Streamlit's column settings for a report table: each column's label (`dashboard.formatting.label`, or
    `labels`), its tooltip where the label cannot say all, its number format, and `pinned` columns kept in view
    when the table scrolls sideways. The data keep the report's keys."""
    labels, patterns = labels or {}, {**COLUMN_FORMATS, **(formats or {})}
    config: dict[str, Any] = {}
    for column in map(str, table.columns):
        settings: dict[str, Any] = {"label": labels.get(column, label(column)), "help": COLUMN_HELP.get(column),
                                    "pinned": column in pinned or None, "width": COLUMN_WIDTHS.get(column)}
        values = table[column]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        pattern = patterns.get(column) if numeric else None
        config[column] = (st.column_config.NumberColumn(format=pattern, **settings) if pattern
                          else st.column_config.Column(**settings))
    return config


def show_table(table: pd.DataFrame | Styler, key: str, labels: dict[str, str] | None = None,
               formats: dict[str, str] | None = None, pinned: tuple[str, ...] = ()) -> None:
    """A report table with readable headers and numbers, without its index; a missing value is an empty cell,
    not "None"."""
    frame = table.data if isinstance(table, Styler) else table
    st.dataframe(table, hide_index=True, key=key, placeholder="",
                 column_config=table_config(frame, labels, formats, pinned))


def _level_style(level: object) -> str:
    colour = LEVEL_COLOURS.get(str(level))
    return f"background-color: {colour}; color: white; font-weight: 600" if colour else ""


def level_styled(table: pd.DataFrame, level_columns: tuple[str, ...] = ("level", "status")) -> Styler:
    """The table with its level/status cells coloured like the traffic light."""
    columns = [name for name in level_columns if name in table.columns]
    return table.style.map(_level_style, subset=columns)


def _light_style(light: object) -> str:
    colour = LIGHT_COLOURS.get(str(light))
    return f"background-color: {colour}; color: white; font-weight: 600" if colour else ""


def light_styled(table: pd.DataFrame) -> Styler:
    """The table with every traffic-light cell (a column named `light` or `*_light`) in its colour."""
    columns = [name for name in table.columns if str(name) == "light" or str(name).endswith("_light")]
    return table.style.map(_light_style, subset=columns)

