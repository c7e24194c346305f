"""The CI workflow: valid for the host, runs the README's test command, and its DVC steps
do what they claim (executed here on small throwaway DVC repositories)."""

from __future__ import annotations

import json
import os
import subprocess
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.container_spec import REPO_ROOT, VENV_BIN

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "ci.yml"
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "ci test", "GIT_AUTHOR_EMAIL": "ci@example.invalid",
                "GIT_COMMITTER_NAME": "ci test", "GIT_COMMITTER_EMAIL": "ci@example.invalid"}


def workflow() -> dict:
    """The workflow as the host reads it (YAML 1.2: `on` is a key, not the boolean true)."""
    document = yaml.safe_load(WORKFLOW.read_text())
    if True in document:
        document["on"] = document.pop(True)
    return document


def triggers() -> dict:
    return workflow()["on"]


def steps() -> list[dict]:
    return workflow()["jobs"]["test"]["steps"]


def step(name_part: str) -> dict:
    return next(item for item in steps() if name_part in item.get("name", ""))


def test_workflow_is_valid_for_the_host() -> None:
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("github-workflows.json")
    schema = json.loads(schema_file.read_text())
    errors = list(jsonschema.validators.validator_for(schema)(schema).iter_errors(workflow()))
    assert not errors, [error.message for error in errors]


def test_runs_on_push_and_pull_request_with_full_history_and_python_311() -> None:
    assert set(triggers()) == {"push", "pull_request"}
    checkout = next(item for item in steps() if item.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0, "tags and the base branch are needed for metrics diffs"
    python = next(item for item in steps() if item.get("uses", "").startswith("actions/setup-python@"))
    assert str(python["with"]["python-version"]) == "3.11"
    assert workflow()["defaults"]["run"]["shell"] == "bash"


def test_runs_the_readme_test_command_like_the_local_ci_entry_point() -> None:
    commands = [item["run"].strip() for item in steps() if "run" in item]
    assert "make test" in commands
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()


def test_the_browser_test_finds_its_browser_before_the_tests_run() -> None:
    """The dashboard's browser test uses fixed system paths; without them it would only be skipped."""
    names = [item.get("name", "") for item in steps()]
    browser = step("Browser for the dashboard test")
    assert names.index(browser["name"]) < names.index(step("Tests (make test)")["name"])
    browser_test = REPO_ROOT / "tests" / "test_dashboard_browser.py"
    for path in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        assert path in browser["run"]
        assert not browser_test.exists() or path in browser_test.read_text()


def test_metrics_diff_runs_only_on_pull_requests_and_never_interpolates_the_ref_into_the_script() -> None:
    diff = step("Metrics diff")
    assert diff["if"] == "github.event_name == 'pull_request'"
    assert "${{" not in diff["run"], "pass github.* values through env, not into the shell script"
    assert diff["env"]["BASE_REF"] == "${{ github.base_ref }}"


# ---- the DVC steps, executed ----------------------------------------------------------------

def _run_step(script: str, cwd: Path, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """As the host runs a `run:` step with `shell: bash`."""
    env = {**os.environ, **GIT_IDENTITY, **(extra_env or {})}
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=120)


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_IDENTITY}, check=True,
                   capture_output=True, timeout=60)


def _dvc(cwd: Path, *args: str) -> None:
    subprocess.run([str(VENV_BIN / "dvc"), *args], cwd=cwd, check=True, capture_output=True, timeout=120)


def _tiny_dvc_repo(root: Path) -> Path:
    """A git + DVC repository with one stage, its params and a committed metric; `.venv` links
    to the project's venv so the workflow's `.venv/bin/dvc` works unchanged."""
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    _dvc(root, "init", "-q")
    _dvc(root, "config", "core.analytics", "false")
    (root / ".venv").symlink_to(VENV_BIN.parent)
    (root / ".gitignore").write_text(".venv\n")
    (root / "params.yaml").write_text("scale: 2\n")
    (root / "score.py").write_text(
        "import json\nimport yaml\n"
        "scale = yaml.safe_load(open('params.yaml'))['scale']\n"
        "json.dump({'auc': 0.3 * scale}, open('metrics.json', 'w'))\n")
    (root / "dvc.yaml").write_text(
        "stages:\n"
        "  score:\n"
        "    cmd: python score.py\n"
        "    deps: [score.py]\n"
        "    params: [scale]\n"
        "    metrics:\n"
        "      - metrics.json:\n"
        "          cache: false\n")
    env_path = f"{VENV_BIN}:{os.environ['PATH']}"
    subprocess.run([str(VENV_BIN / "dvc"), "repro", "-q"], cwd=root, check=True, capture_output=True,
                   timeout=120, env={**os.environ, "PATH": env_path})
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "baseline")
    return root


@pytest.mark.slow
def test_lock_sync_step_passes_in_sync_and_fails_on_a_stale_lock(tmp_path: Path) -> None:
    repo = _tiny_dvc_repo(tmp_path / "repo")
    script = step("dvc.lock is in sync")["run"]
    in_sync = _run_step(script, repo)
    assert in_sync.returncode == 0, in_sync.stdout + in_sync.stderr
    (repo / "params.yaml").write_text("scale: 3\n")
    stale = _run_step(script, repo)
    assert stale.returncode == 1
    assert "::error file=dvc.lock::" in stale.stdout


@pytest.mark.slow
def test_metrics_diff_step_writes_the_change_against_the_base_branch_to_the_summary(tmp_path: Path) -> None:
    base = _tiny_dvc_repo(tmp_path / "base")
    pull_request = tmp_path / "pr"
    _git(tmp_path, "clone", "-q", str(base), str(pull_request))
    (pull_request / ".venv").symlink_to(VENV_BIN.parent)
    (pull_request / "params.yaml").write_text("scale: 3\n")
    (pull_request / "metrics.json").write_text(json.dumps({"auc": 0.9}))
    summary = tmp_path / "summary.md"
    result = _run_step(step("Metrics diff")["run"], pull_request,
                       {"BASE_REF": "main", "GITHUB_STEP_SUMMARY": str(summary)})
    assert result.returncode == 0, result.stdout + result.stderr
    text = summary.read_text()
    assert "| metrics.json | auc" in text and "0.9" in text, text
    assert "scale" in text and "3" in text, text
