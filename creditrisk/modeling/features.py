"""Domain features and the model's input frame.

`DomainFeatures` is the first step of every model pipeline: it takes RAW
contract columns (what the API receives) and returns the model frame, the kept
raw columns plus the engineered ones, with uniform dtypes. Engineered features
are named in a registry and computed by plain functions, so a fitted pipeline
stores only their names (skops-friendly) and scoring needs nothing else.
The leakage guard that decides which of them the model may see is in `leakage`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.base import BaseEstimator, TransformerMixin

from creditrisk.params import ParamsBlock
from creditrisk.data.contract import CATEGORICAL_FEATURES, DATE, MISSING_CATEGORY, SPECS, TARGET

FeatureKind = Literal["numeric", "category"]


@dataclass(frozen=True)
class FeaturizeParams(ParamsBlock):
    """The `featurize` block of params.yaml."""

    BLOCK: ClassVar[str] = "featurize"
    engineered_features: bool
    leak_auc_threshold: float
    drop: list[str]
    guard_folds: int
    guard_tree_depth: int
    guard_min_class_rows: int
    seed: int
    train_path: str
    test_path: str
    columns_path: str
    leakage_report: str

    def problems(self) -> list[tuple[str, str]]:
        found = []
        if not 0.5 < self.leak_auc_threshold <= 1.0:
            found.append(("leak_auc_threshold", "must be in (0.5, 1]"))
        if self.guard_folds < 2:
            found.append(("guard_folds", "must be >= 2"))
        return found


# ---------------------------------------------------------------- engineered features


# Engineered features compute on numpy arrays: numbers as float64, the loan date as naive
# datetime64, categories as they came. pandas operations cost tens of microseconds each
# whatever the row count, and the API pays them on every one-row request.
Column = np.ndarray | pd.Series | pd.api.extensions.ExtensionArray
RawColumns = Mapping[str, Column]


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, missing where the denominator is missing or not positive, and
    where the quotient overflows (a valid but near-zero salary): no model step accepts infinity."""
    with np.errstate(all="ignore"):
        quotient = numerator / np.where(denominator > 0, denominator, np.nan)
    quotient[np.isinf(quotient)] = np.nan
    return quotient


def _flag(condition: np.ndarray, source: np.ndarray) -> np.ndarray:
    """1.0 / 0.0, missing where the source value is missing."""
    return np.where(np.isnan(source), np.nan, condition.astype("float64"))


def _missing(source: Column) -> np.ndarray:
    return np.asarray(pd.isna(source), dtype="float64")


def _calendar_month(moments: np.ndarray) -> np.ndarray:
    """1-12, missing where the date is missing."""
    months = moments.astype("datetime64[M]").astype("int64") % 12 + 1
    return np.where(np.isnat(moments), np.nan, months.astype("float64"))


def _weekday(moments: np.ndarray) -> np.ndarray:
    """0 = Monday ... 6 = Sunday (1970-01-01 was a Thursday), missing where the date is missing."""
    days = (moments.astype("datetime64[D]").astype("int64") + 3) % 7
    return np.where(np.isnat(moments), np.nan, days.astype("float64"))


@dataclass(frozen=True)
class EngineeredFeature:
    name: str
    inputs: tuple[str, ...]
    kind: FeatureKind
    description: str
    compute: Callable[[RawColumns], np.ndarray]


ENGINEERED: dict[str, EngineeredFeature] = {
    feature.name: feature
    for feature in (
        EngineeredFeature(
            "debt_to_income", ("cuota_pactada", "salario_cliente"), "numeric",
            "installment / declared salary",
            lambda f: _ratio(f["cuota_pactada"], f["salario_cliente"])),
        EngineeredFeature(
            "loan_to_income", ("capital_prestado", "salario_cliente"), "numeric",
            "principal / declared salary",
            lambda f: _ratio(f["capital_prestado"], f["salario_cliente"])),
        EngineeredFeature(
            "other_debt_to_income", ("total_otros_prestamos", "salario_cliente"), "numeric",
            "other loans / declared salary",
            lambda f: _ratio(f["total_otros_prestamos"], f["salario_cliente"])),
        EngineeredFeature(
            "balance_to_income", ("saldo_total", "salario_cliente"), "numeric",
            "total bureau balance / declared salary",
            lambda f: _ratio(f["saldo_total"], f["salario_cliente"])),
        EngineeredFeature(
            "bureau_to_declared_income", ("promedio_ingresos_datacredito", "salario_cliente"), "numeric",
            "bureau-estimated income / declared salary (over-declared income is a risk sign)",
            lambda f: _ratio(f["promedio_ingresos_datacredito"], f["salario_cliente"])),
        EngineeredFeature(
            "repayment_ratio", ("cuota_pactada", "plazo_meses", "capital_prestado"), "numeric",
            "installment x term / principal: the price of the loan",
            lambda f: _ratio(f["cuota_pactada"] * f["plazo_meses"], f["capital_prestado"])),
        EngineeredFeature(
            "has_arrears", ("saldo_mora",), "numeric",
            "1 when the client has a balance in arrears",
            lambda f: _flag(f["saldo_mora"] > 0, f["saldo_mora"])),
        EngineeredFeature(
            "cosigner_has_arrears", ("saldo_mora_codeudor",), "numeric",
            "1 when a co-signer has a balance in arrears",
            lambda f: _flag(f["saldo_mora_codeudor"] > 0, f["saldo_mora_codeudor"])),
        EngineeredFeature(
            "bureau_income_missing", ("promedio_ingresos_datacredito",), "numeric",
            "1 when the bureau has no income estimate",
            lambda f: _missing(f["promedio_ingresos_datacredito"])),
        EngineeredFeature(
            "income_trend_missing", ("tendencia_ingresos",), "numeric",
            "1 when the income trend is unknown",
            lambda f: _missing(f["tendencia_ingresos"])),
        EngineeredFeature(
            "bureau_score_missing", ("puntaje_datacredito",), "numeric",
            "1 when the bureau score is missing or 'no record'",
            lambda f: _missing(f["puntaje_datacredito"])),
        EngineeredFeature(
            "loan_month", (DATE,), "numeric",
            "calendar month of the loan (known at scoring time)",
            lambda f: _calendar_month(f[DATE])),
        EngineeredFeature(
            "loan_weekday", (DATE,), "category",
            "weekday of the loan, 0 = Monday (known at scoring time)",
            lambda f: _weekday(f[DATE])),
        EngineeredFeature(
            "internal_to_bureau_score", ("puntaje", "puntaje_datacredito"), "numeric",
            "lender's internal score / bureau score: a natural idea that inherits the leak "
            "of `puntaje`; left as a candidate so the guard proves it screens derived columns",
            lambda f: _ratio(f["puntaje"], f["puntaje_datacredito"])),
    )
}


def _as_datetime(values: Column | None, rows: int) -> np.ndarray:
    """Loan dates as naive datetime64 (local wall time when tz-aware); text is parsed as ISO 8601."""
    if values is None:
        return np.full(rows, np.datetime64("NaT", "ns"))
    if isinstance(values, np.ndarray) and values.dtype.kind == "M":
        return values
    values = values if isinstance(values, pd.Series) else pd.Series(values)
    if not pd.api.types.is_datetime64_any_dtype(values):
        values = pd.to_datetime(values, errors="coerce", format="ISO8601")
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_localize(None)
    return values.to_numpy()


def feature_kind(name: str) -> FeatureKind:
    """Numeric or category, for a contract column or an engineered feature."""
    if name in ENGINEERED:
        return ENGINEERED[name].kind
    if name in CATEGORICAL_FEATURES:
        return "category"
    spec = SPECS.get(name)
    if spec is not None and spec.kind == "category":
        return "category"
    return "numeric"


def raw_inputs(columns: Sequence[str]) -> list[str]:
    """The raw contract columns a set of model columns is computed from, in order."""
    needed: list[str] = []
    for name in columns:
        for source in ENGINEERED[name].inputs if name in ENGINEERED else (name,):
            if source not in needed:
                needed.append(source)
    return needed


def _as_category(values: Column) -> Column:
    """Text categories, integral numbers without a decimal part, missing as MISSING_CATEGORY."""
    return _take_categories(*_texts_and_codes(values))


def _texts_and_codes(values: Column) -> tuple[list[str], np.ndarray]:
    """`_as_category` as distinct texts and each row's code into them (-1 = MISSING_CATEGORY)."""
    if isinstance(values, np.ndarray) and values.dtype.kind not in "biuf":
        values = pd.Series(values)
    if isinstance(values, np.ndarray) or pd.api.types.is_numeric_dtype(values):
        numbers = (values if isinstance(values, np.ndarray)
                   else values.to_numpy(dtype="float64", na_value=np.nan)).astype("float64")
        codes, uniques = pd.factorize(numbers)
        return list(_number_texts(uniques)), codes
    if isinstance(values.dtype, pd.StringDtype):
        codes, uniques = pd.factorize(values)
        stripped = pc.utf8_trim_whitespace(pa.array(np.asarray(uniques, dtype=object), type=pa.large_string()))
        return [text or MISSING_CATEGORY for text in stripped.to_pylist()], codes
    text = pd.Series(values).astype("string").str.strip()
    codes, uniques = pd.factorize(text.fillna(MISSING_CATEGORY).replace("", MISSING_CATEGORY).to_numpy(dtype=object))
    return list(uniques), codes


def _number_texts(numbers: np.ndarray) -> np.ndarray:
    """Numbers as category text: integral ones without a decimal part, missing as MISSING_CATEGORY."""
    present = ~np.isnan(numbers)
    integral = present & (np.mod(numbers, 1, where=present, out=np.ones_like(numbers)) == 0)
    text = np.full(len(numbers), MISSING_CATEGORY, dtype=object)
    text[integral] = numbers[integral].astype("int64").astype(str)
    text[present & ~integral] = numbers[present & ~integral].astype(str)
    return text


# What pandas makes of a column of Python strings: Arrow-backed text, unless configured otherwise.
_TEXT_DTYPE = pd.Series(["text"]).dtype


def _take_categories(texts: list[str], codes: np.ndarray) -> Column:
    """texts[codes] (code -1 = MISSING_CATEGORY), typed as pandas types a column of strings.

    Arrow text is built in Arrow: converting Python strings one by one is most of
    the cost of a model frame otherwise.
    """
    choices = [*texts, MISSING_CATEGORY]
    positions = np.where(codes < 0, len(texts), codes)
    arrow_text = isinstance(_TEXT_DTYPE, pd.StringDtype) and _TEXT_DTYPE.storage == "pyarrow"
    if arrow_text and len(codes):  # no rows: pandas keeps an empty column of objects
        taken = pc.take(pa.array(choices, type=pa.large_string()), pa.array(positions))
        return pd.array(taken, dtype=_TEXT_DTYPE)
    return np.array(choices, dtype=object)[positions]


def _as_numeric(values: Column | None, rows: int = 0) -> np.ndarray:
    if values is None:
        return np.full(rows, np.nan)
    if isinstance(values, np.ndarray) and values.dtype == np.float64:
        return values
    if isinstance(values, pd.Series) and values.dtype == np.float64:
        return values.to_numpy()
    values = values if isinstance(values, pd.Series) else pd.Series(values)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


class DomainFeatures(TransformerMixin, BaseEstimator):
    """Raw contract columns -> the model frame (kept raw + engineered columns).

    Stateless: `fit` learns nothing, so the same rows always give the same
    frame. Numeric columns come out float64, categories as text with missing
    values as MISSING_CATEGORY; absent input columns count as missing.
    """

    def __init__(self, numeric: Sequence[str] = (), categorical: Sequence[str] = ()) -> None:
        self.numeric = numeric
        self.categorical = categorical

    def fit(self, frame: pd.DataFrame, y: Any = None) -> DomainFeatures:
        unknown = [n for n in (*self.numeric, *self.categorical) if n not in ENGINEERED and n not in SPECS]
        if unknown:
            raise ValueError(f"{unknown} are neither contract columns nor engineered features "
                             f"(known engineered: {sorted(ENGINEERED)})")
        self.n_features_in_ = frame.shape[1]
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        return build_model_frame(frame, list(self.numeric), list(self.categorical))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray([*self.numeric, *self.categorical], dtype=object)


def build_model_frame(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    """Compute the named columns from raw contract columns (see DomainFeatures)."""
    source = _raw_columns(frame, raw_inputs([*numeric, *categorical]))
    columns: dict[str, Column] = {name: _as_numeric(_computed(name, source)) for name in numeric}
    for name in categorical:
        columns[name] = _as_category(_computed(name, source))
    return pd.DataFrame(columns, index=frame.index)


def _computed(name: str, source: RawColumns) -> Column:
    """An engineered feature computed from the raw inputs, or a raw input as it is."""
    return ENGINEERED[name].compute(source) if name in ENGINEERED else source[name]


def _raw_columns(frame: pd.DataFrame, names: list[str]) -> dict[str, Column]:
    """The raw inputs: numbers as float64 arrays, the loan date as datetime64, categories as given.

    An absent column counts as missing in every row.
    """
    rows = len(frame)
    source: dict[str, Column] = {}
    for name in names:
        values = frame[name] if name in frame else None
        if name == DATE:
            source[name] = _as_datetime(values, rows)
        elif feature_kind(name) == "numeric" or values is None:
            source[name] = _as_numeric(values, rows)
        else:
            source[name] = values
    return source


def split_by_kind(columns: Sequence[str]) -> tuple[list[str], list[str]]:
    numeric = [c for c in columns if feature_kind(c) == "numeric"]
    categorical = [c for c in columns if feature_kind(c) == "category"]
    return numeric, categorical


def candidate_columns(frame: pd.DataFrame, engineered: bool) -> list[str]:
    """Every column the guard screens: all columns but target and date, plus engineered ones."""
    raw = [c for c in frame.columns if c not in (TARGET, DATE)]
    if not engineered:
        return raw
    available = set(frame.columns)
    extra = [name for name, feature in ENGINEERED.items() if set(feature.inputs) <= available]
    return raw + extra


def default_target(frame: pd.DataFrame) -> np.ndarray:
    """y = 1 for a default (Pago_atiempo == 0): the model predicts PD."""
    return (1.0 - frame[TARGET].to_numpy(dtype="float64")).astype(int)


@dataclass(frozen=True)
class FeatureSet:
    """What the train stage reads from featurize: the model columns and their raw inputs."""

    numeric: list[str]
    categorical: list[str]
    raw_inputs: list[str]
    engineered: list[str]
    dropped: dict[str, list[str]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSet:
        return cls(numeric=list(data["numeric"]), categorical=list(data["categorical"]),
                   raw_inputs=list(data["raw_inputs"]), engineered=list(data["engineered"]),
                   dropped={str(k): list(v) for k, v in data["dropped"].items()})


def featurize_frame(frame: pd.DataFrame, features: FeatureSet) -> pd.DataFrame:
    """The feature data written for a split: the raw inputs as prepared (the model
    pipeline scores these), date and target, and the engineered columns for inspection."""
    raw = [c for c in (DATE, *features.raw_inputs, TARGET) if c in frame.columns]
    raw = list(dict.fromkeys(raw))
    engineered = build_model_frame(frame, *split_by_kind(features.engineered))
    return pd.concat([frame[raw], engineered], axis=1)
