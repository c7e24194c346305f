"""The sample data-warehouse export: a seeded, deterministic generator of loans.

No real data ships with the project. This module draws loans that reproduce the
measured facts of the lender's export (see DESIGN §3/§4 and data-facts.md) and
writes them in the lender's format, quirks included, so that a fresh clone runs
end to end and tests can make data of any size.

How a loan is drawn (all vectorised, one row per loan):

* **Dates**: monthly volume follows the real export's shape (front-loaded,
  Nov-24 .. Apr-26, rescaled to `rows` and `months`); days are weighted by
  weekday (Thursday busiest), hours run 07-20 peaking 15-17.
* **Applicant and loan**: a Gaussian copula (`LATENT_CORRELATIONS`) ties ten
  latent normals together: salary, other loans, principal, term, age, bureau
  score, active credits, total balance, inquiries, bureau income. Each latent
  is mapped to its marginal: lognormal money columns with the measured log
  mean/sd, a truncated normal age, negative binomial (gamma-Poisson) counts,
  product-specific term distributions. The installment is principal / term
  times a ratio that rises with the term.
* **Target**: a latent logit, `DefaultModel` (weights documented there), of
  the true (pre-quirk) values; the intercept is calibrated per quarter so the
  default rate moves over time as in the real file. The signal is weak and
  spread out, so an honest model reaches a modest ROC-AUC. Part of it lives in
  the debt burden (installment / salary) with a U-shaped effect, which no
  raw column shows on its own: a linear model on raw columns misses it, a
  model with the ratio and a non-linear learner finds it.
* **Leak**: `puntaje` is drawn from the outcome, as the lender computes it
  after the fact: it separates the classes perfectly.
* **Quirks** (`quirks: true`): value defects (placeholder-age block, absurd and
  zero salaries, garbage income trends, missing and negative bureau scores,
  duplicate rows, row order correlated with the target) and, in the CSV, format
  defects (comma decimals in quotes beside dot decimals, integers as floats,
  mixed `0` / `0.0`, day-first two-digit-year dates).
* **Incoming batches**: months after the history, drawn like its end and then
  drifting progressively (`DRIFT_AT_FULL_STRENGTH`), with labels only on
  batches that have matured.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import special

from creditrisk.params import ParamsBlock
from creditrisk.data.contract import COLUMN_NAMES, DATE, TARGET

# ---------------------------------------------------------------------------
# Measured facts the generator reproduces
# ---------------------------------------------------------------------------

#: Monthly loan counts of the real export, Nov-24 .. Apr-26: the volume shape.
MONTHLY_VOLUME = (186, 1216, 1917, 1094, 1115, 1102, 1083, 665, 644, 555, 361, 231, 166, 174, 127, 76, 40, 11)
#: Default rate of each sixth of the history (quarters of the real 18 months).
PERIOD_DEFAULT_RATES = (0.062, 0.050, 0.049, 0.030, 0.025, 0.058)
#: Default rate of the history drawn without time effects: the incoming baseline.
BASE_DEFAULT_RATE = 0.0475
WEEKDAY_WEIGHTS = (0.15, 0.15, 0.15, 0.18, 0.16, 0.13, 0.08)  # Monday .. Sunday
HOUR_WEIGHTS = {7: 0.03, 8: 0.05, 9: 0.07, 10: 0.08, 11: 0.08, 12: 0.07, 13: 0.07,
                14: 0.08, 15: 0.11, 16: 0.12, 17: 0.10, 18: 0.07, 19: 0.04, 20: 0.03}

#: Product code -> share; code 9 gains share over time (`PRODUCT9_TREND`).
PRODUCT_SHARES = {4: 0.72, 9: 0.27, 10: 0.004, 6: 0.003, 7: 0.002, 68: 0.001}
PRODUCT9_START_SHARE = 0.22
PRODUCT9_TREND = 0.16  # added to the code-9 share across the history
#: Product code -> (terms in months, probabilities).
PRODUCT_TERMS: dict[int, tuple[tuple[int, ...], tuple[float, ...]]] = {
    4: ((6, 8, 10, 12, 18, 24, 36), (0.36, 0.04, 0.05, 0.36, 0.06, 0.065, 0.065)),
    9: ((2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12),
        (0.02, 0.03, 0.03, 0.03, 0.05, 0.04, 0.08, 0.22, 0.43, 0.01, 0.06)),
    10: ((24, 36, 48, 60), (0.3, 0.3, 0.2, 0.2)),
    6: ((12, 18, 24, 36), (0.25, 0.25, 0.25, 0.25)),
    7: ((48, 60, 72, 84, 90), (0.2, 0.3, 0.2, 0.2, 0.1)),
    68: ((2, 3, 4, 6), (0.25, 0.25, 0.25, 0.25)),
}
#: installment x term / principal at a few terms (interpolated on log term).
INSTALLMENT_RATIO_BY_TERM = ((2, 0.78), (6, 0.87), (12, 0.92), (36, 1.18), (90, 1.55))

EMPLOYED, SELF_EMPLOYED = "Empleado", "Independiente"
SELF_EMPLOYED_SHARE_BUREAU_MISSING = 0.56
SELF_EMPLOYED_SHARE_BUREAU_PRESENT = 0.30
TRENDS = ("Creciente", "Decreciente", "Estable")
TREND_SHARES_WHEN_PRESENT = (0.68, 0.167, 0.153)
BUREAU_INCOME_MISSING_SHARE = 0.27
TREND_ONLY_MISSING_SHARE = 0.01

LEAK_PAYER_MODE = 95.227787
LEAK_PAYER_MODE_SHARE = 0.913  # of payers: ~87 % of all rows

LATENTS = ("salary", "other_loans", "principal", "term", "age", "bureau_score",
           "active_credits", "balance", "inquiries", "bureau_income")
#: Correlations between the latent normals (pairs not listed are 0).
LATENT_CORRELATIONS = {
    ("salary", "other_loans"): 0.74,
    ("salary", "principal"): 0.35,
    ("salary", "bureau_income"): 0.60,
    ("salary", "age"): 0.20,
    ("salary", "active_credits"): 0.25,
    ("other_loans", "principal"): 0.25,
    ("other_loans", "active_credits"): 0.40,
    ("other_loans", "balance"): 0.30,
    ("other_loans", "bureau_income"): 0.40,
    ("principal", "term"): 0.42,
    ("principal", "bureau_income"): 0.20,
    ("age", "bureau_score"): 0.44,
    ("age", "active_credits"): 0.15,
    ("bureau_score", "inquiries"): -0.20,
    ("bureau_score", "active_credits"): 0.10,
    ("active_credits", "balance"): 0.76,
    ("active_credits", "inquiries"): 0.30,
}

#: Change of each drifting quantity at drift level 1 (the last incoming batch).
DRIFT_AT_FULL_STRENGTH = {
    "log_salary": 0.22,          # salary inflation, about +25 %
    "product9_share": 0.23,      # product mix shifts toward code 9
    "inquiry_factor": 0.60,      # +60 % bureau inquiries
    "bureau_score": -35.0,       # points lost on the bureau score
    "unobserved_risk": 0.30,     # log-odds of default not explained by the columns
}


@dataclass(frozen=True)
class DefaultModel:
    """The latent logit of default, P(Pago_atiempo = 0), on true values.

    logit = intercept(period)
          + bureau_per_sd * z + bureau_low_hinge * clip(-0.84 - z, 0, bureau_hinge_span)
                                                         (z = (score - 792) / 50)
          + inquiry * min(inquiries, inquiry_cap) + no_inquiry * [inquiries == 0]
          + age_per_year * (min(age, 50) - 43) + young_per_year * max(0, young_below - age)
          + self_employed * [Independiente]
          + trend[tendencia] (Creciente 0)
          + burden_stress * clip(ln(burden / stress_from), 0, ln(stress_full / stress_from))
          + inflated_salary * clip(ln(inflated_below / burden), 0, ln(inflated_span))
          + principal_log * ln(principal / 1.9M)
          + unobserved_risk (incoming drift only)

    with burden = installment / declared salary. The bureau score, inquiry,
    age, employment and trend weights reproduce the measured per-bin default
    rates (bureau quintiles 8.5 -> 2.7 %, inquiries 3 -> 9 %, age 8.8 -> 3.8 %,
    ...). Risk rises steeply for the youngest borrowers; the bureau hinge
    saturates so that the rare very low scores are risky, not certain defaults.

    The debt burden acts through the ratio, U-shaped: affordability stress
    grows once the installment passes 10 % of the declared salary (in this
    export it rarely exceeds 35 %, where the effect saturates), and a burden
    far below the usual one (under 2.5 %) mostly means an inflated, unverified
    declared salary, also a risk sign. The two arms offset each other in the
    raw columns, so installment and salary each stay nearly uncorrelated with
    default (|Spearman| <= 0.05, as measured) while the ratio carries real
    signal. A larger principal is slightly safer, all else equal: the lender
    grants bigger loans to clients it has vetted more. Most of the outcome is
    still left to chance, as in the real file.
    """

    bureau_per_sd: float = -0.16
    bureau_low_hinge: float = 0.60
    bureau_hinge_span: float = 2.2
    inquiry: float = 0.115
    inquiry_cap: float = 11.0
    no_inquiry: float = 0.35
    age_per_year: float = -0.012
    young_per_year: float = 0.025
    young_below: float = 31.0
    self_employed: float = 0.20
    trend_decreasing: float = 0.55
    trend_stable: float = 0.15
    trend_missing: float = 0.30
    burden_stress: float = 1.85
    stress_from: float = 0.10
    stress_full: float = 0.35
    inflated_salary: float = 1.45
    inflated_below: float = 0.025
    inflated_span: float = 5.0
    principal_log: float = -0.20

    def logit_without_intercept(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        bureau_z = (columns["puntaje_datacredito"] - 792.0) / 50.0
        inquiries = columns["huella_consulta"].astype("float64")
        age = columns["edad_cliente"]
        trend = columns["tendencia_ingresos"]
        return (
            self.bureau_per_sd * bureau_z
            + self.bureau_low_hinge * np.clip(-0.84 - bureau_z, 0.0, self.bureau_hinge_span)
            + self.inquiry * np.minimum(inquiries, self.inquiry_cap)
            + self.no_inquiry * (inquiries == 0)
            + self.age_per_year * (np.minimum(age, 50) - 43)
            + self.young_per_year * np.maximum(0.0, self.young_below - age)
            + self.self_employed * (columns["tipo_laboral"] == SELF_EMPLOYED)
            + self.trend_decreasing * (trend == "Decreciente")
            + self.trend_stable * (trend == "Estable")
            + self.trend_missing * pd.isna(trend)
            + self.burden_effect(columns["cuota_pactada"] / columns["salario_cliente"])
            + self.principal_log * np.log(columns["capital_prestado"] / 1.9e6)
        )

    def burden_effect(self, burden: np.ndarray) -> np.ndarray:
        """The U-shaped log-odds of installment / salary: stress above, inflated salary below."""
        stress = np.clip(np.log(burden / self.stress_from), 0.0, np.log(self.stress_full / self.stress_from))
        inflated = np.clip(np.log(self.inflated_below / burden), 0.0, np.log(self.inflated_span))
        return self.burden_stress * stress + self.inflated_salary * inflated


DEFAULT_MODEL = DefaultModel()

# Export format quirks
COMMA_DECIMAL_COLUMNS = ("puntaje", "cuota_pactada", "promedio_ingresos_datacredito")
COMMA_DECIMAL_SHARE = 0.35
MIXED_ZERO_COLUMNS = ("saldo_mora", "saldo_mora_codeudor", "total_otros_prestamos")
INTEGER_COLUMNS = ("tipo_credito", "plazo_meses", "edad_cliente", "cant_creditosvigentes", "huella_consulta",
                   "creditos_sectorFinanciero", "creditos_sectorCooperativo", "creditos_sectorReal")
QUIRKY_DATE_FORMAT = "%d/%m/%y %H:%M"
CLEAN_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
# Value quirks (shares of rows)
PLACEHOLDER_BLOCK_SHARE = 0.014
ZERO_SALARY_SHARE = 0.002
ABSURD_SALARY_SHARE = 0.002
GARBAGE_TREND_SHARE = 0.005
GARBAGE_TRENDS = ("0", "0.0", "1.0", "-1.0", "2.5", "13.0")
MISSING_BUREAU_SCORE_SHARE = 0.001
DUPLICATE_SHARE = 0.002
DEFAULTS_MOVED_TO_END_SHARE = 0.40

# Independent random streams, so that one part can change without moving the others.
_STREAM_HISTORY, _STREAM_HISTORY_QUIRKS, _STREAM_FORMAT, _STREAM_INCOMING = 1, 2, 3, 4
CSV_CHUNK_ROWS = 100_000
HISTORY_FORMATS = ("xlsx", "csv")


@dataclass(frozen=True)
class GenerateParams(ParamsBlock):
    """The `generate` block of params.yaml."""

    BLOCK: ClassVar[str] = "generate"
    seed: int
    rows: int
    start: str
    months: int
    incoming_months: int
    incoming_rows: int
    label_lag_months: int
    quirks: bool
    drift_strength: float
    history_dir: str
    incoming_dir: str
    file_stem: str
    history_formats: tuple[str, ...]

    def problems(self) -> list[tuple[str, str]]:
        found = []
        if self.rows < 100:
            found.append(("rows", "must be at least 100"))
        if self.months < 1:
            found.append(("months", "must be at least 1"))
        if self.incoming_months < 0:
            found.append(("incoming_months", "must be >= 0"))
        if self.incoming_rows < 1:
            found.append(("incoming_rows", "must be >= 1"))
        if not 0 <= self.label_lag_months <= self.incoming_months:
            found.append(("label_lag_months", f"must be between 0 and incoming_months ({self.incoming_months})"))
        unknown = sorted(set(self.history_formats) - set(HISTORY_FORMATS))
        if unknown or not self.history_formats:
            found.append(("history_formats", f"must be a non-empty subset of {list(HISTORY_FORMATS)}"))
        try:
            pd.Timestamp(self.start)
        except ValueError:
            found.append(("start", "is not a date (use YYYY-MM-DD)"))
        return found


@dataclass(frozen=True)
class IncomingBatch:
    """One monthly batch after the history."""

    month: str  # YYYY-MM
    frame: pd.DataFrame
    labelled: bool
    drift: float


@dataclass
class ExportSummary:
    history_rows: int
    history_default_rate: float
    history_start: str
    history_end: str
    files: list[Path] = field(default_factory=list)
    incoming: list[tuple[str, int, bool]] = field(default_factory=list)

    def one_line(self) -> str:
        labelled = sum(1 for _, _, has_labels in self.incoming if has_labels)
        return (f"generate: {self.history_rows} history rows {self.history_start}..{self.history_end}, "
                f"default rate {self.history_default_rate:.2%}; {len(self.incoming)} incoming batches "
                f"({labelled} labelled); {len(self.files)} files written")


# ---------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------

def month_weights(months: int) -> np.ndarray:
    """The real volume shape stretched or squeezed onto `months` months."""
    shape = np.asarray(MONTHLY_VOLUME, dtype="float64")
    if months == len(shape):
        weights = shape
    else:
        source = np.linspace(0.0, 1.0, len(shape))
        weights = np.interp(np.linspace(0.0, 1.0, months), source, shape)
    return weights / weights.sum()


def _month_start(start: pd.Timestamp, offset: int) -> pd.Timestamp:
    return start + pd.DateOffset(months=offset)


def _dates_in_month(rng: np.random.Generator, begin: pd.Timestamp, end: pd.Timestamp, count: int) -> np.ndarray:
    """`count` loan times in [begin, end), weighted by weekday and hour."""
    days = pd.date_range(begin, end - pd.Timedelta(days=1), freq="D")
    day_weights = np.asarray(WEEKDAY_WEIGHTS)[days.day_of_week]
    day = rng.choice(len(days), size=count, p=day_weights / day_weights.sum())
    hours = np.asarray(list(HOUR_WEIGHTS))
    hour_weights = np.asarray(list(HOUR_WEIGHTS.values()))
    hour = rng.choice(hours, size=count, p=hour_weights / hour_weights.sum())
    minute = rng.integers(0, 60, size=count)
    base = days.values.astype("datetime64[m]")[day]
    return base + (hour * 60 + minute).astype("timedelta64[m]")


def _history_dates(rng: np.random.Generator, rows: int, start: pd.Timestamp, months: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Sorted loan times and their position in the history (0 = start, 1 = end)."""
    counts = rng.multinomial(rows, month_weights(months))
    parts = [
        _dates_in_month(rng, _month_start(start, m), _month_start(start, m + 1), int(count))
        for m, count in enumerate(counts) if count
    ]
    dates = np.sort(np.concatenate(parts))
    span = (np.datetime64(_month_start(start, months), "m") - np.datetime64(start, "m")).astype("float64")
    position = (dates - np.datetime64(start, "m")).astype("float64") / span
    return dates.astype("datetime64[ns]"), position


# ---------------------------------------------------------------------------
# Applicants and loans
# ---------------------------------------------------------------------------

def latent_correlation_matrix() -> np.ndarray:
    matrix = np.eye(len(LATENTS))
    for (first, second), value in LATENT_CORRELATIONS.items():
        i, j = LATENTS.index(first), LATENTS.index(second)
        matrix[i, j] = matrix[j, i] = value
    return matrix


_LATENT_CHOLESKY = np.linalg.cholesky(latent_correlation_matrix())


def _latent_normals(rng: np.random.Generator, rows: int) -> dict[str, np.ndarray]:
    correlated = _LATENT_CHOLESKY @ rng.standard_normal((len(LATENTS), rows))
    return {name: correlated[i] for i, name in enumerate(LATENTS)}


def _negative_binomial(rng: np.random.Generator, latent: np.ndarray, mean: float, shape: float) -> np.ndarray:
    """Over-dispersed counts (variance = mean + mean^2 / shape): Poisson with a gamma rate tied to `latent`.

    The gamma(shape, 1/shape) quantile of the latent normal uses the
    Wilson-Hilferty approximation, exact enough here and far faster than the
    inverse incomplete gamma function.
    """
    spread = 1.0 / (9.0 * shape)
    frailty = np.maximum(1.0 - spread + latent * np.sqrt(spread), 0.0) ** 3
    return rng.poisson(mean * frailty)


def _products(rng: np.random.Generator, position: np.ndarray, drift: float) -> np.ndarray:
    rare = {code: share for code, share in PRODUCT_SHARES.items() if code not in (4, 9)}
    product9 = PRODUCT9_START_SHARE + PRODUCT9_TREND * position + DRIFT_AT_FULL_STRENGTH["product9_share"] * drift
    draw = rng.random(len(position))
    codes = np.where(draw < product9, 9, 4)
    threshold = 1.0 - sum(rare.values())
    for code, share in rare.items():
        codes = np.where((draw >= threshold) & (draw < threshold + share), code, codes)
        threshold += share
    return codes


def _terms(codes: np.ndarray, latent: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Term by product, ranked by a latent tied to the principal; terms shorten over time."""
    quantile = special.ndtr(latent - 0.5 * position)
    terms = np.zeros(len(codes), dtype="int64")
    for code, (choices, probabilities) in PRODUCT_TERMS.items():
        mask = codes == code
        cumulative = np.cumsum(probabilities) / np.sum(probabilities)
        index = np.minimum(np.searchsorted(cumulative, quantile[mask]), len(choices) - 1)
        terms[mask] = np.asarray(choices)[index]
    return terms


def _salaries(rng: np.random.Generator, latent: np.ndarray, drift: float) -> np.ndarray:
    """Right-skewed log salary (floor near 0.6M), 80 % rounded to 100k, many to whole millions.

    Declared salaries cluster on 2M, 3M and 5M: 5M pulls in its neighbourhood.
    """
    log_salary = 13.3 + np.exp(0.479 + 0.41 * latent) + DRIFT_AT_FULL_STRENGTH["log_salary"] * drift
    salary = np.exp(log_salary)
    draw = rng.random(len(latent))
    whole_millions = (draw < 0.30) & (salary >= 1.5e6)
    hundred_thousands = (draw < 0.80) & ~whole_millions
    rounded = np.where(whole_millions, np.round(salary / 1e6) * 1e6, np.round(salary / 1e5) * 1e5)
    five_millions = (draw < 0.55) & (salary >= 3.8e6) & (salary < 7.0e6)
    rounded = np.where(five_millions, 5e6, rounded)
    whole_millions |= five_millions
    return np.where(whole_millions | hundred_thousands, rounded, np.maximum(np.round(salary, -3), 1000.0))


def _truncated_normal(latent: np.ndarray, mean: float, sd: float, low: float, high: float) -> np.ndarray:
    """Whole numbers in [low, high) from a normal(mean, sd) truncated there, ranked by `latent`."""
    bottom, top = special.ndtr((low - mean) / sd), special.ndtr((high - mean) / sd)
    return np.floor(mean + sd * special.ndtri(bottom + special.ndtr(latent) * (top - bottom)))


def _installments(rng: np.random.Generator, principal: np.ndarray, terms: np.ndarray) -> np.ndarray:
    known_terms, known_ratios = zip(*INSTALLMENT_RATIO_BY_TERM)
    ratio = np.interp(np.log(terms), np.log(known_terms), known_ratios)
    noise = np.exp(0.045 * rng.standard_normal(len(terms)))
    return np.round(principal / terms * ratio * noise, 2)


def _sector_credits(rng: np.random.Generator, active: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split active credits by sector; the three do not always add up (other sectors exist)."""
    rows = len(active)
    financial = rng.binomial(active, 0.49)
    cooperative_share = np.where(rng.random(rows) < 0.25, 0.19, 0.0)
    cooperative = rng.binomial(active - financial, cooperative_share / 0.51)
    real_share = np.where(rng.random(rows) < 0.75, 0.304, 0.0)
    remaining_share = np.maximum(0.51 - cooperative_share, real_share)
    real = rng.binomial(active - financial - cooperative, real_share / remaining_share)
    return financial, cooperative, real


def _balances(rng: np.random.Generator, latent: np.ndarray) -> dict[str, np.ndarray]:
    """Balances with the nested missingness of the real export."""
    rows = len(latent)
    total = np.where(latent < special.ndtri(0.07), 0.0, np.round(np.exp(9.25 + 2.2 * latent)))
    partial = rng.random(rows) >= 0.80
    principal = np.where(partial, np.round(total * rng.uniform(0.3, 1.0, rows)), total)
    arrears = np.where(rng.random(rows) < 0.005, np.round(np.exp(5.46 + rng.standard_normal(rows))), 0.0)
    cosigner = np.where(rng.random(rows) < 0.01, np.round(np.exp(11.0 + 1.5 * rng.standard_normal(rows))), 0.0)
    gap = rng.random(rows)
    all_missing = gap < 0.015
    principal_missing = gap < 0.038
    cosigner_missing = gap < 0.055
    return {
        "saldo_mora": np.where(all_missing, np.nan, arrears),
        "saldo_total": np.where(all_missing, np.nan, total),
        "saldo_principal": np.where(principal_missing, np.nan, principal),
        "saldo_mora_codeudor": np.where(cosigner_missing, np.nan, cosigner),
    }


def draw_loans(rng: np.random.Generator, position: np.ndarray, drift: float = 0.0) -> dict[str, np.ndarray]:
    """The true (clean) columns of one loan per element of `position`, without target and leak.

    `position` places each loan in the history (0 start .. 1 end; incoming batches use 1);
    `drift` (0 .. 1+) moves salary, product mix, inquiries and bureau score.
    """
    rows = len(position)
    latent = _latent_normals(rng, rows)
    codes = _products(rng, position, drift)
    terms = _terms(codes, latent["term"], position)
    principal = np.maximum(np.exp(14.48 + 0.66 * latent["principal"] + 0.10 * (position - 0.3)), 360_000.0)
    principal = np.where(rng.random(rows) < 0.7, np.round(principal, -5), np.round(principal, -3))
    salary = _salaries(rng, latent["salary"], drift)
    other_loans = np.where(latent["other_loans"] < special.ndtri(0.04), 0.0,
                           np.round(np.exp(13.80 + 1.22 * latent["other_loans"])))

    age = _truncated_normal(latent["age"], mean=43.4, sd=13.5, low=19.0, high=70.0)
    bureau = 792.0 + 50.0 * latent["bureau_score"] + DRIFT_AT_FULL_STRENGTH["bureau_score"] * drift
    bureau = np.where(rng.random(rows) < 0.003, rng.uniform(287.0, 650.0, rows), bureau)
    bureau = np.round(np.clip(bureau, 287.0, 999.0))

    income_missing = rng.random(rows) < BUREAU_INCOME_MISSING_SHARE
    bureau_income = np.where(income_missing, np.nan, np.round(np.exp(14.16 + 0.88 * latent["bureau_income"]), 2))
    self_employed_share = np.where(income_missing, SELF_EMPLOYED_SHARE_BUREAU_MISSING,
                                   SELF_EMPLOYED_SHARE_BUREAU_PRESENT)
    employment = np.where(rng.random(rows) < self_employed_share, SELF_EMPLOYED, EMPLOYED).astype(object)
    trend_index = np.searchsorted(np.cumsum(TREND_SHARES_WHEN_PRESENT), rng.random(rows) * 0.999999)
    trend = np.asarray(TRENDS, dtype=object)[trend_index]
    trend_missing = income_missing | (rng.random(rows) < TREND_ONLY_MISSING_SHARE)
    trend = np.where(trend_missing, None, trend)

    active = np.minimum(_negative_binomial(rng, latent["active_credits"], 5.7, 3.22), 62)
    financial, cooperative, real = _sector_credits(rng, active)
    inquiry_mean = 4.2 * (1.0 + DRIFT_AT_FULL_STRENGTH["inquiry_factor"] * drift)
    inquiries = _negative_binomial(rng, latent["inquiries"], inquiry_mean, 3.39)

    return {
        "tipo_credito": codes,
        "capital_prestado": principal,
        "plazo_meses": terms,
        "edad_cliente": age.astype("int64"),
        "tipo_laboral": employment,
        "salario_cliente": salary,
        "total_otros_prestamos": other_loans,
        "cuota_pactada": _installments(rng, principal, terms),
        "puntaje_datacredito": bureau,
        "cant_creditosvigentes": active,
        "huella_consulta": inquiries,
        **_balances(rng, latent["balance"]),
        "creditos_sectorFinanciero": financial,
        "creditos_sectorCooperativo": cooperative,
        "creditos_sectorReal": real,
        "promedio_ingresos_datacredito": bureau_income,
        "tendencia_ingresos": trend,
    }


# ---------------------------------------------------------------------------
# Target and leak
# ---------------------------------------------------------------------------

def calibrate_intercept(logit: np.ndarray, rate: float, iterations: int = 30) -> float:
    """The intercept b with mean(sigmoid(logit + b)) = rate (Newton's method)."""
    intercept = float(np.log(rate / (1.0 - rate)) - np.median(logit))
    for _ in range(iterations):
        probability = special.expit(logit + intercept)
        gap = probability.mean() - rate
        if abs(gap) < 1e-10:
            break
        intercept -= gap / max(float((probability * (1.0 - probability)).mean()), 1e-12)
    return intercept


def period_index(position: np.ndarray) -> np.ndarray:
    """Which sixth of the history (a quarter of the real 18 months) each loan falls in."""
    periods = len(PERIOD_DEFAULT_RATES)
    return np.minimum((position * periods).astype("int64"), periods - 1)


def period_default_rates(position: np.ndarray) -> np.ndarray:
    """The measured per-period rates, scaled so the whole history averages `BASE_DEFAULT_RATE`."""
    rates = np.asarray(PERIOD_DEFAULT_RATES)
    volume_weighted = rates[period_index(position)].mean()
    return rates * (BASE_DEFAULT_RATE / volume_weighted)


def _history_default_probability(logit: np.ndarray, position: np.ndarray) -> np.ndarray:
    period = period_index(position)
    intercepts = np.zeros(len(PERIOD_DEFAULT_RATES))
    for index, rate in enumerate(period_default_rates(position)):
        mask = period == index
        if mask.any():
            intercepts[index] = calibrate_intercept(logit[mask], rate)
    return special.expit(logit + intercepts[period])


def leak_score(rng: np.random.Generator, defaulted: np.ndarray) -> np.ndarray:
    """The lender's `puntaje`, computed after the outcome: payers >= 64, defaulters <= 63."""
    rows = len(defaulted)
    payer = np.where(rng.random(rows) < LEAK_PAYER_MODE_SHARE, LEAK_PAYER_MODE,
                     64.0 + 31.0 * rng.beta(1.5, 1.0, rows))
    defaulter = np.clip(25.0 + 20.0 * rng.standard_normal(rows), -38.0, 63.0)
    return np.round(np.where(defaulted, defaulter, payer), 6)


def _frame(dates: np.ndarray, columns: dict[str, np.ndarray], paid: np.ndarray | None,
           leak: np.ndarray | None) -> pd.DataFrame:
    """The export frame in contract column order; no labels (empty target and leak) when `paid` is None."""
    rows = len(dates)
    data = {**columns, DATE: dates,
            "puntaje": leak if leak is not None else np.full(rows, np.nan),
            TARGET: paid if paid is not None else np.full(rows, np.nan)}
    for name in ("tipo_laboral", "tendencia_ingresos"):
        data[name] = pd.array(data[name], dtype="str")
    return pd.DataFrame({name: data[name] for name in COLUMN_NAMES})


# ---------------------------------------------------------------------------
# History
# ---------------------------------------------------------------------------

def generate_history(params: GenerateParams) -> pd.DataFrame:
    """The history export as a typed frame (contract column order), deterministic in the seed.

    With `params.quirks` the value defects of the real export are in it (the
    format defects are added when writing). Without, rows are clean and in
    date order.
    """
    rng = np.random.default_rng([params.seed, _STREAM_HISTORY])
    duplicates = round(DUPLICATE_SHARE * params.rows) if params.quirks else 0
    unique_rows = params.rows - duplicates
    dates, position = _history_dates(rng, unique_rows, pd.Timestamp(params.start), params.months)
    columns = draw_loans(rng, position)
    probability = _history_default_probability(DEFAULT_MODEL.logit_without_intercept(columns), position)
    defaulted = rng.random(unique_rows) < probability
    frame = _frame(dates, columns, (~defaulted).astype("int64"), leak_score(rng, defaulted))
    del columns
    if params.quirks:
        frame = apply_history_quirks(frame, np.random.default_rng([params.seed, _STREAM_HISTORY_QUIRKS]),
                                     duplicates)
    return frame


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


# ---------------------------------------------------------------------------
# Incoming batches
# ---------------------------------------------------------------------------

def drift_level(batch: int, batches: int, strength: float) -> float:
    """0 for the first two batches, then rising linearly to `strength` at the last."""
    if batches <= 2:
        return 0.0
    return strength * float(np.clip((batch - 1) / (batches - 2), 0.0, 1.0))


def generate_incoming(params: GenerateParams) -> list[IncomingBatch]:
    """Monthly batches after the history; labels only on the matured ones.

    Batches are drawn like the end of the history, then drift; the intercept is
    calibrated once on the undrifted first batch to `BASE_DEFAULT_RATE`, so the
    rise in defaults of later batches comes from their drifted columns (plus an
    unobserved-risk term).
    """
    start = pd.Timestamp(params.start)
    batches: list[IncomingBatch] = []
    intercept: float | None = None
    for batch in range(params.incoming_months):
        rng = np.random.default_rng([params.seed, _STREAM_INCOMING, batch])
        begin = _month_start(start, params.months + batch)
        dates = np.sort(_dates_in_month(rng, begin, _month_start(start, params.months + batch + 1),
                                        params.incoming_rows)).astype("datetime64[ns]")
        drift = drift_level(batch, params.incoming_months, params.drift_strength)
        columns = draw_loans(rng, np.ones(params.incoming_rows), drift)
        logit = DEFAULT_MODEL.logit_without_intercept(columns)
        if intercept is None:
            intercept = calibrate_intercept(logit, BASE_DEFAULT_RATE)
        risk = DRIFT_AT_FULL_STRENGTH["unobserved_risk"] * drift
        defaulted = rng.random(params.incoming_rows) < special.expit(logit + intercept + risk)
        labelled = batch < params.incoming_months - params.label_lag_months
        frame = _frame(dates, columns,
                       (~defaulted).astype("int64") if labelled else None,
                       leak_score(rng, defaulted) if labelled else None)
        if params.quirks:
            apply_value_quirks(frame, rng)
        batches.append(IncomingBatch(begin.strftime("%Y-%m"), frame, labelled, drift))
    return batches


# ---------------------------------------------------------------------------
# Writing the export
# ---------------------------------------------------------------------------

@contextlib.contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    """A fresh temporary path beside `path`, renamed onto it only if the block succeeds.

    The file is created by the writer (so it gets the usual permissions), never half-written at `path`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def comma_decimal_mask(rows: int, seed: int) -> np.ndarray:
    """Which cells of `COMMA_DECIMAL_COLUMNS` the lender's export writes with a comma decimal."""
    rng = np.random.default_rng([seed, _STREAM_FORMAT])
    return rng.random((rows, len(COMMA_DECIMAL_COLUMNS))) < COMMA_DECIMAL_SHARE


def _comma_text(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Values as objects; masked, present ones become text with a comma decimal."""
    cells = values.astype(object)
    chosen = np.flatnonzero(mask & ~np.isnan(values))
    cells[chosen] = [repr(float(v)).replace(".", ",") for v in values[chosen]]
    return cells


def _number_text(values: np.ndarray, integral_column: bool, quirks: bool) -> pa.Array:
    """Numbers as CSV text; NaN becomes an empty cell.

    Floats keep a decimal point when integral (`695.0`), as the lender's
    warehouse writes them; integer columns are written as floats (`6.0`) with
    quirks and as plain integers (`6`) without.
    """
    present = ~np.isnan(values)
    integral = present & (np.abs(values) < 1e15) & (np.floor(values) == values)
    whole = pc.cast(pa.array(np.where(integral, values, 0.0).astype("int64")), pa.string())
    if not integral_column or quirks:
        whole = pc.binary_join_element_wise(whole, ".0", "")
    if integral.sum() == present.sum():
        return pc.if_else(pa.array(present), whole, pa.scalar(None, pa.string()))
    shortest = pc.cast(pa.array(values, from_pandas=True), pa.string())
    return pc.if_else(pa.array(integral), whole, shortest)


def _column_text(chunk: pd.DataFrame, name: str, quirks: bool, comma_mask: np.ndarray,
                 zero_as_int: np.ndarray) -> pa.Array:
    """One column of one chunk as CSV text, with the export's format quirks when asked."""
    values = chunk[name]
    if name == DATE:
        seconds = pc.cast(pa.array(values), pa.timestamp("s"), safe=False)
        return pc.strftime(seconds, format=QUIRKY_DATE_FORMAT if quirks else CLEAN_DATE_FORMAT)
    if name in ("tipo_laboral", "tendencia_ingresos"):
        return pa.array(values.astype(object).where(values.notna(), None), type=pa.string())
    numbers = values.to_numpy(dtype="float64", na_value=np.nan)
    text = _number_text(numbers, name in INTEGER_COLUMNS or name == TARGET, quirks)
    if quirks and name in COMMA_DECIMAL_COLUMNS:
        comma = comma_mask[:, COMMA_DECIMAL_COLUMNS.index(name)]
        quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, ".", ","), '"', "")
        text = pc.if_else(pa.array(comma), quoted, text)
    if quirks and name in MIXED_ZERO_COLUMNS:
        bare_zero = (numbers == 0) & zero_as_int[:, MIXED_ZERO_COLUMNS.index(name)]
        text = pc.if_else(pa.array(bare_zero), pa.scalar("0"), text)
    return text


def _csv_lines(columns: list[pa.Array]) -> bytes:
    """Rows joined by commas, each ended by a newline; missing cells are empty.

    Cells hold no separators except the comma decimals, which `_column_text`
    has already put in quotes, so no general CSV quoting is needed. The
    joined lines lie back to back in the string array's data buffer.
    """
    joined = pc.binary_join_element_wise(*columns, ",", null_handling="replace", null_replacement="")
    lines = pc.binary_join_element_wise(joined, "\n", "")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    first, last = offsets[lines.offset], offsets[lines.offset + len(lines)]
    return lines.buffers()[2].to_pybytes()[first:last]


def write_csv(frame: pd.DataFrame, path: Path, quirks: bool, seed: int, chunk_rows: int = CSV_CHUNK_ROWS) -> None:
    """Write the export as CSV, in chunks (bounded memory) and atomically."""
    comma_mask = comma_decimal_mask(len(frame), seed)
    zero_rng = np.random.default_rng([seed, _STREAM_FORMAT, 1])
    zero_as_int = zero_rng.random((len(frame), len(MIXED_ZERO_COLUMNS))) < 0.5
    with _atomic_path(Path(path)) as temporary, open(temporary, "wb") as handle:
        handle.write((",".join(str(name) for name in frame.columns) + "\n").encode("utf-8"))
        for first in range(0, len(frame), chunk_rows):
            rows = slice(first, first + chunk_rows)
            chunk = frame.iloc[rows]
            columns = [_column_text(chunk, name, quirks, comma_mask[rows], zero_as_int[rows]) for name in frame.columns]
            handle.write(_csv_lines(columns))


def _xlsx_cells(values: pd.Series, name: str, comma_mask: np.ndarray | None) -> list[object]:
    """Python cell values of one column: None for missing, real datetimes, text comma decimals."""
    if name == DATE:
        return [stamp.to_pydatetime() for stamp in values]
    if name in ("tipo_laboral", "tendencia_ingresos"):
        return [_garbage_as_number(v) for v in values.astype(object).where(values.notna(), None)]
    numbers = values.to_numpy(dtype="float64")
    if comma_mask is not None:
        return [None if isinstance(v, float) and np.isnan(v) else v for v in _comma_text(numbers, comma_mask)]
    integral = name in INTEGER_COLUMNS or name == TARGET
    return [None if np.isnan(v) else (int(v) if integral else v) for v in numbers.tolist()]


def _garbage_as_number(value: object) -> object:
    """Numeric garbage in a category column comes out of Excel as a number."""
    if value is None:
        return None
    try:
        return float(str(value))
    except ValueError:
        return value


def write_xlsx(frame: pd.DataFrame, path: Path, quirks: bool, seed: int) -> None:
    """Write the export as the lender's XLSX (openpyxl write-only mode), atomically.

    Dates are real datetimes; with quirks the comma-decimal cells stay text,
    as they come out of the lender's warehouse. Meant for export-sized files
    (about 10^4 - 10^5 rows, a few seconds); for a million rows write the CSV
    only (`history_formats: [csv]`).
    """
    from openpyxl import Workbook

    comma_mask = comma_decimal_mask(len(frame), seed) if quirks else None
    columns = [
        _xlsx_cells(frame[name], name,
                    comma_mask[:, COMMA_DECIMAL_COLUMNS.index(name)]
                    if comma_mask is not None and name in COMMA_DECIMAL_COLUMNS else None)
        for name in frame.columns
    ]
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("loans")
    sheet.append(list(frame.columns))
    for row in zip(*columns):
        sheet.append(row)
    with _atomic_path(Path(path)) as temporary:
        workbook.save(temporary)
        _make_reproducible(temporary, frame[DATE].max())


def _make_reproducible(path: Path, exported_at: pd.Timestamp) -> None:
    """Pin the workbook's creation/modification times and the zip entry times, so
    the same seed gives the same bytes (openpyxl stamps the current time)."""
    stamp = exported_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    with zipfile.ZipFile(path) as source:
        entries = [(info.filename, source.read(info.filename)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for name, data in entries:
            if name == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*", rb"\g<1>" + stamp.encode(), data)
            target.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data,
                            compress_type=zipfile.ZIP_DEFLATED)


def history_paths(params: GenerateParams, root: Path = Path(".")) -> list[Path]:
    return [Path(root) / params.history_dir / f"{params.file_stem}.{fmt}" for fmt in params.history_formats]


def incoming_path(params: GenerateParams, month: str, root: Path = Path(".")) -> Path:
    return Path(root) / params.incoming_dir / f"{params.file_stem}_{month}.csv"


def write_sample_export(params: GenerateParams, root: Path = Path(".")) -> ExportSummary:
    """Generate and write the history (XLSX and/or CSV) and the incoming monthly batches."""
    history = generate_history(params)
    summary = ExportSummary(
        history_rows=len(history),
        history_default_rate=float((history[TARGET] == 0).mean()),
        history_start=str(history[DATE].min().date()),
        history_end=str(history[DATE].max().date()),
    )
    for path in history_paths(params, root):
        writer = write_xlsx if path.suffix == ".xlsx" else write_csv
        writer(history, path, params.quirks, params.seed)
        summary.files.append(path)
    for batch in generate_incoming(params):
        path = incoming_path(params, batch.month, root)
        write_csv(batch.frame, path, params.quirks, params.seed)
        summary.files.append(path)
        summary.incoming.append((batch.month, len(batch.frame), batch.labelled))
    return summary
