"""Shared ground for files: atomic writes, strict JSON, hashing, and the one rule for numbers in reports.

Every artifact goes through `atomic_target`: written beside its destination, then renamed into place, so a
crash leaves the previous file or none, never half of one.

Reports keep `REPORT_SIGNIFICANT_DIGITS` significant digits of every float (`atomic_write_json`,
`atomic_write_csv`). Two machines agree on a statistic to about 1e-13 relative (their CPUs pick different
BLAS kernels and SIMD paths, which round differently; see `stages/__init__.py`), so the last digits of a
full float are noise; at 6 digits they are the same bytes everywhere, and 6 digits are more than any reader of
a metric needs. A float with no fraction (a count or an amount) is kept whole.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPORT_SIGNIFICANT_DIGITS = 6
"""Significant digits of every float a report keeps (see the module docstring)."""


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _default_file_mode() -> int:
    """The mode an ordinary `open(..., "w")` would give (mkstemp makes files 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_target(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it into place.

    A crash or error leaves the old file (if any) untouched and no temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, _default_file_mode())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: never a half-written file."""
    with atomic_target(path) as temporary, open(temporary, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, payload: Any) -> None:
    """Write strict JSON: numpy values as Python ones, NaN and infinities as null, floats to
    `REPORT_SIGNIFICANT_DIGITS` significant digits."""
    text = json.dumps(finite_json(payload, REPORT_SIGNIFICANT_DIGITS), indent=2, sort_keys=False,
                      default=json_default, allow_nan=False)
    atomic_write_text(path, text + "\n")


def atomic_write_csv(path: Path, frame: pd.DataFrame) -> None:
    """Write a report table as CSV without the index, its floats to `REPORT_SIGNIFICANT_DIGITS` digits."""
    rounded = frame.copy()
    for column in rounded.columns[[pd.api.types.is_float_dtype(dtype) for dtype in rounded.dtypes]]:
        rounded[column] = [significant(value, REPORT_SIGNIFICANT_DIGITS) for value in rounded[column]]
    atomic_write_text(path, rounded.to_csv(index=False, lineterminator="\n"))


def atomic_write_metrics(path: Path, report: Mapping[str, Any]) -> None:
    """Write the numbers of `report` as a DVC metrics file (see `metric_values`)."""
    atomic_write_json(path, metric_values(report))


def metric_values(report: Mapping[str, Any]) -> dict[str, Any]:
    """The numbers and booleans of a report, nested as in it: what `dvc metrics diff` compares.

    Text, lists and nulls are left out (they stay in the report beside the metrics file): one long text value
    makes every row of `dvc metrics diff` as wide as itself. A section left with nothing is left out too.
    """
    values: dict[str, Any] = {}
    for key, value in report.items():
        if isinstance(value, Mapping):
            nested = metric_values(value)
            if nested:
                values[key] = nested
        elif isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)) and not (
                isinstance(value, (float, np.floating)) and not math.isfinite(value)):
            values[key] = value
    return values


def significant(value: float, digits: int) -> float:
    """`value` to `digits` significant digits; a whole or non-finite float as it is."""
    if not math.isfinite(value) or value.is_integer():
        return value
    return float(f"{value:.{digits}g}")


def finite_json(value: Any, digits: int | None = None) -> Any:
    """`value` with numpy scalars and arrays turned into Python ones and non-finite floats into None; with
    `digits`, every float to that many significant digits."""
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return None
        return float(value) if digits is None else significant(float(value), digits)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {key: finite_json(item, digits) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(item, digits) for item in value]
    if isinstance(value, np.ndarray):
        return finite_json(value.tolist(), digits)
    return value


def json_default(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def atomic_write_parquet(path: Path, frame: pd.DataFrame) -> None:
    with atomic_target(path) as temporary:
        frame.to_parquet(temporary, index=False)
