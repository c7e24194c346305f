"""Drawing applicants and loans:
dates shaped like the real volume, a Gaussian copula of the columns, their marginals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from creditrisk.data.synthetic.facts import (
    BUREAU_INCOME_MISSING_SHARE,
    DRIFT_AT_FULL_STRENGTH,
    EMPLOYED,
    HOUR_WEIGHTS,
    INSTALLMENT_RATIO_BY_TERM,
    LATENT_CORRELATIONS,
    LATENTS,
    MONTHLY_VOLUME,
    PRODUCT9_START_SHARE,
    PRODUCT9_TREND,
    PRODUCT_SHARES,
    PRODUCT_TERMS,
    SELF_EMPLOYED,
    SELF_EMPLOYED_SHARE_BUREAU_MISSING,
    SELF_EMPLOYED_SHARE_BUREAU_PRESENT,
    TREND_ONLY_MISSING_SHARE,
    TREND_SHARES_WHEN_PRESENT,
    TRENDS,
    WEEKDAY_WEIGHTS,
)


def month_weights(months: int) -> np.ndarray:
    """The real volume shape stretched or squeezed onto `months` months."""
    shape = np.asarray(MONTHLY_VOLUME, dtype="float64")
    if months == len(shape):
        weights = shape
    else:
        source = np.linspace(0.0, 1.0, len(shape))
        weights = np.interp(np.linspace(0.0, 1.0, months), source, shape)
    return weights / weights.sum()


def month_start(start: pd.Timestamp, offset: int) -> pd.Timestamp:
    return start + pd.DateOffset(months=offset)


def dates_in_month(rng: np.random.Generator, begin: pd.Timestamp, end: pd.Timestamp, count: int) -> np.ndarray:
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


def history_dates(rng: np.random.Generator, rows: int, start: pd.Timestamp, months: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Sorted loan times and their position in the history (0 = start, 1 = end)."""
    counts = rng.multinomial(rows, month_weights(months))
    parts = [
        dates_in_month(rng, month_start(start, m), month_start(start, m + 1), int(count))
        for m, count in enumerate(counts) if count
    ]
    dates = np.sort(np.concatenate(parts))
    span = (np.datetime64(month_start(start, months), "m") - np.datetime64(start, "m")).astype("float64")
    position = (dates - np.datetime64(start, "m")).astype("float64") / span
    return dates.astype("datetime64[ns]"), position


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
