"""One candidate's whole scoring recipe: raw contract columns in, P(default) out.

Every candidate is one sklearn Pipeline: DomainFeatures (contract -> model frame) -> ColumnTransformer
(impute, scale, one-hot) -> estimator, fitted on y = 1 - Pago_atiempo (PD = P(Pago_atiempo == 0)); a
candidate that reads the model frame itself (the scorecard) has its own steps after DomainFeatures instead.
With `train.monotone`, the estimator respects the `train.monotonic` directions (`modeling.monotone`).
"""

from __future__ import annotations

from typing import Any

from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    OneHotEncoder,
    QuantileTransformer,
    SplineTransformer,
    StandardScaler,
)

from creditrisk.modeling.candidates import build_estimator, candidate
from creditrisk.modeling.features import DomainFeatures, FeatureSet
from creditrisk.modeling.monotone import MonotoneSpec
from creditrisk.modeling.train_params import TrainParams
from creditrisk.params import ParamsError


def numeric_encoder(scaler: str, knots: int) -> Any:
    """How numbers reach the estimator (after median imputation).

    quantile: rank -> normal scores (robust to heavy tails and absurd values);
    standard: z-scores; spline: B-splines on quantile knots, which lets a
    linear model bend (caps, hinges) like a scorecard with smooth bins.
    """
    if scaler == "quantile":
        return QuantileTransformer(n_quantiles=200, output_distribution="normal", subsample=100_000,
                                   random_state=0)
    if scaler == "standard":
        return StandardScaler()
    if scaler == "spline":
        return Pipeline([
            ("rank", QuantileTransformer(n_quantiles=200, output_distribution="uniform", subsample=100_000,
                                         random_state=0)),
            ("spline", SplineTransformer(n_knots=knots, degree=3, knots="uniform", extrapolation="constant")),
        ])
    raise ParamsError(f"params.yaml: train.scaler {scaler!r} must be quantile, standard or spline")


def build_preprocessor(numeric: list[str], categorical: list[str], scaler: str,
                       knots: int = 5) -> ColumnTransformer:
    """Impute and encode numbers, one-hot categories (unknown ones ignored).

    Fitted inside the pipeline, so on training rows only.
    """
    numeric_steps = Pipeline([("impute", SimpleImputer(strategy="median")),
                              ("encode", numeric_encoder(scaler, knots))])
    categorical_steps = OneHotEncoder(handle_unknown="ignore", min_frequency=5, sparse_output=False)
    transformers = []
    if numeric:
        transformers.append(("numeric", numeric_steps, list(numeric)))
    if categorical:
        transformers.append(("categorical", categorical_steps, list(categorical)))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)


def build_model(name: str, params: TrainParams, features: FeatureSet, monotone: bool | None = None) -> Pipeline:
    """The whole scoring recipe for candidate `name`: raw contract columns in, P(default) out; under the
    `train.monotonic` directions when `monotone` (default: `train.monotone`) and the candidate has a constrained
    form, or when that is its only one (the scorecard's bins are monotone whatever)."""
    entry = candidate(name)
    constrained = entry.constrained(params.monotone if monotone is None else monotone)
    if constrained and params.scaler == "spline" and not entry.reads_model_frame:
        raise ParamsError("params.yaml: train.monotone needs one increasing column per number (train.scaler "
                          "standard or quantile); the spline scaler's basis columns carry no direction")
    spec = MonotoneSpec.of(features.numeric, params.monotonic) if constrained else None
    domain = ("domain", DomainFeatures(numeric=list(features.numeric), categorical=list(features.categorical)))
    estimator = build_estimator(name, params.estimators[name], params.seed, spec)
    if entry.reads_model_frame:
        return Pipeline([domain, *estimator.steps])
    return Pipeline([
        domain,
        ("preprocess", build_preprocessor(features.numeric, features.categorical, params.scaler, params.spline_knots)),
        ("model", estimator),
    ])
