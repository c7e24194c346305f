"""The command line behind the make targets (`python -m creditrisk.releases <command>`).

    tags           recreate missing release, registration and stage tags from the record (make setup)
    check          the release gate: the workspace against the latest release (make release-check)
    explain-lock   why dvc.lock changed, and the gate's verdict (make repro, make run)
    release X.Y.Z "one line of what changed"                       (make release)
    promote X.Y.Z STAGE [--reason "..."] [--force]                 (make promote)
    rollback STAGE --reason "..."                                  (make rollback)
    stages         which version holds each stage, and every assignment
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from creditrisk.params import configured
from creditrisk.releases import MODEL_NAME
from creditrisk.releases.gate import format_table, workspace_gate
from creditrisk.releases.lock import explain_lock
from creditrisk.releases.procedure import cut_release
from creditrisk.releases.record import load_record, ReleaseError, ReleaseParams
from creditrisk.releases.registry import promote, rollback, stage_holders, PromotionRefused
from creditrisk.releases.tags import is_git_checkout, restore_tags

RELOAD_HINT = ("an API serving this stage (CREDITRISK_MODEL_STAGE) reports it on /ready as stale until it reloads: "
               "kill -HUP <gunicorn master pid>")


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m creditrisk.releases", description=__doc__.split("\n")[0])
    parser.add_argument("--repo", type=Path, default=Path("."))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("tags", help="recreate missing release, registration and stage tags from the record")
    commands.add_parser("check", help="the release gate: workspace metrics against the latest release")
    commands.add_parser("explain-lock", help="after dvc repro: why dvc.lock changed, and the gate's verdict")
    commands.add_parser("stages", help="which version holds each stage, and every assignment")
    release = commands.add_parser("release", help="commit, tag and record a release")
    release.add_argument("version")
    release.add_argument("summary")
    release.add_argument("--dvc", default="dvc")
    release.add_argument("--test-command", default="make test")
    promotion = commands.add_parser("promote", help="assign a release to a stage through the release gate")
    promotion.add_argument("version")
    promotion.add_argument("stage")
    promotion.add_argument("--reason", default="")
    promotion.add_argument("--force", action="store_true", help="assign despite breaches (needs --reason)")
    back = commands.add_parser("rollback", help="assign again the version that held the stage before")
    back.add_argument("stage")
    back.add_argument("--reason", default="")
    return parser.parse_args(argv)


def stages_text(repo: Path, params: ReleaseParams) -> str:
    record = load_record(repo / params.record)
    holders = stage_holders(record)
    lines = [f"{stage}: v{version}" for stage, version in holders.items()] or ["no stage is assigned"]
    rows = [[a.tag, f"v{a.version}", a.stage, a.action, a.date, a.by, a.reason, a.gate] for a in record.assignments]
    if rows:
        lines += ["", format_table(["tag", "version", "stage", "action", "date", "by", "why", "gate"], rows)]
    return "\n".join(lines)


def _release(repo: Path, arguments: argparse.Namespace, params: ReleaseParams) -> int:
    model_version = str(yaml.safe_load((repo / arguments.params).read_text())["train"]["version"])

    def run_tests() -> bool:
        return subprocess.run(arguments.test_command, shell=True, cwd=repo).returncode == 0

    release = cut_release(repo, arguments.version, arguments.summary, params, model_version, arguments.dvc,
                          run_tests)
    print(f"released {release.tag} at {release.commit} (registered as {release.registration_tag}) and recorded it "
          f"in {params.record}; `make promote VERSION={release.version} STAGE=...` assigns it to a stage")
    return 0


def _promote(repo: Path, arguments: argparse.Namespace, params: ReleaseParams) -> int:
    try:
        assignment, report = promote(repo, params, arguments.version, arguments.stage, arguments.reason,
                                     arguments.force)
    except PromotionRefused as refused:
        print(str(refused), file=sys.stderr)
        return 1
    if report is not None:
        print(report.text())
    print(f"{MODEL_NAME} v{assignment.version} now holds {assignment.stage} ({assignment.tag}, recorded in "
          f"{params.record} and committed); {RELOAD_HINT}")
    return 0


def _rollback(repo: Path, arguments: argparse.Namespace, params: ReleaseParams) -> int:
    assignment = rollback(repo, params, arguments.stage, arguments.reason)
    print(f"{MODEL_NAME} v{assignment.version} holds {assignment.stage} again ({assignment.tag}, recorded in "
          f"{params.record} and committed); {RELOAD_HINT}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(argv)
    repo = arguments.repo.resolve()
    try:
        params = configured(ReleaseParams, repo / arguments.params)
        if arguments.command == "tags":
            if not is_git_checkout(repo):
                print("release tags: not a git checkout, nothing to restore")
                return 0
            print("\n".join(restore_tags(repo, load_record(repo / params.record), params.record)))
            return 0
        if arguments.command == "explain-lock":
            print(explain_lock(repo, params))
            return 0
        if arguments.command == "check":
            report = workspace_gate(repo, params)
            print(report.text())
            return 0 if report.passed else 1
        if arguments.command == "stages":
            print(stages_text(repo, params))
            return 0
        commands = {"release": _release, "promote": _promote, "rollback": _rollback}
        return commands[arguments.command](repo, arguments, params)
    except ReleaseError as error:
        print(f"release: {error}", file=sys.stderr)
        return 1
