"""The model's releases and its registry, in DVC's convention (GTO).

A release is an annotated tag `vX.Y.Z` on a commit whose `dvc.lock` and committed reports match its code; the
registry registers it as a version of the model with the annotated tag `credit-model@vX.Y.Z` beside it, and
assigns versions to stages (`staging`, `prod`: the `.gto` file lists them) with the annotated tags
`credit-model#<stage>#<N>`. Many clones carry no tags, so the committed record `releases.yaml` holds every
release and every stage assignment, and `make setup` recreates the tags from it.

    record      the record: releases and stage assignments, parsed and written (and the `release` params)
    tags        git, and the tags the record restores (release, registration and stage tags)
    gate        the release gate: two versions' committed metrics and validation packs within tolerances
    lock        why dvc.lock changed after `dvc repro`, and the gate's verdict, in one line
    procedure   cutting a release (commit, tags, record)
    registry    the stages: which version holds each, promotion through the gate, rollback
    cli         the command line (`python -m creditrisk.releases ...`, behind the make targets)

Each module imports only the ones listed above it; this file imports nothing, so a module that needs only the
model's name or the record loads no more than that.
"""

# The model's name in the registry (GTO's tags credit-model@vX.Y.Z, dvc.yaml's `artifacts:`), and the name the
# API serves it under; its version is the model bundle's.
MODEL_NAME = "credit-model"
