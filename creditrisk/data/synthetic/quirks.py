"""Value defects a real export has:
placeholder block, absurd salaries, garbage categories, duplicates, row order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from creditrisk.data.contract import TARGET

PLACEHOLDER_BLOCK_SHARE = 0.014


ZERO_SALARY_SHARE = 0.002


ABSURD_SALARY_SHARE = 0.002


GARBAGE_TREND_SHARE = 0.005


GARBAGE_TRENDS = ("0", "0.0", "1.0", "-1.0", "2.5", "13.0")


MISSING_BUREAU_SCORE_SHARE = 0.001


DUPLICATE_SHARE = 0.002


DEFAULTS_MOVED_TO_END_SHARE = 0.40


def apply_history_quirks(frame: pd.DataFrame, rng: np.random.Generator, duplicates: int) -> pd.DataFrame:
    """Value defects of the real history: row order, placeholder block, odd values, duplicates.

    Returns a new frame; the reordered copy is then changed in place to keep memory low.
    """
    frame = _defaults_towards_end(frame, rng)
    _placeholder_block(frame, rng)
    apply_value_quirks(frame, rng)
    return _insert_duplicates(frame, rng, duplicates)


def _defaults_towards_end(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Move a share of the defaults, in date order, to the end: the last rows are mostly defaults."""
    defaulted = (frame[TARGET] == 0).to_numpy()
    moved = defaulted & (rng.random(len(frame)) < DEFAULTS_MOVED_TO_END_SHARE)
    order = np.concatenate([np.flatnonzero(~moved), np.flatnonzero(moved)])
    return frame.iloc[order].reset_index(drop=True)


def _placeholder_block(frame: pd.DataFrame, rng: np.random.Generator) -> None:
    """In place, a contiguous block: ages 121-123, inflated salaries, bureau score 0, no bureau data."""
    length = max(1, round(PLACEHOLDER_BLOCK_SHARE * len(frame)))
    first = int(rng.integers(0, max(1, int(0.8 * len(frame)) - length)))
    block = np.arange(first, first + length)
    frame.loc[block, "edad_cliente"] = rng.integers(121, 124, length)
    inflated = frame.loc[block, "salario_cliente"].to_numpy() * rng.uniform(4.0, 12.0, length)
    frame.loc[block, "salario_cliente"] = np.round(inflated, -5)
    frame.loc[block, "puntaje_datacredito"] = 0.0
    frame.loc[block, ["promedio_ingresos_datacredito", "tendencia_ingresos"]] = np.nan
    for name in ("cant_creditosvigentes", "huella_consulta", "creditos_sectorFinanciero",
                 "creditos_sectorCooperativo", "creditos_sectorReal"):
        frame.loc[block, name] = 0


def apply_value_quirks(frame: pd.DataFrame, rng: np.random.Generator) -> None:
    """In place: zero and absurd salaries, numeric garbage in the income trend,
    missing bureau scores and one negative one."""
    rows = len(frame)
    draw = rng.random(rows)
    salary = frame["salario_cliente"].to_numpy(copy=True)
    salary[draw < ZERO_SALARY_SHARE] = 0.0
    absurd = (draw >= ZERO_SALARY_SHARE) & (draw < ZERO_SALARY_SHARE + ABSURD_SALARY_SHARE)
    salary[absurd] = salary[absurd] * 1e4
    frame["salario_cliente"] = salary
    garbage = rng.random(rows) < GARBAGE_TREND_SHARE
    frame.loc[garbage, "tendencia_ingresos"] = rng.choice(GARBAGE_TRENDS, int(garbage.sum()))
    bureau = frame["puntaje_datacredito"].to_numpy(copy=True)
    bureau[rng.random(rows) < MISSING_BUREAU_SCORE_SHARE] = np.nan
    scored = np.flatnonzero(bureau > 0)
    if len(scored):
        negative = scored[rng.integers(0, len(scored))]
        bureau[negative] = -bureau[negative]
    frame["puntaje_datacredito"] = bureau


def _insert_duplicates(frame: pd.DataFrame, rng: np.random.Generator, duplicates: int) -> pd.DataFrame:
    """Exact copies of `duplicates` rows, each right after its original."""
    if duplicates <= 0:
        return frame
    originals = np.sort(rng.choice(len(frame), size=duplicates, replace=False))
    order = np.insert(np.arange(len(frame)), originals + 1, originals)
    return frame.iloc[order].reset_index(drop=True)
