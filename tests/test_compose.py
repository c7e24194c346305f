"""docker-compose.yml against the Compose Specification and the project's own wiring.

The schema is the Compose Specification JSON schema that the pinned check-jsonschema
package ships (no network at test time).
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import PurePosixPath

import jsonschema
import pytest
import yaml

from tests.container_spec import REPO_ROOT, container_environment, dvc_paths
from tooling.container_check.dockerfile import image_config, service_image
from tooling.container_check.spec import compose_document, default_services, interpolate

INTERFACES = REPO_ROOT / "docs" / "interfaces.md"
CODE_DIRS = ("app", "dashboard", "creditrisk", "stages")
PATH_VARIABLES = re.compile(r"^CREDITRISK_\w+_(PATH|DIR|LOCK|LOG)$")


def compose_schema() -> dict:
    schema = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    return json.loads(schema.read_text())


def volume_mounts(name: str, profiles: bool = False) -> dict[str, str]:
    mounts = {}
    for volume in compose_document(profiles)["services"][name].get("volumes") or []:
        source, target = (volume.split(":")[:2] if isinstance(volume, str) else (volume["source"], volume["target"]))
        mounts[target] = source
    return mounts


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(compose_document(profiles=True)), key=lambda error: list(error.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_schema_rejects_a_broken_depends_on_condition() -> None:
    """The validation above has teeth: a misspelt condition fails it."""
    schema = compose_schema()
    broken = compose_document()
    broken["services"]["api"]["depends_on"]["pipeline"]["condition"] = "service_finished"
    assert list(jsonschema.validators.validator_for(schema)(schema).iter_errors(broken))


def test_services_start_in_order_pipeline_then_api_then_dashboard() -> None:
    services = default_services()
    assert set(services) == {"pipeline", "api", "dashboard"}
    assert "depends_on" not in services["pipeline"]
    assert services["api"]["depends_on"] == {"pipeline": {"condition": "service_completed_successfully"}}
    assert services["dashboard"]["depends_on"] == {
        "pipeline": {"condition": "service_completed_successfully"},
        "api": {"condition": "service_healthy"},
    }


def test_api_can_become_healthy() -> None:
    """`service_healthy` waits forever on a service without a health check."""
    assert service_image("api").healthcheck or compose_document()["services"]["api"].get("healthcheck")


def test_build_targets_exist_and_pipeline_is_a_one_shot_dvc_run() -> None:
    services = compose_document()["services"]
    for name, service in services.items():
        if "build" not in service:
            assert re.fullmatch(r"[\w.-]+:\d+[\w.-]*", service["image"]), f"{name}: pin the image's version"
            continue
        build = service["build"]
        assert build["context"] == "."
        stages = [stage.name for stage in image_config(REPO_ROOT / build["dockerfile"]).stages]
        assert build.get("target", stages[-1]) in stages, f"{name}: unknown build target"
    pipeline = service_image("pipeline")
    argv = pipeline.entrypoint + (services["pipeline"].get("command") or pipeline.cmd)
    assert argv[-1] == "repro" and "exec dvc" in argv[2]
    assert services["pipeline"]["restart"] == "no"
    for name in ("api", "dashboard"):
        assert services[name]["restart"] in ("always", "unless-stopped", "on-failure")


def test_one_named_volume_is_shared_by_all_three_services_at_the_workspace() -> None:
    document = compose_document()
    assert list(document["volumes"]) == ["workspace", "postgres-data"]
    for name in document["services"]:
        expected = ({"/var/lib/postgresql/data": "postgres-data"} if name == "postgres"
                    else {"/workspace": "workspace"})
        assert volume_mounts(name) == expected, name


def test_the_postgres_profile_runs_a_healthy_server_and_an_api_that_logs_there() -> None:
    services = compose_document(profiles=True)["services"]
    postgres, api = services["postgres"], services["api-postgres"]
    assert postgres["profiles"] == api["profiles"] == ["postgres"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert api["depends_on"]["postgres"] == {"condition": "service_healthy"}
    server = {key: interpolate(str(value), {"CREDITRISK_POSTGRES_PASSWORD": "pw"})
              for key, value in postgres["environment"].items()}
    url = container_environment("api-postgres", {"CREDITRISK_POSTGRES_PASSWORD": "pw"})["CREDITRISK_PREDICTION_LOG"]
    assert url == (f"postgresql://{server['POSTGRES_USER']}:pw@postgres:5432/{server['POSTGRES_DB']}")
    shared = {key: value for key, value in container_environment("api").items() if key != "CREDITRISK_PREDICTION_LOG"}
    assert {key: container_environment("api-postgres")[key] for key in shared} == shared
    assert [port.split(":")[1] for port in api["ports"]] == ["8001"]


@pytest.mark.parametrize("name", ["pipeline", "api", "dashboard"])
def test_every_path_a_service_reads_lies_on_the_shared_volume(name: str) -> None:
    mounts = volume_mounts(name)
    env = container_environment(name)
    paths = {key: value for key, value in env.items() if PATH_VARIABLES.match(key)}
    if name == "pipeline":
        paths = {"WORKSPACE_DIR": env["WORKSPACE_DIR"]}
    assert paths, f"{name}: no path variables"
    for key, value in paths.items():
        assert any(PurePosixPath(value).is_relative_to(target) for target in mounts), (
            f"{name}: {key}={value} is not on a mounted volume {sorted(mounts)}")


def _params() -> dict:
    return yaml.safe_load((REPO_ROOT / "params.yaml").read_text())


def _workspace_relative(value: str) -> str:
    return PurePosixPath(value).relative_to(service_image("pipeline").env["WORKSPACE_DIR"]).as_posix()


def test_api_reads_the_model_and_lock_the_pipeline_writes() -> None:
    """The API's model and dvc.lock are the pair the pipeline wrote in the workspace."""
    env = container_environment("api")
    assert _workspace_relative(env["CREDITRISK_DVC_LOCK"]) == "dvc.lock"
    model = _workspace_relative(env["CREDITRISK_MODEL_PATH"])
    assert model in dvc_paths()[1], f"{model} is not an output of the pipeline"
    assert _workspace_relative(env["CREDITRISK_PREDICTION_LOG"]) == _params()["drift"]["prediction_log"]


def test_dashboard_reads_the_directories_the_pipeline_writes() -> None:
    env = container_environment("dashboard")
    prepare = _params()["prepare"]
    assert _workspace_relative(env["CREDITRISK_PREPARED_DIR"]) == str(PurePosixPath(prepare["train_path"]).parent)
    assert _workspace_relative(env["CREDITRISK_REPORTS_DIR"]) == str(PurePosixPath(prepare["quality_report"]).parent)
    assert _workspace_relative(env["CREDITRISK_MODELS_DIR"]) == str(
        PurePosixPath(_workspace_relative(container_environment("api")["CREDITRISK_MODEL_PATH"])).parent)
    assert env["CREDITRISK_PREDICTION_LOG"] == container_environment("api")["CREDITRISK_PREDICTION_LOG"]


@pytest.mark.parametrize("name", ["api", "dashboard"])
def test_every_environment_variable_is_documented_and_read_by_the_code(name: str) -> None:
    documented = set(re.findall(r"`(\w+)`", INTERFACES.read_text()))
    code = "\n".join(path.read_text() for folder in CODE_DIRS for path in (REPO_ROOT / folder).rglob("*.py"))
    code += (REPO_ROOT / "gunicorn.conf.py").read_text() if (REPO_ROOT / "gunicorn.conf.py").exists() else ""
    for key in compose_document()["services"][name].get("environment") or {}:
        assert key in documented, f"{name}: {key} is not in docs/interfaces.md"
        assert re.search(rf"[\"']{key}[\"']", code), f"{name}: no code reads {key}"


def test_ports_published_on_localhost_match_the_images() -> None:
    services = compose_document()["services"]
    expected = {name: [str(port) for port in service_image(name).exposed] for name in ("api", "dashboard")}
    for name, exposed in expected.items():
        published = [port.rsplit(":", 2) for port in services[name]["ports"]]
        assert [(host, container) for _, host, container in published] == [(exposed[0], exposed[0])]
        assert all(address == "127.0.0.1" for address, _, _ in published)
    assert container_environment("api")["PORT"] == expected["api"][0]


def test_every_service_has_laptop_sized_limits() -> None:
    for name, service in compose_document()["services"].items():
        limits = service["deploy"]["resources"]["limits"]
        assert 0 < float(limits["cpus"]) <= 2, name
        memory = limits["memory"].lower()
        assert re.fullmatch(r"\d+[mg]", memory), name
        gigabytes = int(memory[:-1]) / (1024 if memory.endswith("m") else 1)
        assert 0.25 <= gigabytes <= 4, name


def test_api_token_is_passed_through_and_empty_when_unset() -> None:
    assert container_environment("api", {})["CREDITRISK_API_TOKEN"] == ""
    assert container_environment("api", {"CREDITRISK_API_TOKEN": "s3cret"})["CREDITRISK_API_TOKEN"] == "s3cret"


def test_the_scale_profile_adds_a_dask_scheduler_and_two_workers_the_pipeline_can_use() -> None:
    services = compose_document(profiles=True)["services"]
    scale = {name for name, service in services.items() if "scale" in (service.get("profiles") or [])}
    assert scale == {"dask-scheduler", "dask-worker"}
    scheduler, worker = services["dask-scheduler"], services["dask-worker"]
    port = scheduler["command"][scheduler["command"].index("--port") + 1]
    assert worker["command"][:2] == ["worker", f"tcp://dask-scheduler:{port}"]
    assert worker["deploy"]["replicas"] == 2 and worker["command"][worker["command"].index("--nthreads") + 1] == "1"
    assert volume_mounts("dask-worker", profiles=True) == {"/workspace": "workspace"}, "workers read the data"
    for name in scale:
        assert services[name]["build"] == services["pipeline"]["build"], "the project's own image"
        limits = services[name]["deploy"]["resources"]["limits"]
        assert 0 < float(limits["cpus"]) <= 2 and limits["memory"].endswith(("m", "g"))
    assert container_environment("pipeline")["DASK_SCHEDULER_ADDRESS"] == ""
    address = f"tcp://dask-scheduler:{port}"
    assert container_environment("pipeline", {"DASK_SCHEDULER_ADDRESS": address})["DASK_SCHEDULER_ADDRESS"] == address
    readme = (REPO_ROOT / "README.md").read_text()
    assert f"DASK_SCHEDULER_ADDRESS={address} docker compose --profile scale up" in readme
    assert "DASK_SCHEDULER_ADDRESS" in INTERFACES.read_text()
