"""Training at scale: the comparison runs on a stratified, time-respecting sample; the final fit on every row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from creditrisk.modeling.features import candidate_columns, default_target, FeaturizeParams
from creditrisk.modeling.leakage import feature_set, guard_config, screen_leakage
from creditrisk.modeling.training import comparison_sample, train_bundle
from creditrisk.params import ParamsError
from creditrisk.data.contract import DATE
from tests.loan_frames import make_loans, split_out_of_time
from tests.shipped import shipped
from tests.test_forward_training import small_params


def months_and_classes(frame: pd.DataFrame, y: np.ndarray) -> pd.Series:
    return pd.Series(y).groupby(pd.to_datetime(frame[DATE]).dt.to_period("M").to_numpy()).agg(["size", "sum"])


def test_the_sample_keeps_every_months_share_and_default_rate() -> None:
    frame = make_loans(6000, seed=8)
    y = default_target(frame)
    sample = comparison_sample(frame, y, 2000, seed=1)
    assert abs(len(sample) - 2000) <= 30 and np.all(np.diff(sample) > 0)
    full, part = months_and_classes(frame, y), months_and_classes(frame.iloc[sample], y[sample])
    assert list(part.index) == list(full.index)
    share = part["size"] / full["size"]
    assert share.between(1 / 3 - 0.02, 1 / 3 + 0.02).all()
    assert (part["sum"] - full["sum"] / 3).abs().max() <= 1
    assert comparison_sample(frame, y, 6000, seed=1) is None and comparison_sample(frame, y, None, seed=1) is None


def test_a_sampled_comparison_fits_the_final_model_on_every_row() -> None:
    train, _ = split_out_of_time(make_loans(3000, seed=31), test_fraction=0.2)
    y = default_target(train)
    report = screen_leakage(train, y, candidate_columns(train, engineered=True),
                            guard_config(shipped(FeaturizeParams, seed=1)))
    result = train_bundle(train, y, feature_set(report), small_params(candidates=["logistic"], comparison_rows=1200))
    meta = result.bundle.metadata
    assert meta["train_rows"] == len(train) and result.report["comparison_sample"]["of"] == len(train)
    assert abs(result.report["comparison_sample"]["rows"] - 1200) <= 30
    assert meta["train_oof_rows"] < 1200 and sum(f["validate_rows"] for f in meta["forward_folds"]) < 1200
    assert len(result.oof_pd) == len(train) and np.isnan(result.oof_pd).sum() > len(train) - 1200
    scaler = result.bundle.pipeline.model.named_steps["preprocess"].named_transformers_["numeric"]["encode"]
    assert scaler.n_samples_seen_ == len(train)
    assert result.bundle.predict_pd(train).shape == (len(train),)


def test_comparison_rows_below_a_useful_size_is_refused() -> None:
    with pytest.raises(ParamsError, match="comparison_rows"):
        small_params(comparison_rows=10)
