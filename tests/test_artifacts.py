"""Artifact files: atomic writes, hash checks against the sidecar and dvc.lock, trusted loading."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LogisticRegression

from creditrisk.io import atomic_write_json, sidecar_path
from creditrisk.modeling.bundle import (
    dvc_lock_md5,
    load_bundle,
    save_bundle,
    verify_artifact,
    ArtifactError,
    ModelBundle,
    RiskBand,
)


def small_bundle() -> ModelBundle:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"huella_consulta": rng.integers(0, 12, 400).astype(float)})
    target = (rng.random(400) < 0.02 + 0.02 * frame["huella_consulta"]).astype(int)
    model = LogisticRegression().fit(frame, target)
    bands = [RiskBand("A", 0.05), RiskBand("B", 0.15), RiskBand("C", 1.0)]
    return ModelBundle(model, 0.2, bands, ["huella_consulta"], {"version": "9.9.9"})


def test_atomic_write_gives_ordinary_permissions_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.json"
    atomic_write_json(target, {"value": np.float64(1.5), "n": np.int64(3)})
    assert target.read_text().count('"value": 1.5') == 1
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]


def test_bundle_round_trip_scores_bands_and_decides(tmp_path: Path) -> None:
    bundle = small_bundle()
    path = tmp_path / "model.skops"
    digest = save_bundle(bundle, path)
    assert sidecar_path(path).read_text().strip() == digest
    loaded = load_bundle(path)
    frame = pd.DataFrame({"huella_consulta": [0.0, 5.0, 11.0], "ignored": [1, 2, 3]})
    assert np.allclose(loaded.predict_pd(frame), bundle.predict_pd(frame))
    assert loaded.version == "9.9.9"
    assert list(loaded.band_of(np.array([0.01, 0.05, 0.06, 0.5]))) == ["A", "A", "B", "C"]
    assert list(loaded.decide(np.array([0.1, 0.2, 0.3]))) == ["approve", "reject", "reject"]


def test_tampered_file_is_refused_with_both_hashes_named(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    save_bundle(small_bundle(), path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="was changed after it was saved"):
        load_bundle(path)


def test_missing_file_and_missing_hash_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="does not exist"):
        verify_artifact(tmp_path / "absent.skops")
    path = tmp_path / "model.skops"
    save_bundle(small_bundle(), path)
    sidecar_path(path).unlink()
    with pytest.raises(ArtifactError, match="no recorded hash"):
        load_bundle(path)


def test_dvc_lock_md5_is_checked_before_the_sidecar(tmp_path: Path) -> None:
    models = tmp_path / "models"
    path = models / "model.skops"
    save_bundle(small_bundle(), path)
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    lock = tmp_path / "dvc.lock"
    lock.write_text(yaml.safe_dump({"stages": {"train": {"outs": [{"path": "models/model.skops", "md5": md5}]}}}))
    assert dvc_lock_md5(path, lock) == md5
    assert "matches" in verify_artifact(path, lock)
    lock.write_text(yaml.safe_dump({"stages": {"train": {"outs": [{"path": "models/model.skops", "md5": "0" * 32}]}}}))
    with pytest.raises(ArtifactError, match="records 0000"):
        load_bundle(path, lock)


def test_types_outside_the_allowed_modules_are_refused(tmp_path: Path) -> None:
    bundle = small_bundle()
    bundle.pipeline = pd.Timestamp("2026-01-01")
    path = tmp_path / "model.skops"
    save_bundle(bundle, path)
    with pytest.raises(ArtifactError, match="outside the allowed modules"):
        load_bundle(path)


def test_the_same_model_fitted_twice_saves_to_identical_bytes(tmp_path: Path) -> None:
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"huella_consulta": rng.integers(0, 12, 300).astype(float),
                          "edad_cliente": rng.integers(19, 70, 300).astype(float)})
    target = (rng.random(300) < 0.1).astype(int)
    paths = []
    for attempt in range(2):
        forest = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(frame, target)
        bundle = ModelBundle(forest, 0.2, [RiskBand("A", 1.0)], list(frame.columns), {"version": "1"})
        paths.append(tmp_path / f"model{attempt}.skops")
        save_bundle(bundle, paths[-1])
    assert paths[0].read_bytes() == paths[1].read_bytes()
    reloaded = load_bundle(paths[0])
    assert np.array_equal(reloaded.predict_pd(frame), forest.predict_proba(frame)[:, 1])
