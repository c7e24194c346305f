"""Measured facts of the lender's export that the sample generator reproduces.

The numbers come from the data facts the project keeps beside its design notes (a real export of this
schema, 10,763 loans, Nov 2024 - Apr 2026): volumes, shares, rates, log-moments and correlations.
"""

from __future__ import annotations

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
}
# The log-odds of default no column explains, at drift level 1, is a setting of its own
# (`generate.unobserved_risk` in params.yaml), so the PD level can move apart from the columns.


# Independent random streams, so that one part can change without moving the others.
STREAM_HISTORY, STREAM_HISTORY_QUIRKS, STREAM_FORMAT, STREAM_INCOMING = 1, 2, 3, 4
