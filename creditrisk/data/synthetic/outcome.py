"""The sample's target, a latent logit of the true values calibrated per quarter, and the leak drawn from it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from creditrisk.data.synthetic.facts import (
    BASE_DEFAULT_RATE,
    LEAK_PAYER_MODE,
    LEAK_PAYER_MODE_SHARE,
    PERIOD_DEFAULT_RATES,
    SELF_EMPLOYED,
)


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


def history_default_probability(logit: np.ndarray, position: np.ndarray) -> np.ndarray:
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
