"""DVC stage `featurize`: leakage guard on the train split, then the feature data for train/evaluate."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from creditrisk.io import atomic_write_json, atomic_write_parquet
from creditrisk.modeling.features import candidate_columns, default_target, featurize_frame, FeaturizeParams
from creditrisk.modeling.leakage import feature_set, guard_config, screen_leakage
from creditrisk.params import ParamsError, load_params, section
from creditrisk.data.contract import TARGET


def read_split(path: Path) -> pd.DataFrame:
    if not path.exists():
        sys.exit(f"featurize: {path} does not exist (run the prepare stage first)")
    frame = pd.read_parquet(path)
    if TARGET not in frame.columns:
        sys.exit(f"featurize: {path} has no target column {TARGET!r}")
    return frame


def prepared_path(params: dict[str, Any], key: str) -> str:
    """Where the prepare stage wrote a split: params.yaml's `prepare.<key>`, which has no default here."""
    path = (params.get("prepare") or {}).get(key)
    if not isinstance(path, str):
        raise ParamsError(f"params.yaml: prepare.{key} = {path!r} must be the path the prepare stage writes")
    return path


def main() -> None:
    params = load_params()
    config = section(params, "featurize", FeaturizeParams)
    train = read_split(Path(prepared_path(params, "train_path")))
    test = read_split(Path(prepared_path(params, "test_path")))
    report = screen_leakage(train, default_target(train),
                            candidate_columns(train, config.engineered_features), guard_config(config))
    features = feature_set(report)
    atomic_write_json(Path(config.leakage_report), report.to_dict())
    atomic_write_json(Path(config.columns_path), features.to_dict())
    atomic_write_parquet(Path(config.train_path), featurize_frame(train, features))
    atomic_write_parquet(Path(config.test_path), featurize_frame(test, features))
    print(f"featurize: {len(report.columns)} candidate columns screened on {len(train)} train rows; "
          f"dropped {json.dumps(features.dropped, ensure_ascii=False)}")
    print(f"featurize: model reads {len(features.raw_inputs)} raw columns, "
          f"{len(features.engineered)} engineered features")


if __name__ == "__main__":
    try:
        main()
    except ParamsError as error:
        sys.exit(f"featurize: {error}")
