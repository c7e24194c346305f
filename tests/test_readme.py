"""The README cannot rot: its commands, tables and API examples are checked against the code.

The fresh-machine commands must be exactly `make run` and `make test` and real Makefile
targets; every `make`, `dvc` and `docker compose` command must parse; the contract,
parameter and environment tables must match the code; and the curl examples are executed
against a test server, their responses compared with the documented ones.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.container_spec import (
    REPO_ROOT,
    VENV_BIN,
    PipelineRun,
    container_environment,
    host_env,
    run_image_command,
    shared_pipeline_run,
)
from tooling.container_check.dockerfile import service_image
from tooling.container_check.spec import WORKSPACE_MOUNT, compose_document

README = REPO_ROOT / "README.md"
MAKEFILE = REPO_ROOT / "Makefile"
CODE_FILES = [*REPO_ROOT.glob("app/**/*.py"), *REPO_ROOT.glob("dashboard/**/*.py"),
              *REPO_ROOT.glob("creditrisk/**/*.py"), REPO_ROOT / "gunicorn.conf.py"]
DOCUMENTED_BASE_URL = "http://localhost:8000"


@dataclass(frozen=True)
class Block:
    language: str
    text: str
    line: int


def readme() -> str:
    return README.read_text()


def blocks() -> list[Block]:
    found = []
    for match in re.finditer(r"^```(\w*)\n(.*?)^```\s*$", readme(), re.S | re.M):
        found.append(Block(match.group(1), match.group(2), readme().count("\n", 0, match.start()) + 1))
    return found


def shell_commands() -> list[str]:
    """Every command of the README's bash blocks, continuation lines joined."""
    commands = []
    for block in blocks():
        if block.language not in ("bash", "sh", "shell"):
            continue
        joined = re.sub(r"\\\n\s*", " ", block.text)
        joined = re.sub(r"'[^']*'", lambda quoted: quoted.group(0).replace("\n", " "), joined)
        commands += [line.strip() for line in joined.splitlines() if line.strip() and not line.startswith("#")]
    return commands


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z][\w-]*):", MAKEFILE.read_text(), re.M))


def table_after(heading: str) -> list[dict[str, str]]:
    """The first Markdown table after `heading`, as rows keyed by the header cells."""
    text = readme()
    start = text.index(heading)
    lines = text[start:].splitlines()
    first = next(index for index, line in enumerate(lines) if line.startswith("|"))
    table = []
    for line in lines[first:]:
        if not line.startswith("|"):
            break
        table.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    header, rows = table[0], table[2:]
    return [dict(zip(header, row)) for row in rows]


def code_span(cell: str) -> str:
    match = re.fullmatch(r"`([^`]+)`", cell)
    assert match, f"expected a single `code` cell, got {cell!r}"
    return match.group(1)


# ---- the two commands -----------------------------------------------------------------------

def test_first_screen_gives_exactly_the_two_fresh_clone_commands() -> None:
    text = readme()
    first_block = blocks()[0]
    assert first_block.language == "bash"
    assert [line.strip() for line in first_block.text.splitlines() if line.strip()] == ["make run", "make test"]
    assert first_block.line < 15, "the two commands belong on the first screen"
    assert text.index("```bash\nmake run") < text.index("\n## "), "the commands come before the first section"


def test_make_commands_are_makefile_targets() -> None:
    targets = makefile_targets()
    mentioned = {command.split()[1] for command in shell_commands() if command.startswith("make ")}
    mentioned |= set(re.findall(r"`make ([a-z][\w-]*)", readme()))
    assert {"run", "test"} <= mentioned
    assert mentioned <= targets, f"README names make targets the Makefile lacks: {sorted(mentioned - targets)}"


@pytest.mark.parametrize("target", ["run", "test"])
def test_fresh_machine_targets_resolve(target: str) -> None:
    """`make -n` walks the whole target chain (recursive makes included) without running it."""
    result = subprocess.run(["make", "-n", target], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()


# ---- dvc and docker commands ------------------------------------------------------------------

def _parse_dvc(argv: list[str]) -> object:
    from dvc.cli import DvcParserError, parse_args

    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        try:
            return parse_args(argv)
        except (DvcParserError, SystemExit) as error:
            raise AssertionError(f"`dvc {' '.join(argv)}` does not parse") from error


def _stage_names() -> set[str]:
    return set(yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"])


def _check_dvc(argv: list[str]) -> None:
    _parse_dvc(argv)
    if argv[0] == "repro":
        named = [word for word in argv[1:] if not word.startswith("-")]
        assert set(named) <= _stage_names(), f"`dvc {' '.join(argv)}` names an unknown stage"


def test_dvc_commands_parse_and_name_real_stages() -> None:
    commands = [shlex.split(command)[1:] for command in shell_commands() if command.startswith("dvc ")]
    commands += [shlex.split(span)[1:] for span in re.findall(r"`(dvc [^`]+)`", readme())]
    assert ["metrics", "diff", "v1.0.0", "v1.1.0"] in commands
    assert ["params", "diff", "v1.0.0", "v1.1.0"] in commands
    assert ["repro", "--force", "--single-item", "drift"] in commands
    assert ["remote", "add", "-d", "s3store", "s3://bucket/path"] in commands
    for argv in commands:
        _check_dvc(argv)


def test_docker_compose_commands_name_real_services_and_dvc_arguments() -> None:
    services = set(compose_document()["services"])
    commands = [shlex.split(command) for command in shell_commands() if command.startswith("docker compose ")]
    assert ["docker", "compose", "up", "--build"] in commands
    for argv in commands:
        subcommand, rest = argv[2], argv[3:]
        assert subcommand in {"up", "run", "logs", "down", "ps", "build"}, argv
        if subcommand == "run":
            service = next(word for word in rest if not word.startswith("-"))
            options = rest[:rest.index(service)]
            assert service in services and options == ["--rm"], argv
            if service == "pipeline":
                _check_dvc(rest[rest.index(service) + 1:])
        elif subcommand == "logs":
            assert set(rest) <= services, argv


def test_the_s3_extra_pins_the_locked_dvc_version() -> None:
    locked = re.search(r"^dvc==(\S+)$", (REPO_ROOT / "requirements.lock").read_text(), re.M).group(1)
    assert f'"dvc[s3]=={locked}"' in readme()


def _slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_internal_links_point_at_headings() -> None:
    anchors = {_slug(match) for match in re.findall(r"^#{1,6} (.+)$", readme(), re.M)}
    for link in re.findall(r"\]\(#([^)]+)\)", readme()):
        assert link in anchors, f"link #{link} has no heading"


# ---- tables ----------------------------------------------------------------------------------

KIND_NAMES = {"numeric": "number", "integer": "integer", "category": "category", "datetime": "datetime",
              "target": "target"}


def test_contract_table_matches_the_schema() -> None:
    from creditrisk.data.contract import COLUMNS

    rows = {code_span(row["column"]): row for row in table_after("## The data contract")}
    assert list(rows) == [spec.name for spec in COLUMNS]
    for spec in COLUMNS:
        row = rows[spec.name]
        assert row["type"] == KIND_NAMES[spec.kind], spec.name
        stops = not spec.nullable  # in training, the target and the date are never nullable either
        assert row["violation"] == ("stop" if stops else "null"), spec.name
        numbers = {float(number) for number in re.findall(r"\d+(?:\.\d+)?(?:e\d+)?", row["rule"])}
        for bound in (spec.minimum, spec.maximum):
            if bound is not None:
                assert float(bound) in numbers, f"{spec.name}: bound {bound:g} not in {row['rule']!r}"
        for category in spec.categories or ():
            assert category in row["rule"], f"{spec.name}: category {category} not in {row['rule']!r}"


def _param_keys(block: dict, prefix: str = "") -> dict[str, object]:
    keys: dict[str, object] = {}
    for key, value in block.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            keys.update(_param_keys(value, name + "."))
        else:
            keys[name] = value
    return keys


def test_every_param_is_documented_with_its_value_and_nothing_else() -> None:
    params = _param_keys(yaml.safe_load((REPO_ROOT / "params.yaml").read_text()))
    rows = {code_span(row["key"]): row for row in table_after("### Parameters")}
    assert sorted(rows) == sorted(params), (
        f"missing: {sorted(set(params) - set(rows))}; not in params.yaml: {sorted(set(rows) - set(params))}")
    for key, value in params.items():
        documented = yaml.safe_load(code_span(rows[key]["default"]))
        assert documented == value, f"{key}: README says {documented!r}, params.yaml has {value!r}"


def _environment_variables_read_by_code() -> set[str]:
    names: set[str] = set()
    for path in CODE_FILES:
        text = path.read_text()
        names |= set(re.findall(r"[\"'](CREDITRISK_[A-Z_]+)[\"']", text))
        names |= set(re.findall(r"environ(?:\.get)?\(?\[?\s*[\"']([A-Z][A-Z_]+)[\"']", text))
    return names


def test_every_environment_variable_the_code_reads_is_documented() -> None:
    documented = {code_span(row["variable"]) for row in table_after("### Environment variables")}
    read = _environment_variables_read_by_code()
    ignored = {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS",  # set by gunicorn.conf.py for the workers, not settings
               "CREDITRISK_GUNICORN_MASTER", "CREDITRISK_GUNICORN_OWN_METRICS_DIR"}  # its marks for a reload (SIGHUP)
    assert read - ignored <= documented, f"undocumented: {sorted(read - ignored - documented)}"
    assert documented <= read | {"GUNICORN_CMD_ARGS"}, f"documented but never read: {sorted(documented - read)}"


# ---- the curl examples, executed ---------------------------------------------------------------

@dataclass(frozen=True)
class Example:
    command: str
    documented: str
    language: str


def curl_examples() -> list[Example]:
    """Each bash block that calls the API, with the response block that follows it."""
    all_blocks = blocks()
    examples = []
    for block, following in zip(all_blocks, all_blocks[1:]):
        if block.language == "bash" and block.text.lstrip().startswith("curl ") and DOCUMENTED_BASE_URL in block.text:
            assert following.language in ("json", "csv"), f"README line {block.line}: no response shown"
            examples.append(Example(block.text.strip(), following.text, following.language))
    return examples


def _shape(value: object) -> object:
    """Keys of objects (recursively; a list by its first item), the structure a client relies on."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__ if isinstance(value, (bool, str)) else "number" if value is not None else None


def _same_shape(actual: object, documented: object, where: str = "$") -> None:
    if isinstance(documented, dict):
        assert isinstance(actual, dict), f"{where}: expected an object"
        assert set(actual) == set(documented), f"{where}: fields {sorted(actual)} != documented {sorted(documented)}"
        for key in documented:
            _same_shape(actual[key], documented[key], f"{where}.{key}")
    elif isinstance(documented, list) and documented:
        assert isinstance(actual, list) and actual, f"{where}: expected a non-empty list"
        _same_shape(actual[0], documented[0], f"{where}[0]")


@contextlib.contextmanager
def scoring_server(workspace: Path, log_dir: Path) -> Iterator[str]:
    """The Flask app as compose configures it, on a free localhost port, in a thread."""
    from werkzeug.serving import make_server

    from app import create_app
    from app.config import config_from_env

    env = host_env(container_environment("api"), {WORKSPACE_MOUNT: workspace}, VENV_BIN, {})
    env["CREDITRISK_PREDICTION_LOG"] = str(log_dir / "predictions.sqlite")
    server = make_server("127.0.0.1", 0, create_app(config_from_env(env)), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory: pytest.TempPathFactory) -> PipelineRun:
    return shared_pipeline_run(tmp_path_factory)


def test_readme_shows_json_csv_and_error_examples() -> None:
    examples = curl_examples()
    assert any("application/json" in example.command and '"status"' not in example.documented
               and "/predict" in example.command for example in examples)
    assert any("text/csv" in example.command for example in examples)
    assert any('"errors"' in example.documented for example in examples)


@pytest.mark.slow
def test_curl_examples_answer_as_documented(pipeline_run: PipelineRun, tmp_path: Path) -> None:
    """Run each example (from the workspace, where its @files are) against a real server."""
    with scoring_server(pipeline_run.workspace, tmp_path) as base_url:
        for example in curl_examples():
            command = example.command.replace(DOCUMENTED_BASE_URL, base_url) + " -w '\\n%{http_code}'"
            result = subprocess.run(["bash", "-c", command], cwd=pipeline_run.workspace, capture_output=True,
                                    text=True, timeout=60, env={**os.environ, "PATH": os.environ["PATH"]})
            assert result.returncode == 0, f"{example.command}\n{result.stderr}"
            body, _, status = result.stdout.rpartition("\n")
            if example.language == "json":
                documented = json.loads(example.documented)
                expected_status = documented.get("status", 200)
                assert int(status) == expected_status, f"{example.command}\n-> {status} {body[:500]}"
                _same_shape(_shape(json.loads(body)), _shape(documented))
            else:
                assert int(status) == 200, f"{example.command}\n-> {status} {body[:500]}"
                assert body.splitlines()[0] == example.documented.splitlines()[0]
                assert len(body.splitlines()) > 1


@pytest.mark.slow
def test_docker_drift_command_picks_up_api_traffic(pipeline_run: PipelineRun) -> None:
    """The monitoring loop in the containers: the API logs into the shared volume, then the README's
    `docker compose run --rm pipeline ...` command (the pipeline image's entrypoint) reruns drift on it."""
    from app import create_app
    from app.config import config_from_env

    workspace = pipeline_run.workspace
    api_env = host_env(container_environment("api"), {WORKSPACE_MOUNT: workspace}, VENV_BIN, {})
    client = create_app(config_from_env(api_env)).test_client()
    batch = sorted((workspace / "data" / "incoming").glob("*.csv"))[-1]
    answer = client.post("/predict", data=batch.read_bytes(), headers={"Content-Type": "text/csv"})
    assert answer.status_code == 200 and answer.json["prediction_logged"] is True, answer.json

    command = next(shlex.split(line) for line in shell_commands()
                   if line.startswith("docker compose run --rm pipeline ") and "drift" in line)
    pipeline = service_image("pipeline")
    env = host_env(pipeline.env, {"/app": pipeline_run.project, WORKSPACE_MOUNT: workspace}, VENV_BIN,
                   dict(os.environ))
    output = run_image_command(pipeline, workspace, env, timeout=300,
                               argv=[*pipeline.entrypoint, *command[command.index("pipeline") + 1:]])
    assert "Running stage 'drift'" in output and "Running stage 'train'" not in output, output
    windows = json.loads((workspace / "reports" / "drift" / "windows.json").read_text())
    assert any(window["source"] == "prediction_log" for window in windows), [w["source"] for w in windows]
