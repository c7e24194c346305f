"""The sample data-warehouse export: a seeded, deterministic generator of loans.

No real data ships with the project. This package draws loans that reproduce the
measured facts of the lender's export (`facts`: the numbers, each named for what
it reproduces) and writes them in the lender's format, quirks included, so that a
fresh clone runs end to end and tests can make data of any size. The parts:
`facts` (measured numbers), `loans` (dates, applicants and loans), `outcome`
(target and leak), `quirks` (value defects), `writers` (CSV and XLSX); this module
puts them together into the history and the incoming batches.

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
  drifting progressively (`DRIFT_AT_FULL_STRENGTH`, and `unobserved_risk`
  log-odds of default that no column explains), with labels only on batches
  that have matured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import special

from creditrisk.data.contract import COLUMN_NAMES, DATE, TARGET
from creditrisk.data.synthetic.facts import (
    BASE_DEFAULT_RATE,
    LEAK_PAYER_MODE,
    STREAM_HISTORY,
    STREAM_HISTORY_QUIRKS,
    STREAM_INCOMING,
)
from creditrisk.data.synthetic.loans import dates_in_month, draw_loans, history_dates, month_start
from creditrisk.data.synthetic.outcome import (
    DEFAULT_MODEL,
    calibrate_intercept,
    history_default_probability,
    leak_score,
)
from creditrisk.data.synthetic.quirks import DUPLICATE_SHARE, apply_history_quirks, apply_value_quirks
from creditrisk.data.synthetic.writers import write_csv, write_xlsx
from creditrisk.params import ParamsBlock

__all__ = ["LEAK_PAYER_MODE", "ExportSummary", "GenerateParams", "IncomingBatch", "generate_history",
           "generate_incoming", "history_paths", "incoming_path", "write_csv", "write_sample_export", "write_xlsx"]

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
    unobserved_risk: float
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


def generate_history(params: GenerateParams) -> pd.DataFrame:
    """The history export as a typed frame (contract column order), deterministic in the seed.

    With `params.quirks` the value defects of the real export are in it (the
    format defects are added when writing). Without, rows are clean and in
    date order.
    """
    rng = np.random.default_rng([params.seed, STREAM_HISTORY])
    duplicates = round(DUPLICATE_SHARE * params.rows) if params.quirks else 0
    unique_rows = params.rows - duplicates
    dates, position = history_dates(rng, unique_rows, pd.Timestamp(params.start), params.months)
    columns = draw_loans(rng, position)
    probability = history_default_probability(DEFAULT_MODEL.logit_without_intercept(columns), position)
    defaulted = rng.random(unique_rows) < probability
    frame = _frame(dates, columns, (~defaulted).astype("int64"), leak_score(rng, defaulted))
    del columns
    if params.quirks:
        frame = apply_history_quirks(frame, np.random.default_rng([params.seed, STREAM_HISTORY_QUIRKS]),
                                     duplicates)
    return frame


def drift_level(batch: int, batches: int, strength: float) -> float:
    """0 for the first two batches, then rising linearly to `strength` at the last."""
    if batches <= 2:
        return 0.0
    return strength * float(np.clip((batch - 1) / (batches - 2), 0.0, 1.0))


def generate_incoming(params: GenerateParams) -> list[IncomingBatch]:
    """Monthly batches after the history; labels only on the matured ones.

    Batches are drawn like the end of the history, then drift; the intercept is
    calibrated once on the undrifted first batch to `BASE_DEFAULT_RATE`, so the
    rise in defaults of later batches comes from their drifted columns, plus
    `params.unobserved_risk` log-odds that no column explains, scaled by the
    batch's drift level like the columns' drift. That term moves the PD level
    while the ranking holds: a model that sees only the columns under-predicts.
    """
    start = pd.Timestamp(params.start)
    batches: list[IncomingBatch] = []
    intercept: float | None = None
    for batch in range(params.incoming_months):
        rng = np.random.default_rng([params.seed, STREAM_INCOMING, batch])
        begin = month_start(start, params.months + batch)
        dates = np.sort(dates_in_month(rng, begin, month_start(start, params.months + batch + 1),
                                        params.incoming_rows)).astype("datetime64[ns]")
        drift = drift_level(batch, params.incoming_months, params.drift_strength)
        columns = draw_loans(rng, np.ones(params.incoming_rows), drift)
        logit = DEFAULT_MODEL.logit_without_intercept(columns)
        if intercept is None:
            intercept = calibrate_intercept(logit, BASE_DEFAULT_RATE)
        risk = params.unobserved_risk * drift
        defaulted = rng.random(params.incoming_rows) < special.expit(logit + intercept + risk)
        labelled = batch < params.incoming_months - params.label_lag_months
        frame = _frame(dates, columns,
                       (~defaulted).astype("int64") if labelled else None,
                       leak_score(rng, defaulted) if labelled else None)
        if params.quirks:
            apply_value_quirks(frame, rng)
        batches.append(IncomingBatch(begin.strftime("%Y-%m"), frame, labelled, drift))
    return batches


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
