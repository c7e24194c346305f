"""Which model file serves: a path, or the version a registry stage holds; verified, and watched for change.

`resolve_model("models/model.skops")` or `resolve_model("prod")` gives a verified local model file with its md5,
version and stage (a setting that names a stage of `.gto` is a stage; anything else is a path):

- **By path** (the default, `CREDITRISK_MODEL_PATH`): the file, checked against the md5 that `dvc.lock` records
  for it (or else its `.sha256` sidecar).
- **By stage** (`CREDITRISK_MODEL_STAGE=prod`): the record (`releases.yaml`) names the version that holds the
  stage and its release commit. That commit's `dvc.lock` comes from git; the model file it records is read
  through DVC at that commit (`dvc.api.read`: the local DVC cache, else the default remote) only when the local
  copy is missing or differs, and its md5 must equal the lock's. The copy is laid out as a checkout of the
  revision, `<cache>/<version>-<commit>/dvc.lock` beside `<cache>/<version>-<commit>/models/model.skops` (and the
  model card, when the lock records it), so the bundle loader verifies it against that lock exactly as it
  verifies the workspace's file against the workspace's lock. git and the DVC cache (or remote) must be there:
  a container without them serves by path.

`FreshnessProbe` says whether what serves is still what would load now: by path, the file's md5 and the md5
`dvc.lock` records for it; by stage, the version the record names for the stage (and its md5 at that commit).
It re-reads a file only when its size or modification time moved, so asking on every `/ready` costs a few
`stat` calls.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from creditrisk.io import atomic_write_bytes, atomic_write_text, file_digest
from creditrisk.modeling.bundle import dvc_lock_md5, load_bundle, verify_artifact, ArtifactError, ModelBundle
from creditrisk.params import configured, ParamsError
from creditrisk.releases.record import load_record, Record, ReleaseError, ReleaseParams
from creditrisk.releases.registry import allowed_stages, model_artifact_path, stage_history
from creditrisk.releases.tags import git

logger = logging.getLogger(__name__)
CARD_NAME = "model_card.json"


class ModelSourceError(ArtifactError):
    """The model a setting names cannot be found, fetched or verified; the message says which and what to do."""


@dataclass(frozen=True)
class ModelSource:
    """A verified local model file: `path` is loaded, `lock` records its `md5`. `stage` and `version` are the
    registry's when served by stage (`version` is None by path: the bundle carries it); `origin` says it in
    words."""

    path: Path
    lock: Path
    md5: str
    verified: str
    stage: str | None = None
    version: str | None = None
    commit: str | None = None
    origin: str = ""

    @property
    def card_path(self) -> Path:
        return self.path.with_name(CARD_NAME)


def is_stage(setting: str, repo: Path) -> bool:
    """A setting names a stage when `.gto` lists it (a repository without `.gto` has no stages)."""
    try:
        return setting in allowed_stages(repo)
    except ReleaseError:
        return False


def resolve_model(setting: str | Path, repo: Path = Path("."), cache: Path = Path("models/registry"),
                  lock: Path | None = None) -> ModelSource:
    """The verified local model file a setting names: a stage of `.gto` (fetched as the module docstring says
    into `cache`), else a path (checked against `lock`, default `<repo>/dvc.lock`). Raises `ModelSourceError`
    (an `ArtifactError`) naming what is missing."""
    if isinstance(setting, str) and is_stage(setting, repo):
        return stage_source(setting, repo, cache)
    return path_source(Path(setting), lock if lock is not None else repo / "dvc.lock")


def path_source(path: Path, lock: Path) -> ModelSource:
    verified = verify_artifact(path, lock)
    return ModelSource(path=path, lock=lock, md5=file_digest(path, "md5"), verified=verified, origin=f"path {path}")


def load_source(source: ModelSource) -> ModelBundle:
    """Load the bundle (verified again against the lock as it is read); by stage, its version must be the one the
    record assigned, or the release commit holds a model of another version."""
    bundle = load_bundle(source.path, source.lock)
    if source.version is not None and bundle.version != source.version:
        raise ModelSourceError(f"{source.origin}: the model file carries version {bundle.version!r}, not "
                               f"{source.version!r}: the release commit holds a model of another version")
    return bundle


def _record(repo: Path) -> tuple[Record, str]:
    try:
        params = configured(ReleaseParams, repo / "params.yaml")
        return load_record(repo / params.record), params.record
    except (ReleaseError, ParamsError) as error:
        raise ModelSourceError(f"the registry cannot be read: {error}") from None


def locked_md5(lock_text: str, path: str) -> str | None:
    """The md5 a dvc.lock's text records for the output `path`."""
    lock = yaml.safe_load(lock_text) or {}
    for stage in (lock.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            if out.get("path") == path and "md5" in out:
                return str(out["md5"])
    return None


@dataclass(frozen=True)
class StageTarget:
    """The version a stage holds and what its release commit records for the model."""

    stage: str
    version: str
    commit: str
    lock_text: str
    model_path: str
    md5: str


def stage_target(stage: str, repo: Path) -> StageTarget:
    record, record_name = _record(repo)
    version = stage_history(record, stage).holder
    if version is None:
        raise ModelSourceError(f"no version holds {stage} in {record_name}: "
                               f"make promote VERSION=x.y.z STAGE={stage}")
    commit = record.release(version).commit
    shown = git(repo, "show", f"{commit}:dvc.lock", check=False)
    if shown.returncode != 0:
        raise ModelSourceError(f"v{version} ({commit[:12]}, holding {stage}): its dvc.lock cannot be read from git "
                               f"({shown.stderr.strip()}); the API needs the repository's history to serve by stage")
    try:
        model_path = model_artifact_path(repo)
    except ReleaseError as error:
        raise ModelSourceError(str(error)) from None
    md5 = locked_md5(shown.stdout, model_path)
    if md5 is None:
        raise ModelSourceError(f"v{version} ({commit[:12]}): its dvc.lock records no md5 for {model_path}")
    return StageTarget(stage, version, commit, shown.stdout, model_path, md5)


def fetch_revision_file(repo: Path, path: str, commit: str) -> bytes:
    """A DVC-tracked file as it was at `commit`: from the local DVC cache, else the default remote."""
    import dvc.api  # here: only serving by stage needs DVC, and only when the local copy is missing

    return dvc.api.read(path, repo=str(repo), rev=commit, mode="rb")


def _fetch_verified(target: StageTarget, repo: Path, relative: str, expected: str, destination: Path,
                    fetch: Callable[[Path, str, str], bytes]) -> None:
    if destination.is_file() and file_digest(destination, "md5") == expected:
        return
    try:
        data = fetch(repo, relative, target.commit)
    except Exception as error:  # DVC raises many types for a file in neither the cache nor the remote
        raise ModelSourceError(
            f"{relative} of v{target.version} (md5 {expected}, commit {target.commit[:12]}, holding {target.stage}) "
            f"could not be read through DVC ({type(error).__name__}: {error}): push it from a machine that has it "
            f"(dvc push), or rebuild it (git checkout v{target.version} && dvc repro train)") from None
    actual = hashlib.md5(data).hexdigest()
    if actual != expected:
        raise ModelSourceError(f"{relative} of v{target.version} read through DVC has md5 {actual}, but its "
                               f"dvc.lock records {expected}: the DVC cache or remote holds another file")
    atomic_write_bytes(destination, data)


def stage_source(stage: str, repo: Path, cache: Path,
                 fetch: Callable[[Path, str, str], bytes] = fetch_revision_file) -> ModelSource:
    """The verified local copy of the model the stage's version holds (see the module docstring)."""
    try:
        stages = allowed_stages(repo)
    except ReleaseError as error:
        raise ModelSourceError(str(error)) from None
    if stage not in stages:
        raise ModelSourceError(f"{stage!r} is not a stage of the registry ({stages}, in .gto)")
    target = stage_target(stage, repo)
    checkout = cache / f"{target.version}-{target.commit[:12]}"
    lock = checkout / "dvc.lock"
    if not lock.is_file() or lock.read_text() != target.lock_text:
        atomic_write_text(lock, target.lock_text)
    model = checkout / target.model_path
    _fetch_verified(target, repo, target.model_path, target.md5, model, fetch)
    card = str(Path(target.model_path).with_name(CARD_NAME))
    card_md5 = locked_md5(target.lock_text, card)
    if card_md5 is not None:
        try:
            _fetch_verified(target, repo, card, card_md5, checkout / card, fetch)
        except ModelSourceError as error:  # the card describes the model; serving does not need it
            logger.warning("model card not available: %s", error)
    return ModelSource(path=model, lock=lock, md5=target.md5, verified=verify_artifact(model, lock), stage=stage,
                       version=target.version, commit=target.commit,
                       origin=f"stage {stage}: v{target.version} at {target.commit[:12]}")


# ---------------------------------------------------------------- is it still what would load?


@dataclass(frozen=True)
class Freshness:
    """Whether the served model is stale, and if so what would load now and why."""

    stale: bool
    current_md5: str | None = None
    current_version: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"stale": self.stale, "current_md5": self.current_md5, "current_version": self.current_version,
                "stale_reason": self.reason}


class _StatCache:
    """A value computed from a file, recomputed only when the file's size or modification time moves."""

    def __init__(self, compute: Callable[[Path], Any]) -> None:
        self.compute = compute
        self.seen: dict[Path, tuple[tuple[int, int], Any]] = {}

    def __call__(self, path: Path) -> Any:
        try:
            status = os.stat(path)
        except FileNotFoundError:
            self.seen.pop(path, None)
            return None
        key = (status.st_size, status.st_mtime_ns)
        if path not in self.seen or self.seen[path][0] != key:
            self.seen[path] = (key, self.compute(path))
        return self.seen[path][1]


class FreshnessProbe:
    """Compares what serves (`source`) with what `resolve_model` would load now, cheaply (see the module
    docstring). Errors reading the present state are reported as stale with the reason, never raised."""

    def __init__(self, source: ModelSource, repo: Path = Path(".")) -> None:
        self.source, self.repo = source, repo
        self._digest = _StatCache(lambda path: file_digest(path, "md5"))
        self._locked = _StatCache(lambda lock: dvc_lock_md5(source.path, lock))
        self._holder = _StatCache(lambda record: stage_history(load_record(record), source.stage or "").holder)
        self._targets: dict[str, StageTarget] = {}

    def check(self) -> Freshness:
        try:
            return self._by_stage() if self.source.stage is not None else self._by_path()
        except (ArtifactError, ReleaseError, ParamsError, OSError, ValueError) as error:
            return Freshness(True, reason=f"what would load now cannot be read: {error}")

    def _file_changed(self) -> Freshness | None:
        now = self._digest(self.source.path)
        if now == self.source.md5:
            return None
        return Freshness(True, current_md5=now, reason=(f"{self.source.path} was removed since it was loaded"
                                                       if now is None else f"{self.source.path} changed since it "
                                                       f"was loaded (md5 {now})"))

    def _by_path(self) -> Freshness:
        changed = self._file_changed()
        if changed is not None:
            return changed
        recorded = self._locked(self.source.lock)
        if recorded is not None and recorded != self.source.md5:
            return Freshness(True, current_md5=recorded,
                             reason=f"{self.source.lock} now records md5 {recorded} for {self.source.path}")
        return Freshness(False)

    def _by_stage(self) -> Freshness:
        params = configured(ReleaseParams, self.repo / "params.yaml")
        holder = self._holder(self.repo / params.record)
        stage = self.source.stage
        if holder is None:
            return Freshness(True, reason=f"no version holds {stage} in {params.record} now")
        if holder != self.source.version:
            if holder not in self._targets:
                self._targets[holder] = stage_target(stage or "", self.repo)
            target = self._targets[holder]
            return Freshness(True, current_md5=target.md5, current_version=holder,
                             reason=f"{stage} is held by v{holder} now ({params.record})")
        return self._file_changed() or Freshness(False)
