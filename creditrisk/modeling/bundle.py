"""Model artifacts: one skops file holding the pipeline, threshold, bands and metadata.

The file is never unpickled: skops reconstructs only types we allow, and the
bytes are checked against a recorded hash (a sidecar written at save time, or
the md5 that `dvc.lock` recorded for the output) before anything is loaded.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from creditrisk.io import json_default, atomic_write_bytes, atomic_write_text, file_digest, finite_json, sidecar_path
from creditrisk.modeling.candidates import trusted_modules
from creditrisk.modeling.scorecard import PointsScale

# Where the types of the pipeline around the estimator come from, beyond those skops trusts by default: the
# domain step, numpy dtypes, scipy splines (spline scaler), calibration pairs and their CV folds. Each
# candidate's estimator adds its own (`Candidate.trusted_modules`).
PIPELINE_MODULES = ("builtins.", "collections.", "numpy.", "scipy.", "creditrisk.", "sklearn.calibration.",
                    "sklearn.model_selection.")
APPROVE = "approve"
REJECT = "reject"


class ArtifactError(RuntimeError):
    """The artifact is missing, tampered with, or holds types we do not trust."""


@dataclass(frozen=True)
class RiskBand:
    """Band `name` holds PDs in (previous band's upper_pd, upper_pd]."""

    name: str
    upper_pd: float


@dataclass
class ModelBundle:
    """Everything needed to score a frame of contract columns.

    `pipeline.predict_proba(frame)[:, 1]` is the probability of default,
    P(Pago_atiempo = 0). A PD at or above `threshold` is a reject.
    """

    pipeline: Any
    threshold: float
    bands: list[RiskBand]
    features: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "unversioned"))

    def predict_pd(self, frame: pd.DataFrame) -> np.ndarray:
        columns = frame.reindex(columns=self.features)
        return np.clip(self.pipeline.predict_proba(columns)[:, 1], 0.0, 1.0)

    def band_of(self, pd_values: np.ndarray) -> np.ndarray:
        uppers = np.array([band.upper_pd for band in self.bands], dtype=float)
        names = np.array([band.name for band in self.bands], dtype=object)
        index = np.searchsorted(uppers, np.asarray(pd_values, dtype=float), side="left")
        return names[np.minimum(index, len(names) - 1)]

    def decide(self, pd_values: np.ndarray) -> np.ndarray:
        """APPROVE or REJECT per PD, as an object array of the two labels (like `band_of`): a batch turns it
        into Arrow text three times faster than numpy's fixed-width text."""
        rejected = np.asarray(pd_values) >= self.threshold
        return np.array([APPROVE, REJECT], dtype=object)[rejected.astype(np.intp)]

    @property
    def points_scale(self) -> PointsScale | None:
        """The scorecard scale the train stage recorded (None for a bundle trained before points existed)."""
        description = self.metadata.get("scorecard")
        return None if not description else PointsScale.from_description(description)

    def points(self, pd_values: np.ndarray) -> np.ndarray | None:
        scale = self.points_scale
        return None if scale is None else np.round(scale.points(pd_values), 1)

    def band_ranges(self) -> list[dict[str, Any]]:
        """Each band's PD range and, with a points scale, its points range (the lowest points at the band's
        upper PD; the first band open above, the last open below)."""
        uppers = [band.upper_pd for band in self.bands]
        scale = self.points_scale
        points = scale.band_points(uppers[:-1] + [1.0]) if scale is not None else [(None, None)] * len(uppers)
        lowers = [0.0, *uppers[:-1]]
        return [{"pd_above": lower, "pd_up_to": None if band is self.bands[-1] else band.upper_pd,
                 "points_from": None if low is None else round(low, 1),
                 "points_to": None if high is None else round(high, 1)}
                for band, lower, (low, high) in zip(self.bands, lowers, points, strict=True)]


_OBJECT_NUMBER = re.compile(rb'("__id__": |"file": ")(\d+)')
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _without_padding_garbage(npy: bytes) -> bytes:
    """Re-save a structured array with zeroed padding; other arrays are returned as they are."""
    array = np.load(io.BytesIO(npy), allow_pickle=False)
    fields = array.dtype.fields
    if not fields or array.dtype.itemsize == sum(dtype.itemsize for dtype, *_ in fields.values()):
        return npy
    clean = np.zeros(array.shape, dtype=array.dtype)
    for name in array.dtype.names or ():
        clean[name] = array[name]
    output = io.BytesIO()
    np.save(output, clean, allow_pickle=False)
    return output.getvalue()


def canonical_skops_bytes(data: bytes) -> bytes:
    """The same skops file, byte-identical for the same model.

    skops names arrays and shared objects by `id(obj)` and stamps zip entries
    with the current time, so two identical fits give different bytes (and a
    new hash in dvc.lock on every rebuild). Numbering objects in order of first
    appearance in the schema, fixing the timestamps and zeroing the padding
    bytes of structured arrays (a tree's node records hold uninitialised
    memory there) makes the bytes a function of the model alone.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        schema = source.read("schema.json")
        numbers: dict[bytes, bytes] = {}
        for match in _OBJECT_NUMBER.finditer(schema):
            numbers.setdefault(match.group(2), str(len(numbers) + 1).encode())

        def renumber(match: re.Match[bytes]) -> bytes:
            return match.group(1) + numbers[match.group(2)]

        entries = {"schema.json": _OBJECT_NUMBER.sub(renumber, schema)}
        for info in source.infolist():
            if info.filename == "schema.json":
                continue
            stem, _, suffix = info.filename.partition(".")
            content = source.read(info)
            if suffix == "npy":
                content = _without_padding_garbage(content)
            entries[f"{numbers.get(stem.encode(), stem.encode()).decode()}.{suffix}"] = content
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as target:
        for name in sorted(entries):
            target.writestr(zipfile.ZipInfo(name, date_time=_FIXED_ZIP_TIME), entries[name])
    return output.getvalue()


def save_bundle(bundle: ModelBundle, path: Path) -> str:
    """Save atomically with skops and write a sha256 sidecar; returns the digest."""
    import skops.io as sio

    payload = {
        "pipeline": bundle.pipeline,
        "threshold": float(bundle.threshold),
        "bands": [[band.name, float(band.upper_pd)] for band in bundle.bands],
        "features": list(bundle.features),
        "metadata_json": json.dumps(finite_json(bundle.metadata), default=json_default),
    }
    data = canonical_skops_bytes(sio.dumps(payload))
    atomic_write_bytes(Path(path), data)
    digest = hashlib.sha256(data).hexdigest()
    atomic_write_text(sidecar_path(Path(path)), digest + "\n")
    return digest


def dvc_lock_md5(path: Path, lock_path: Path) -> str | None:
    """The md5 that `dvc.lock` recorded for output `path`, if any."""
    lock_path = Path(lock_path)
    if not lock_path.exists():
        return None
    lock = yaml.safe_load(lock_path.read_text()) or {}
    root = lock_path.parent.resolve()
    try:
        relative = Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        return None
    for stage in (lock.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            if out.get("path") == relative and "md5" in out:
                return str(out["md5"])
    return None


def verify_artifact(path: Path, lock_path: Path | None = None) -> str:
    """Check the file against dvc.lock's md5 or else its sha256 sidecar.

    Returns a description of what was verified; raises ArtifactError otherwise.
    """
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"model file {path} does not exist (run `dvc repro` or `dvc pull`)")
    if lock_path is not None:
        expected_md5 = dvc_lock_md5(path, lock_path)
        if expected_md5 is not None:
            actual = file_digest(path, "md5")
            if actual != expected_md5:
                raise ArtifactError(
                    f"model file {path} has md5 {actual} but {lock_path} records {expected_md5}: "
                    "the file was changed after the pipeline wrote it"
                )
            return f"md5 {actual} matches {lock_path}"
    sidecar = sidecar_path(path)
    if not sidecar.exists():
        raise ArtifactError(f"model file {path} has no recorded hash ({sidecar} is missing)")
    expected = sidecar.read_text().strip()
    actual = file_digest(path, "sha256")
    if actual != expected:
        raise ArtifactError(
            f"model file {path} has sha256 {actual} but {sidecar} records {expected}: "
            "the file was changed after it was saved"
        )
    return f"sha256 {actual} matches {sidecar.name}"


def trusted_module_prefixes() -> tuple[str, ...]:
    """The module prefixes a model file's types may come from: the pipeline's and every candidate's."""
    return PIPELINE_MODULES + trusted_modules()


def load_bundle(path: Path, lock_path: Path | None = None) -> ModelBundle:
    """Verify the hash, then load with skops allowing only trusted module prefixes."""
    import skops.io as sio

    verify_artifact(path, lock_path)
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as error:  # skops raises many types on corrupt input
        raise ArtifactError(f"model file {path} is not a readable skops file: {error}") from error
    refused = [name for name in untrusted if not name.startswith(trusted_module_prefixes())]
    if refused:
        raise ArtifactError(f"model file {path} holds types outside the allowed modules: {refused}")
    try:
        payload = sio.load(path, trusted=untrusted)
    except Exception as error:
        raise ArtifactError(f"model file {path} could not be loaded: {error}") from error
    return ModelBundle(
        pipeline=payload["pipeline"],
        threshold=float(payload["threshold"]),
        bands=[RiskBand(str(name), float(upper)) for name, upper in payload["bands"]],
        features=[str(name) for name in payload["features"]],
        metadata=json.loads(payload["metadata_json"]),
    )
