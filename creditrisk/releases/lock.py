"""Why dvc.lock changed after `dvc repro`, and what the release gate says, in one line (`make repro`, `make run`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from creditrisk.releases.gate import workspace_gate
from creditrisk.releases.record import ReleaseError, ReleaseParams
from creditrisk.releases.tags import git


@dataclass(frozen=True)
class LockChange:
    """What moved between the committed dvc.lock and the workspace's.

    `inputs`: what the project feeds the stages (commands, params, code, an export), each as `path` or
    `params.yaml:key`; `outputs`: the stages' outputs. A stage's dependency on another stage's output is an
    output, not an input: a model that moved moves its readers' dependencies with it."""

    inputs: list[str]
    outputs: list[str]


def _lock_entries(lock: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(inputs, outputs) of a parsed dvc.lock, each keyed by a name and valued by its recorded hash."""
    inputs: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    stages = lock.get("stages") or {}
    for name, stage in stages.items():
        inputs[f"{name}: cmd"] = stage.get("cmd")
        for file, values in (stage.get("params") or {}).items():
            inputs.update({f"{file}:{key}": value for key, value in (values or {}).items()})
        outputs.update({out["path"]: out.get("md5") for out in stage.get("outs") or []})
    produced = tuple(outputs)
    for stage in stages.values():
        for dep in stage.get("deps") or []:
            path = dep["path"]
            if not any(path == out or path.startswith(f"{out}/") for out in produced):
                inputs[path] = dep.get("md5")
    return inputs, outputs


def lock_change(committed: dict[str, Any], current: dict[str, Any]) -> LockChange:
    def changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
        return sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
    (inputs_before, outputs_before), (inputs_after, outputs_after) = _lock_entries(committed), _lock_entries(current)
    return LockChange(changed(inputs_before, inputs_after), changed(outputs_before, outputs_after))


def _gate_verdict(repo: Path, params: ReleaseParams) -> str:
    """The gate's last line, e.g. "the release gate passed against v1.2.0 (make release-check)"."""
    try:
        report = workspace_gate(repo, params)
    except ReleaseError as error:
        return f"no release gate ({error})"
    return f"the release gate {report.verdict} (make release-check)"


def _listed(names: list[str], most: int = 3) -> str:
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def explain_lock(repo: Path, params: ReleaseParams, lock: str = "dvc.lock", reports: str = "reports") -> str:
    """One line after `dvc repro`: did dvc.lock change against the commit, why, and does the release gate pass.

    A machine whose CPU differs from the one that committed the lock (BLAS kernels, SIMD paths; the stages pin
    portable ones on x86-64 with AVX2, see stages/__init__.py) can round the last bits of the model's floats
    differently: its md5 then moves with the same code, params and data, while the reports, at their fixed
    significant digits, and the metrics agree."""
    if git(repo, "rev-parse", "--git-dir", check=False).returncode != 0:
        return f"{lock}: not in a git checkout, nothing to compare it with"
    shown = git(repo, "show", f"HEAD:{lock}", check=False)
    if shown.returncode != 0 or not (repo / lock).is_file():
        return f"{lock}: not committed yet; commit it with the reports"
    change = lock_change(yaml.safe_load(shown.stdout) or {}, yaml.safe_load((repo / lock).read_text()) or {})
    gate = _gate_verdict(repo, params)
    if not change.inputs and not change.outputs:
        return f"{lock} matches the commit: every output reproduced; {gate}"
    if change.inputs:
        return (f"{lock} changed because inputs changed ({_listed(change.inputs)}): commit it with the reports; "
                f"{gate}")
    differing = git(repo, "diff", "--name-only", "HEAD", "--", reports, check=False).stdout.split()
    report_note = (f"{len(differing)} committed report(s) differ (git diff {reports})" if differing
                   else "the committed reports are unchanged")
    return (f"{lock} changed in outputs only ({_listed(change.outputs)}) with the committed code, params and data: "
            f"this machine's CPU rounds the last bits of the model's floats differently from the one that "
            f"committed it; {report_note}, and {gate}")
