"""`make container-check`: the three images built and run end to end (slow), and the check's
own reading of the project and the host (fast).

The slow test skips on a developer machine that lacks the tools, and fails under CI=true,
where `.ci/run` installs them: CI must never pass without having run the images. Its report
and output go to test-output/ (git-ignored) for a human to look at.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.container_spec import VENV_BIN
from tooling.container_check import buildah, checks, cli, compose, dockerfile, spec, stand_in
from tooling.container_check.dockerfile import service_image
from tooling.container_check.errors import CheckFailed
from tooling.container_check.report import Report
from tooling.container_check.spec import COMPOSE_FILE, REPO_ROOT, compose_document, default_services

SCRIPT = REPO_ROOT / "scripts" / "container_check.py"
OUTPUT_DIR = REPO_ROOT / "test-output"
CHECK_TIMEOUT = 1500  # seconds; a cold run (stand-in base, every layer) takes about 5 minutes on 2 cores


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def run_script(args: list[str], log: Path) -> int:
    """Run the check in its own session; on a timeout, SIGTERM lets it clean up first."""
    with log.open("w") as handle:
        process = subprocess.Popen([str(VENV_BIN / "python"), str(SCRIPT), *args], cwd=REPO_ROOT, stdout=handle,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return process.wait(timeout=CHECK_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=180)
            pytest.fail(f"the container check took over {CHECK_TIMEOUT} s; its output is in {log}")


# ---- end to end -------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.timeout(CHECK_TIMEOUT + 300)
def test_container_check_builds_and_runs_the_three_images() -> None:
    engine = cli.choose_engine()
    missing = cli.missing_prerequisites(engine)
    if missing:
        message = f"the container check ({engine}) cannot run here: " + "; ".join(missing)
        if in_ci():
            pytest.fail(message + ". CI must run it: .ci/run installs the tools.")
        pytest.skip(message)
    OUTPUT_DIR.mkdir(exist_ok=True)
    report_file, log = OUTPUT_DIR / "container-check.json", OUTPUT_DIR / "container-check.log"
    returncode = run_script(["--json", str(report_file)], log)
    report = json.loads(report_file.read_text())
    failed = [f"{item['name']}: {str(item['detail'])[:1500]}" for item in report["checks"] if not item["ok"]]
    assert returncode == 0 and report["passed"] and not failed, "\n".join(failed) or log.read_text()[-4000:]
    assert set(report["images"]) == set(default_services())
    assert all(image["size_bytes"] > 0 for image in report["images"].values())
    names = {item["name"] for item in report["checks"]}
    for expected in ("the prediction log is written into the workspace by the API's user",
                     "every dashboard page runs without an exception"):
        assert expected in names, f"the check never ran {expected!r}"
    assert any(name.startswith("README: curl") and "/predict" in name for name in names)
    if report["base"].get("stand_in"):
        assert report["differences"], "a run on the stand-in base must say how it differs from the real one"


# ---- the project as the check reads it --------------------------------------------------------

def test_base_image_is_the_one_both_dockerfiles_pin_as_docker_reads_it() -> None:
    base = service_image("api").base_image
    assert dockerfile.base_image_name(compose_document()) == f"docker.io/library/{base}"
    assert service_image("dashboard").base_image == base


@pytest.mark.parametrize(("name", "expected"), [
    ("python:3.11.14-slim-bookworm", "docker.io/library/python:3.11.14-slim-bookworm"),
    ("someone/image:1", "docker.io/someone/image:1"),
    ("registry.example:5000/image:1", "registry.example:5000/image:1"),
    ("localhost/image:1", "localhost/image:1"),
])
def test_short_image_names_are_read_as_docker_does(name: str, expected: str) -> None:
    assert spec.qualified(name) == expected


def test_readme_examples_the_check_sends_include_json_csv_and_an_error() -> None:
    examples = checks.readme_curl_examples(spec.README.read_text())
    assert any("application/json" in example.command and "/predict" in example.command for example in examples)
    assert any(example.language == "csv" for example in examples)
    assert any('"status": 4' in example.documented for example in examples)
    assert "POST /predict (text/csv)" in [checks.describe(example.command) for example in examples]
    drift = [args for args in checks.readme_pipeline_commands(spec.README.read_text()) if "drift" in args]
    assert drift and drift[0][0] == "repro", drift


def test_services_start_as_compose_starts_them() -> None:
    compose = compose_document()
    pipeline = service_image("pipeline")
    config = spec.ImageConfig(env=pipeline.env, user=pipeline.user, workdir=pipeline.workdir,
                              entrypoint=pipeline.entrypoint, cmd=["ignored"])
    argv = spec.service_argv(compose["services"]["pipeline"], config)
    assert argv == [*pipeline.entrypoint, *compose["services"]["pipeline"]["command"]]
    assert spec.service_argv({"command": "repro --dry"}, config)[-2:] == ["repro", "--dry"]
    environment = spec.service_environment(compose["services"]["api"], {"CREDITRISK_API_TOKEN": "s3cret"})
    assert environment["CREDITRISK_API_TOKEN"] == "s3cret"
    assert spec.service_environment(compose["services"]["api"])["CREDITRISK_API_TOKEN"] == ""
    assert spec.memory_limit(compose["services"]["pipeline"]) == 3 * 2**30
    assert spec.memory_limit({}) is None


def test_servers_move_to_the_given_loopback_port() -> None:
    argv, env = buildah.listen_on(service_image("api").cmd, {"PORT": "8000"}, 41000)
    assert argv == service_image("api").cmd
    assert env["PORT"] == "41000" and env["GUNICORN_CMD_ARGS"] == "--bind=127.0.0.1:41000"
    argv, env = buildah.listen_on(service_image("dashboard").cmd, {}, 41001)
    options = dict(zip(argv[3::2], argv[4::2]))
    assert options["--server.port"] == "41001" and options["--server.address"] == "127.0.0.1"
    with pytest.raises(CheckFailed, match="teach it"):
        buildah.listen_on(["uvicorn", "app:app"], {}, 41002)


@pytest.mark.parametrize("where", ["Config", "top level"])
def test_image_config_reads_docker_and_podman_inspect_records(where: str) -> None:
    healthcheck = {"Test": ["CMD", "python", "-c", "urlopen('http://127.0.0.1:8501/_stcore/health')"],
                   "StartPeriod": 30e9, "Interval": 15e9, "Retries": 3}
    record = {"Config": {"Env": ["A=1=2"], "User": "10001:10001", "WorkingDir": "/app", "Cmd": ["x"],
                         "ExposedPorts": {"8501/tcp": {}}}, "Size": 5}
    (record["Config"] if where == "Config" else record)["Healthcheck"] = healthcheck
    config = spec.parse_image_config(record)
    assert config.env == {"A": "1=2"} and config.uid == 10001 and config.exposed == [8501]
    assert config.healthcheck_path() == "/_stcore/health"
    assert config.healthcheck_deadline() == 75
    assert buildah.move_port(config.healthcheck, config.exposed, 40000)[-1].endswith(":40000/_stcore/health')")


# ---- the stand-in base ----------------------------------------------------------------------

def test_stand_in_is_cached_by_a_hash_of_all_its_inputs(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.crt"
    bundle.write_text("one\n")
    base = "docker.io/library/python:3.11.14-slim-bookworm"
    first = stand_in.recipe_hash(stand_in.stand_in_recipe(base, "http://mirror.example/debian", bundle))
    assert first == stand_in.recipe_hash(stand_in.stand_in_recipe(base, "http://mirror.example/debian", bundle))
    assert first != stand_in.recipe_hash(stand_in.stand_in_recipe(base, "http://other.example/debian", bundle))
    assert first != stand_in.recipe_hash(stand_in.stand_in_recipe(base.replace("3.11.14", "3.11.15"),
                                                            "http://mirror.example/debian", bundle))
    bundle.write_text("two\n")
    assert first != stand_in.recipe_hash(stand_in.stand_in_recipe(base, "http://mirror.example/debian", bundle))


@pytest.mark.parametrize(("base", "message"), [
    ("python:3.11.14-slim-bookworm@sha256:" + "0" * 64, "pinned by digest"),
    ("debian:bookworm-slim", "imitates python"),
])
def test_stand_in_refuses_bases_it_cannot_imitate(tmp_path: Path, base: str, message: str) -> None:
    (tmp_path / "ca.crt").write_text("x")
    with pytest.raises(CheckFailed, match=message):
        stand_in.stand_in_recipe(base, "http://mirror.example/debian", tmp_path / "ca.crt")


def test_stand_in_needs_the_hosts_ca_bundle(tmp_path: Path) -> None:
    with pytest.raises(CheckFailed, match="ca-certificates"):
        stand_in.stand_in_recipe("python:3.11.14-slim-bookworm", "http://mirror.example/debian", tmp_path / "none")


def test_mirror_is_the_one_the_hosts_apt_sources_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEBIAN_MIRROR", raising=False)
    (tmp_path / "sources.list.d").mkdir()
    assert stand_in.debian_mirror("bookworm", tmp_path) == stand_in.DEFAULT_MIRROR
    (tmp_path / "sources.list").write_text("# deb http://commented.example/debian bookworm main\n"
                                           "deb [arch=amd64] http://old-style.example/debian bookworm main\n")
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n# a comment\nURIs: http://deb822.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\nTypes: deb\nURIs: http://security.example/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n")
    assert stand_in.apt_source_uris(tmp_path, "bookworm") == ["http://deb822.example/debian",
                                                            "http://old-style.example/debian"]
    assert stand_in.debian_mirror("bookworm", tmp_path) == "http://deb822.example/debian"
    monkeypatch.setenv("DEBIAN_MIRROR", "http://chosen.example/debian")
    assert stand_in.debian_mirror("bookworm", tmp_path) == "http://chosen.example/debian"


def test_missing_tools_are_named_with_how_to_install_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.shutil, "which", lambda tool: None)
    missing = cli.missing_prerequisites("podman")
    assert any(item.startswith("podman") and "apt-get install" in item for item in missing)
    assert any(item.startswith("debootstrap") for item in missing)
    assert cli.missing_prerequisites("docker") == ["a Docker engine (`docker info` fails)"]


def test_ci_installs_the_tools_the_check_needs() -> None:
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    for tool in ("podman", "buildah", "debootstrap"):
        assert tool in ci, f".ci/run does not install {tool}"
    assert "make test" in ci and COMPOSE_FILE.exists()


def test_the_builder_stages_are_tagged_so_that_pruning_keeps_their_cache() -> None:
    targets = {service["build"].get("target") for service in default_services().values()}
    for name in ("Dockerfile.api", "Dockerfile.dashboard"):
        assert dockerfile.leaf_stages(REPO_ROOT / name, targets) == ["builder"]


@pytest.mark.parametrize("listing", [
    '[{"Service": "api", "Health": "healthy"}, {"Service": "pipeline", "ExitCode": 0}]',
    '{"Service": "api", "Health": "healthy"}\n{"Service": "pipeline", "ExitCode": 0}\n',
])
def test_compose_ps_is_read_in_both_of_its_json_shapes(monkeypatch: pytest.MonkeyPatch, listing: str) -> None:
    """`docker compose ps --format json` printed one array before Compose 2.21, one object a line since."""
    monkeypatch.setattr(compose, "output", lambda argv, **_: listing)
    states = compose.compose_states(["docker", "compose"])
    assert states["api"]["Health"] == "healthy" and states["pipeline"]["ExitCode"] == 0


# ---- the Docker path, with the docker CLI replaced ------------------------------------------

def _fake_docker(monkeypatch: pytest.MonkeyPatch, pipeline_exit: int) -> list[list[str]]:
    """Record every docker command; answer `ps`, `port` and `image inspect` like a healthy stack."""
    calls: list[list[str]] = []
    listing = "\n".join(json.dumps(row) for row in [
        {"Service": "pipeline", "ExitCode": pipeline_exit, "Image": "creditrisk-check-pipeline"},
        {"Service": "api", "Health": "healthy", "Image": "creditrisk-check-api"},
        {"Service": "dashboard", "Health": "healthy", "Image": "creditrisk-check-dashboard"}])

    def run(argv: list[str], **_: object) -> subprocess.CompletedProcess:
        calls.append(list(argv))
        return subprocess.CompletedProcess(argv, 0, "", "")

    def output(argv: list[str], **_: object) -> str:
        calls.append(list(argv))
        return listing if "ps" in argv else "127.0.0.1:8000\n" if "port" in argv else ""

    config = spec.ImageConfig(user="10001:10001", workdir="/app", exposed=[8000], size=1)
    monkeypatch.setattr(compose.subprocess, "run", run)
    monkeypatch.setattr(compose, "output", output)
    monkeypatch.setattr(compose, "run_logged", lambda argv, log, **_: run(argv))
    monkeypatch.setattr(compose, "inspect_image", lambda engine, image: config)
    return calls


def test_docker_path_checks_the_compose_stack_and_takes_it_down(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    calls = _fake_docker(monkeypatch, pipeline_exit=0)
    monkeypatch.setenv("CREDITRISK_API_TOKEN", "a developer's token")
    seen: dict[str, object] = {}
    monkeypatch.setattr(compose, "shared_checks", lambda stack, report: seen.update(
        stack=stack, token=os.environ.get("CREDITRISK_API_TOKEN")))
    report = Report()
    compose.check_with_docker(report, tmp_path)
    assert any(argv[-3:] == ["up", "--build", "--wait"] for argv in calls)
    assert calls[-1][-3:] == ["down", "-v", "--remove-orphans"]
    assert seen["stack"].ports == {"api": 8000, "dashboard": 8000} and seen["token"] is None
    assert os.environ["CREDITRISK_API_TOKEN"] == "a developer's token"
    assert set(report.images) == {"pipeline", "api", "dashboard"}


def test_docker_path_takes_the_stack_down_when_the_pipeline_failed(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    calls = _fake_docker(monkeypatch, pipeline_exit=1)
    with pytest.raises(CheckFailed, match="pipeline completed"):
        compose.check_with_docker(Report(), tmp_path)
    assert calls[-1][-3:] == ["down", "-v", "--remove-orphans"]
