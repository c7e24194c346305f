"""What the API serves: a path or a registry stage, verified against dvc.lock, and reported stale when the file or
the stage's assignment changes after load."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from flask.testing import FlaskClient

from app import create_app
from app.config import config_from_env, ApiConfig
from creditrisk.io import file_digest
from creditrisk.modeling.bundle import save_bundle
from creditrisk.releases.record import load_record, Release, ReleaseParams
from creditrisk.releases.registry import promote
from creditrisk.serving import predlog
from creditrisk.serving.model_source import (
    fetch_revision_file,
    load_source,
    resolve_model,
    stage_source,
    ModelSourceError,
)
from tests.api_support import make_bundle, sample_frame
from tests.release_support import git, init_repo, record, GOOD_METRICS
from tests.shipped import shipped

DVC = str(Path(sys.executable).with_name("dvc"))
ALICE = "Alice Reviewer <alice@example.invalid>"
MODEL = "models/model.skops"
PIPELINE = {"stages": {"train": {"cmd": "true", "outs": [MODEL, f"{MODEL}.sha256", "models/model_card.json"]}},
            "artifacts": {"credit-model": {"path": MODEL, "type": "model"}}}


def release_model(repo: Path, version: str, seed: int) -> str:
    """Save a model of `version`, let DVC record and cache it, and commit "Release v<version>"."""
    bundle = make_bundle(seed=seed)
    save_bundle(replace(bundle, metadata={**bundle.metadata, "version": version}), repo / MODEL)
    (repo / "models" / "model_card.json").write_text(json.dumps({"version": version}))
    (repo / "reports").mkdir(exist_ok=True)
    (repo / "reports" / "metrics.json").write_text(json.dumps(GOOD_METRICS))
    subprocess.run([DVC, "commit", "--force", "--quiet", "train"], cwd=repo, check=True, capture_output=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"Release v{version}")
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def built_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DVC repository with releases 1.0.0 and 1.1.0 (their models only in the DVC cache), 1.0.0 in prod."""
    repo = init_repo(tmp_path_factory.mktemp("registry") / "repo")
    subprocess.run([DVC, "init", "--quiet"], cwd=repo, check=True)
    (repo / "dvc.yaml").write_text(yaml.safe_dump(PIPELINE))
    commits = [release_model(repo, "1.0.0", 1), release_model(repo, "1.1.0", 2)]
    record(repo, *(Release(version, commit, f"2026-02-0{day}T00:00:00+00:00", "x")
                   for day, version, commit in zip((1, 2), ("1.0.0", "1.1.0"), commits)))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "releases: record")
    promote(repo, shipped(ReleaseParams), "1.0.0", "prod", "", by=ALICE, now=datetime(2026, 3, 1, tzinfo=timezone.utc))
    (repo / MODEL).unlink()  # the workspace holds no model: a stage is served from DVC alone
    return repo


@pytest.fixture
def registry(built_registry: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(built_registry, tmp_path / "repo", symlinks=True))


def lock_md5(repo: Path, version: str) -> str:
    commit = load_record(repo / "releases.yaml").release(version).commit
    lock = yaml.safe_load(git(repo, "show", f"{commit}:dvc.lock"))
    return next(out["md5"] for out in lock["stages"]["train"]["outs"] if out["path"] == MODEL)


def stage_client(repo: Path, cache: Path) -> FlaskClient:
    config = ApiConfig(model_stage="prod", repo_dir=repo, model_cache=cache, prediction_log=None)
    return create_app(config).test_client()


@pytest.mark.slow  # a DVC repository with two releases (dvc init, dvc commit): ~10 s once
def test_a_stage_resolves_to_its_versions_model_read_through_dvc_and_checked_against_its_lock(
        registry: Path, tmp_path: Path) -> None:
    calls: list[tuple[str, str]] = []

    def counting_fetch(repo: Path, path: str, commit: str) -> bytes:
        calls.append((path, commit))
        return fetch_revision_file(repo, path, commit)

    cache = tmp_path / "cache"
    source = stage_source("prod", registry, cache, counting_fetch)
    commit = load_record(registry / "releases.yaml").release("1.0.0").commit
    assert (source.stage, source.version, source.commit) == ("prod", "1.0.0", commit)
    assert source.md5 == lock_md5(registry, "1.0.0") == file_digest(source.path, "md5")
    assert source.path == cache / f"1.0.0-{commit[:12]}" / MODEL and source.verified.startswith("md5 ")
    assert json.loads(source.card_path.read_text()) == {"version": "1.0.0"}
    assert load_source(source).version == "1.0.0"
    assert [path for path, _ in calls] == [MODEL, "models/model_card.json"]
    stage_source("prod", registry, cache, counting_fetch)
    assert len(calls) == 2, "a verified copy is not fetched again"
    source.path.write_bytes(b"tampered")
    assert stage_source("prod", registry, cache, counting_fetch).md5 == source.md5 and len(calls) == 3
    with pytest.raises(ModelSourceError, match="holds another file"):
        stage_source("prod", registry, tmp_path / "other", lambda *_: b"another model")


@pytest.mark.slow
def test_a_path_or_a_stage_name_resolves_to_a_verified_file(registry: Path, tmp_path: Path) -> None:
    assert resolve_model("prod", registry, tmp_path / "cache").version == "1.0.0"
    saved = tmp_path / "model.skops"
    save_bundle(make_bundle(), saved)
    by_path = resolve_model(str(saved), registry, tmp_path / "cache")
    assert by_path.stage is None and by_path.version is None and by_path.md5 == file_digest(saved, "md5")
    assert by_path.verified.startswith("sha256 "), "no lock entry for it: its sidecar"
    with pytest.raises(ModelSourceError, match="'live' is not a stage of the registry"):
        stage_source("live", registry, tmp_path / "cache")


@pytest.mark.slow
def test_a_model_in_neither_the_dvc_cache_nor_the_remote_leaves_the_api_not_ready_and_saying_why(
        registry: Path, tmp_path: Path) -> None:
    shutil.rmtree(registry / ".dvc" / "cache")
    client = stage_client(registry, tmp_path / "cache")
    ready = client.get("/ready")
    assert ready.status_code == 503
    reason = ready.get_json()["reason"]
    assert "models/model.skops of v1.0.0" in reason and "could not be read through DVC" in reason
    assert "dvc push" in reason


@pytest.mark.slow
def test_the_api_serves_a_stage_and_reports_a_new_assignment_as_stale(registry: Path, tmp_path: Path) -> None:
    client = stage_client(registry, tmp_path / "cache")
    ready = client.get("/ready").get_json()
    assert ready["model_version"] == "1.0.0" and ready["stage"] == "prod" and ready["stale"] is False
    assert ready["md5"] == lock_md5(registry, "1.0.0") and ready["source"].startswith("stage prod: v1.0.0 at ")
    described = client.get("/model").get_json()
    assert described["stage"] == "prod" and described["md5"] == ready["md5"]
    assert described["model_card"] == {"version": "1.0.0"}, "the card of that release, not the workspace's"

    promote(registry, shipped(ReleaseParams), "1.1.0", "prod", "", by=ALICE,
            now=datetime(2026, 3, 2, tzinfo=timezone.utc))
    stale = client.get("/ready")
    assert stale.status_code == 200, "the served model is still valid"
    body = stale.get_json()
    assert body["model_version"] == "1.0.0" and body["md5"] == lock_md5(registry, "1.0.0")
    assert body["stale"] is True and body["current_version"] == "1.1.0"
    assert body["current_md5"] == lock_md5(registry, "1.1.0") and "prod is held by v1.1.0 now" in body["stale_reason"]
    reloaded = stage_client(registry, tmp_path / "cache").get("/ready").get_json()
    assert reloaded["model_version"] == "1.1.0" and reloaded["stale"] is False


@pytest.mark.slow
def test_a_challenger_named_by_stage_is_the_version_that_stage_holds_and_is_logged_beside_the_champion(
        registry: Path, tmp_path: Path) -> None:
    promote(registry, shipped(ReleaseParams), "1.1.0", "staging", "", by=ALICE,
            now=datetime(2026, 3, 2, tzinfo=timezone.utc))
    log = tmp_path / "predictions.sqlite"
    config = ApiConfig(model_stage="prod", challenger="staging", repo_dir=registry, model_cache=tmp_path / "cache",
                       prediction_log=log)
    client = create_app(config).test_client()
    challenger = client.get("/ready").get_json()["challenger"]
    assert challenger["ready"] is True and (challenger["version"], challenger["stage"]) == ("1.1.0", "staging")
    assert challenger["verified"].startswith(f"md5 {lock_md5(registry, '1.1.0')} matches ")
    response = client.post("/predict", json=sample_frame(5, seed=3).to_dict(orient="records"))
    assert response.status_code == 200
    logged = predlog.read_log(log)
    assert logged["model_version"].unique().tolist() == ["1.0.0"]
    assert logged["challenger_version"].unique().tolist() == ["1.1.0"]


def write_lock(directory: Path, model: Path, md5: str) -> None:
    (directory / "dvc.lock").write_text(yaml.safe_dump(
        {"schema": "2.0", "stages": {"train": {"cmd": "x", "outs": [
            {"path": str(model.relative_to(directory)), "hash": "md5", "md5": md5}]}}}))


def test_by_path_a_changed_file_or_lock_is_reported_stale_with_both_hashes(tmp_path: Path) -> None:
    model = tmp_path / "models" / "model.skops"
    save_bundle(make_bundle(), model)
    served_md5 = file_digest(model, "md5")
    write_lock(tmp_path, model, served_md5)
    client = create_app(ApiConfig(model_path=model, dvc_lock=tmp_path / "dvc.lock", prediction_log=None)).test_client()
    ready = client.get("/ready").get_json()
    assert ready["stage"] is None and ready["md5"] == served_md5 and ready["stale"] is False
    assert ready["verified"] == f"md5 {served_md5} matches {tmp_path / 'dvc.lock'}"

    write_lock(tmp_path, model, "0" * 32)  # dvc repro recorded another model; the file is not there yet
    body = client.get("/ready").get_json()
    assert body["stale"] is True and body["current_md5"] == "0" * 32 and "now records md5" in body["stale_reason"]

    save_bundle(make_bundle(seed=2), model)  # and now the file too
    write_lock(tmp_path, model, file_digest(model, "md5"))
    stale = client.get("/ready")
    body = stale.get_json()
    assert stale.status_code == 200 and body["stale"] is True and body["md5"] == served_md5
    assert body["current_md5"] == file_digest(model, "md5") != served_md5 and "changed since it was loaded" in \
        body["stale_reason"]
    assert client.get("/model").get_json()["stale"] is True


def test_the_settings_come_from_the_environment() -> None:
    config = config_from_env({"CREDITRISK_MODEL_STAGE": "prod", "CREDITRISK_REPO_DIR": "/srv/repo",
                              "CREDITRISK_MODEL_CACHE": "/var/cache/models"})
    assert (config.model_stage, config.repo_dir, config.model_cache) == ("prod", Path("/srv/repo"),
                                                                           Path("/var/cache/models"))
    assert config.model_setting == "prod"
    assert config_from_env({}).model_setting == Path("models/model.skops"), "by path unless a stage is set"
    assert config_from_env({"CREDITRISK_MODEL_STAGE": " "}).model_stage is None
