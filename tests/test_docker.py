"""The images, checked without a Docker engine.

Static checks read the Dockerfiles with a Dockerfile parser (base, layers, user,
health check, command). The slow checks run each image's own command on the host,
with the image's environment pointing at a workspace that the pipeline image's
command filled, and probe the URLs the HEALTHCHECKs use.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
import requests

from tests.container_spec import (
    REPO_ROOT,
    VENV_BIN,
    ContextFilter,
    PipelineRun,
    build_image_tree,
    container_environment,
    dvc_paths,
    host_env,
    run_image_command,
    running,
    shared_pipeline_run,
    wait_until_healthy,
    wait_until_up,
)
from tooling.container_check.dockerfile import image_config, service_image, stage_chain
from tooling.container_check.spec import WORKSPACE_MOUNT, compose_document
from tooling.ports import free_port

DOCKERFILE_API = REPO_ROOT / "Dockerfile.api"
DOCKERFILE_DASHBOARD = REPO_ROOT / "Dockerfile.dashboard"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
IMAGES = {  # image -> (Dockerfile, target)
    "api": (DOCKERFILE_API, None),
    "pipeline": (DOCKERFILE_API, "pipeline"),
    "dashboard": (DOCKERFILE_DASHBOARD, None),
}
PINNED_BASE = re.compile(r"^python:3\.11\.\d+-slim-(bookworm|trixie)(@sha256:[0-9a-f]{64})?$")
BUILD_TOOLS = ("build-essential", "gcc", "g++", "make", "cmake", "cargo", "rustc")


def config_of(image: str):
    dockerfile, target = IMAGES[image]
    return image_config(dockerfile, target)


@pytest.mark.parametrize("dockerfile", [DOCKERFILE_API, DOCKERFILE_DASHBOARD], ids=lambda path: path.name)
def test_every_external_base_image_is_a_pinned_python_311_slim(dockerfile: Path) -> None:
    stages = image_config(dockerfile).stages
    names = {stage.name for stage in stages}
    external = [stage.base for stage in stages if stage.base not in names]
    assert external, f"{dockerfile.name} has no base image"
    for base in external:
        assert PINNED_BASE.match(base), f"{dockerfile.name}: base {base!r} is not python:3.11.<patch>-slim-<debian>"


def test_both_images_share_the_base_and_the_dependency_layers() -> None:
    """Same base, same builder and runtime stages: the second build reuses the first one's layers."""
    api = {stage.name: stage for stage in image_config(DOCKERFILE_API).stages}
    dashboard = {stage.name: stage for stage in image_config(DOCKERFILE_DASHBOARD).stages}
    for shared in ("builder", "runtime"):
        assert api[shared] == dashboard[shared], f"stage {shared!r} differs between the two Dockerfiles"


@pytest.mark.parametrize("dockerfile", [DOCKERFILE_API, DOCKERFILE_DASHBOARD], ids=lambda path: path.name)
def test_locked_dependencies_are_installed_in_their_own_layer_before_the_source(dockerfile: Path) -> None:
    builder = {stage.name: stage for stage in image_config(dockerfile).stages}["builder"]
    steps = [(instruction.keyword, instruction.value) for instruction in builder.instructions]
    lock_copy = next(index for index, (keyword, value) in enumerate(steps)
                     if keyword == "COPY" and value.split()[0] == "requirements.lock")
    install = next(index for index, (keyword, value) in enumerate(steps)
                   if keyword == "RUN" and "pip install" in value and "requirements.lock" in value)
    first_source = next(index for index, (keyword, value) in enumerate(steps)
                        if keyword == "COPY" and value.split()[0] != "requirements.lock")
    assert lock_copy < install < first_source
    assert steps[lock_copy + 1] == steps[install], "the lock's install must directly follow its COPY"


@pytest.mark.parametrize("image", list(IMAGES))
def test_final_image_has_no_build_tools_and_no_pip_install_from_the_index(image: str) -> None:
    dockerfile, target = IMAGES[image]
    config = config_of(image)
    chain = stage_chain(config.stages, target)
    runs = [instruction.value for stage in chain for instruction in stage.instructions if instruction.keyword == "RUN"]
    for command in runs:
        words = set(shlex.split(command.replace("&&", " ")))
        assert not words & set(BUILD_TOOLS), f"{image}: build tools installed in the final image: {command}"
        if "pip" in words and "install" in words:
            assert "--no-deps" in words, f"{image}: only local wheels may be pip-installed in the final image: {command}"
    venv_copy = [copy for copy in config.copies if copy.from_stage == "builder" and "/opt/venv" in copy.sources]
    assert venv_copy, f"{image}: the virtual environment must come from the builder stage"


def _builder_sources(destination: Path) -> tuple[Path, list[str]]:
    """What the builder stage COPYs for its `pip wheel` step, under `destination` as in the
    image: (the directory the wheel is built from, the context files copied)."""
    config = image_config(DOCKERFILE_API, "builder")
    wheel_step = next(command for _, command in config.runs if "pip wheel" in command)
    source_dir = shlex.split(wheel_step)[-1]
    files = ContextFilter(DOCKERIGNORE).files(REPO_ROOT)
    copied = []
    for copy in config.copies:
        if copy.from_stage is not None or not copy.destination.startswith(source_dir + "/"):
            continue
        (source,) = copy.sources
        for name in files:
            if name == source or name.startswith(source + "/"):
                target = destination / copy.destination.lstrip("/") / name[len(source):].lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO_ROOT / name, target)
                copied.append(name)
    return destination / source_dir.lstrip("/"), copied


def test_the_wheel_the_builder_stage_builds_holds_every_module_of_the_package(tmp_path: Path) -> None:
    """The API and dashboard images import creditrisk from this wheel, not from a checkout: a
    sub-package it leaves out is missing in the images, though an editable install finds it."""
    source_dir, copied = _builder_sources(tmp_path / "image")
    subprocess.run([str(VENV_BIN / "python"), "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(tmp_path / "wheels"), str(source_dir)], check=True, capture_output=True,
                   timeout=300)
    packaged = set(zipfile.ZipFile(next((tmp_path / "wheels").glob("*.whl"))).namelist())
    modules = [name for name in copied if name.endswith(".py")]
    assert modules, "the builder stage copies no Python source"
    left_out = sorted(name for name in modules if name not in packaged)
    assert not left_out, (f"the wheel leaves out {left_out}: pyproject.toml must list every sub-package "
                          "(e.g. with [tool.setuptools.packages.find])")


@pytest.mark.parametrize("image", list(IMAGES))
def test_images_run_as_a_non_root_user(image: str) -> None:
    user = config_of(image).user
    assert user is not None, f"{image}: no USER instruction, the image would run as root"
    name, _, group = user.partition(":")
    assert name not in ("root", "0") and group not in ("root", "0"), f"{image}: USER {user} is root"


@pytest.mark.parametrize("image", list(IMAGES))
def test_the_runtime_user_owns_the_workspace_mount_point(image: str) -> None:
    """An empty named volume takes the owner of the image directory it is mounted on."""
    config = config_of(image)
    uid = config.user.split(":")[0]
    runs = " ".join(command for _, command in config.runs)
    assert re.search(rf"install -d -o {uid} -g \d+ /workspace\b", runs), runs


def test_api_image_runs_gunicorn_with_the_project_config_on_port_from_the_environment() -> None:
    config = config_of("api")
    assert config.entrypoint == []
    assert config.cmd[:3] == ["gunicorn", "-c", "gunicorn.conf.py"], config.cmd
    settings = (REPO_ROOT / "gunicorn.conf.py").read_text()
    app_spec = config.cmd[3] if len(config.cmd) > 3 else re.search(r"^wsgi_app = \"(.+)\"$", settings, re.M).group(1)
    assert app_spec == "app:create_app()"
    assert "os.environ.get('PORT', '8000')" in settings, "gunicorn.conf.py must bind to $PORT"
    assert config.exposed == [int(config.env["PORT"])] == [8000]


def test_api_health_check_probes_ready_on_the_configured_port() -> None:
    config = config_of("api")
    assert config.healthcheck is not None
    assert config.healthcheck[0] == "python", "slim images have no curl: the check must use python"
    script = config.healthcheck[-1]
    assert "/ready" in script and "os.environ.get('PORT', '8000')" in script, script
    assert config.healthcheck_timing.get("start_period"), "the model loads at start: give it a start period"


def test_dashboard_image_runs_streamlit_headless_and_its_health_check_uses_the_same_port() -> None:
    config = config_of("dashboard")
    argv = config.cmd
    assert argv[:3] == ["streamlit", "run", "dashboard/app.py"], argv
    options = dict(zip(argv[3::2], argv[4::2]))
    assert options["--server.headless"] == "true"
    assert options["--server.address"] == "0.0.0.0"
    assert config.exposed == [int(options["--server.port"])] == [8501]
    script = config.healthcheck[-1]
    assert f"http://127.0.0.1:{options['--server.port']}/_stcore/health" in script, script


def test_pipeline_image_syncs_the_pipeline_definition_and_runs_dvc() -> None:
    config = config_of("pipeline")
    assert config.entrypoint[:2] == ["/bin/sh", "-c"]
    assert config.cmd == ["repro"]
    assert config.entrypoint[2].rstrip().endswith('exec dvc "$@"')
    assert config.workdir == config.env["WORKSPACE_DIR"] == "/workspace"
    assert any("dvc config --local core.no_scm true" in command for _, command in config.runs)


def _synced_paths(script: str) -> set[str]:
    return set(re.findall(r"\$PROJECT_DIR/([\w./-]+)", script))


def test_pipeline_image_holds_and_syncs_every_input_of_the_dvc_pipeline() -> None:
    config = config_of("pipeline")
    synced = _synced_paths(config.entrypoint[2])
    copied = {source for copy in config.copies if copy.from_stage is None for source in copy.sources}
    for path in sorted(dvc_paths()[0]):
        top = path.split("/")[0]
        assert top in synced, f"dvc.yaml input {path} is not copied into the workspace by the pipeline entrypoint"
        assert top in copied, f"dvc.yaml input {path} is not COPYed into the pipeline image"
    assert {"dvc.yaml", "params.yaml", "dvc.lock", ".dvc/config", ".dvc/config.local"} <= synced


@pytest.mark.parametrize("image", list(IMAGES))
def test_every_copy_source_is_in_the_build_context(image: str) -> None:
    context = ContextFilter(DOCKERIGNORE)
    files = context.files(REPO_ROOT)
    for copy in config_of(image).copies:
        if copy.from_stage is not None:
            continue
        for source in copy.sources:
            assert any(name == source or name.startswith(source + "/") for name in files), (
                f"{image}: COPY {source} finds nothing in the build context (.dockerignore or missing file)")


@pytest.mark.parametrize("path", [
    ".git/HEAD", ".venv/bin/python", "data/source/loans.xlsx", "data/monitoring/predictions.sqlite",
    "models/model.skops", "reports/metrics.json", ".dvc/cache/files/md5/ab/cdef", ".dvc/tmp/lock",
    ".dvc/config.local", "creditrisk/__pycache__/schema.cpython-311.pyc", ".pytest_cache/v/cache",
    "dvc-remote/files/md5/ab/cd", "tests/test_docker.py", ".env",
])
def test_build_context_leaves_out_data_caches_and_secrets(path: str) -> None:
    assert ContextFilter(DOCKERIGNORE).excluded(path)


@pytest.mark.parametrize("path", [
    "requirements.lock", "pyproject.toml", "creditrisk/schema.py", "app/__init__.py", "dashboard/app.py",
    "stages/prepare.py", "dvc.yaml", "dvc.lock", "params.yaml", ".dvc/config", "gunicorn.conf.py",
])
def test_build_context_keeps_what_the_images_copy(path: str) -> None:
    assert not ContextFilter(DOCKERIGNORE).excluded(path)


# ---- the images' own commands, run on the host -------------------------------------------

@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory: pytest.TempPathFactory) -> PipelineRun:
    return shared_pipeline_run(tmp_path_factory)


def _service_on_host(name: str, root: Path, workspace: Path) -> tuple[list[str], list[str], Path, dict]:
    """(argv, healthcheck argv, working directory, environment) of a compose service, on the host."""
    config = service_image(name)
    project = root / f"{name}-image-app"
    build_image_tree(REPO_ROOT / compose_document()["services"][name]["build"]["dockerfile"], None, project)
    env = host_env(container_environment(name), {WORKSPACE_MOUNT: workspace}, VENV_BIN, dict(os.environ))
    argv, check = list(config.argv), list(config.healthcheck)
    check[0] = str(VENV_BIN / check[0])
    return argv, check, project, env


@pytest.mark.slow
def test_pipeline_image_fills_the_workspace_and_a_second_start_reruns_nothing(pipeline_run: PipelineRun) -> None:
    workspace = pipeline_run.workspace
    for output in ("models/model.skops", "models/model_card.json", "reports/metrics.json",
                   "reports/drift/summary.json", "data/prepared/train.parquet", "dvc.lock"):
        assert (workspace / output).is_file(), f"the pipeline left no {output} in the workspace"
    env = host_env(service_image("pipeline").env, {"/app": pipeline_run.project, WORKSPACE_MOUNT: workspace},
                   VENV_BIN, dict(os.environ))
    again = run_image_command(service_image("pipeline"), workspace, env, timeout=120)
    assert "Running stage" not in again and "Data and pipelines are up to date." in again, again


@pytest.mark.slow
def test_api_image_command_serves_ready_on_the_pipeline_workspace(
        pipeline_run: PipelineRun, tmp_path: Path) -> None:
    port = free_port()
    argv, check, project, env = _service_on_host("api", tmp_path, pipeline_run.workspace)
    env["PORT"] = str(port)
    with running(argv, project, env) as server:
        wait_until_healthy(check, env, server)
        base = f"http://127.0.0.1:{port}"
        ready = requests.get(f"{base}/ready", timeout=10)
        assert ready.status_code == 200 and ready.json()["ready"] is True
        assert "dvc.lock" in ready.json()["verified"], "the API must check the model against the workspace's dvc.lock"
        assert requests.get(f"{base}/health", timeout=10).json() == {"status": "ok"}
        assert requests.get(f"{base}/openapi.json", timeout=10).json()["openapi"].startswith("3.")
        batch = sorted((pipeline_run.workspace / "data" / "incoming").glob("*.csv"))[0]
        scored = requests.post(f"{base}/predict", data=batch.read_bytes(), headers={"Content-Type": "text/csv"},
                               timeout=60)
        assert scored.status_code == 200, scored.text[:500]
        assert scored.json()["rows"] == len(batch.read_text().splitlines()) - 1
        assert scored.json()["prediction_logged"] is True
    dashboard_log = host_env(container_environment("dashboard"), {WORKSPACE_MOUNT: pipeline_run.workspace}, VENV_BIN,
                             {})["CREDITRISK_PREDICTION_LOG"]
    assert Path(dashboard_log).is_file(), "the API's prediction log is not where the dashboard reads it"


@pytest.mark.slow
def test_api_image_is_not_ready_when_the_model_does_not_match_the_lock(
        pipeline_run: PipelineRun, tmp_path: Path) -> None:
    """The HEALTHCHECK fails (so compose holds the dashboard back) when the model was tampered with."""
    workspace = tmp_path / "workspace"
    (workspace / "models").mkdir(parents=True)
    shutil.copy2(pipeline_run.workspace / "dvc.lock", workspace / "dvc.lock")
    model = (pipeline_run.workspace / "models" / "model.skops").read_bytes()
    (workspace / "models" / "model.skops").write_bytes(model + b"\0")
    port = free_port()
    argv, check, project, env = _service_on_host("api", tmp_path, workspace)
    env["PORT"] = str(port)
    with running(argv, project, env) as server:
        wait_until_up(f"http://127.0.0.1:{port}/health", server)
        assert subprocess.run(check, env=env, capture_output=True, timeout=10).returncode != 0
        assert requests.get(f"http://127.0.0.1:{port}/ready", timeout=10).status_code == 503


@pytest.mark.slow
def test_dashboard_image_command_serves_streamlit_health_on_the_pipeline_workspace(
        pipeline_run: PipelineRun, tmp_path: Path) -> None:
    port = free_port()
    argv, check, project, env = _service_on_host("dashboard", tmp_path, pipeline_run.workspace)
    image_port = argv[argv.index("--server.port") + 1]
    argv[argv.index("--server.port") + 1] = str(port)
    argv[argv.index("--server.address") + 1] = "127.0.0.1"
    check[-1] = check[-1].replace(f":{image_port}/", f":{port}/")
    with running(argv, project, env) as server:
        wait_until_healthy(check, env, server)
        assert requests.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=10).text == "ok"
        page = requests.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200 and "<html" in page.text.lower()


@pytest.mark.slow
def test_dashboard_in_the_image_layout_finds_the_pipeline_results(
        pipeline_run: PipelineRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the image's files and environment, the overview shows the model the pipeline trained."""
    from streamlit.testing.v1 import AppTest

    _, _, project, env = _service_on_host("dashboard", tmp_path, pipeline_run.workspace)
    for name, value in env.items():
        if name.startswith("CREDITRISK_"):
            monkeypatch.setenv(name, value)
    app = AppTest.from_file(str(project / "dashboard" / "app.py"), default_timeout=90).run()
    assert not app.exception, [error.value for error in app.exception]
    card = json.loads((pipeline_run.workspace / "models" / "model_card.json").read_text())
    shown = {metric.label: metric.value for metric in app.metric}
    assert shown.get("Model version") == card["version"], shown
    missing = [info.value for info in app.info if "not found yet" in info.value]
    assert all("prediction log" in message for message in missing), missing


def test_streamlit_settings_in_the_repository_are_in_the_dashboard_image() -> None:
    """Streamlit reads .streamlit/config.toml from its working directory: ship it if there is one."""
    settings = REPO_ROOT / ".streamlit" / "config.toml"
    copied = {source for copy in config_of("dashboard").copies for source in copy.sources}
    assert settings.exists() == bool(copied & {".streamlit", ".streamlit/config.toml"})
