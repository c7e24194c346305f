"""Challengers from the monitoring loop: the champion recalibrated on the latest matured labels, or a model
retrained on every matured label (`make recalibrate`, `make challenger`).

Both are built as the backtest (`creditrisk.monitoring.backtest`) measured them, on the labels that have matured
by now: "now" is the month after the latest loan in the data (history and incoming batches), and a loan's label
counts once `prepare.performance_window_months` whole months have passed (`backtest.matured`).

- **Recalibrated** (`modeling.refit.recalibrated_bundle`): the champion's PD mapped once more on the latest
  `backtest.recalibration_months` loan months of matured labels (the intercept, and the slope with
  `backtest.min_defaults_for_slope` defaults). The guard: fewer than `challengers.recalibration_min_defaults`
  defaults in those months and no candidate is built. The backtest showed why (reports/backtest.json on the
  sample: each incoming month was scored by the champion recalibrated on 2025-11 to 2026-01, the latest months
  matured then, 436 loans with 6 defaults; its PDs came out about three times too low, observed / expected 2.8 to
  3.3, pooled Brier 0.0459 against the champion's 0.0432). With D defaults the fitted intercept's standard error is
  about 1/sqrt(D) on the log-odds scale, and two of them stay inside the drift stage's warn ratio (ln 1.25) only
  from about 80. Its
  version is the next patch. It is evaluated like a release, on the pipeline's out-of-time test split (which
  precedes the months it was recalibrated on), and gated against the version that holds the stage.
- **Retrained** (`modeling.refit.retrained_bundle`): the shipped training procedure on every matured label,
  version the next minor. Every labelled loan trained it, the out-of-time test split included, so there is no
  later labelled loan to evaluate it on: its evidence is the backtest's `retrained` option and, served as the
  shadow challenger, the comparison on live traffic once those labels mature. It meets the release gate when it
  becomes a release.

Each is written to its own folder under `challengers.output_dir` (never over the champion): `model.skops` with its
`.sha256`, `model_card.json` (what was refit, on which months and loans, from which champion and md5), and for the
recalibration `metrics.json`, `validation.json` and `gate.txt`. A candidate is not a release: a release is a
commit whose pipeline reproduces its model (README, "Model lifecycle").
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from creditrisk.data.contract import TARGET
from creditrisk.data.prepare import PrepareParams
from creditrisk.io import atomic_write_json, atomic_write_metrics, atomic_write_text, file_digest
from creditrisk.modeling.bundle import save_bundle, ArtifactError, ModelBundle
from creditrisk.modeling.calibration import LabelsError
from creditrisk.modeling.evaluation import evaluate_bundle, EvaluateParams, Evaluation
from creditrisk.modeling.fairness import FairnessParams
from creditrisk.modeling.features import default_target, FeaturizeParams
from creditrisk.modeling.refit import recalibrated_bundle, retrained_bundle
from creditrisk.modeling.train_params import TrainParams
from creditrisk.modeling.training import data_window
from creditrisk.monitoring.backtest import labelled_months, latest_months, loan_months, matured, BacktestParams
from creditrisk.monitoring.drift import DriftParams
from creditrisk.monitoring.windows import index_batches, iter_incoming_windows
from creditrisk.params import load_params, section, ParamsBlock, ParamsError
from creditrisk.releases.gate import compare, release_side, GateReport
from creditrisk.releases.record import load_record, version_key, ReleaseError, ReleaseParams
from creditrisk.releases.registry import stage_holders
from creditrisk.serving.model_source import load_source, resolve_model

KINDS = ("recalibrated", "retrained")


class ChallengerRefused(ValueError):
    """No candidate can be built from these labels; the message says why and what would change it."""


@dataclass(frozen=True)
class ChallengerParams(ParamsBlock):
    """The `challengers` block of params.yaml."""

    BLOCK: ClassVar[str] = "challengers"
    output_dir: str
    recalibration_min_defaults: int
    gate_stage: str

    def problems(self) -> list[tuple[str, str]]:
        return [("recalibration_min_defaults", "must be >= 1")] if self.recalibration_min_defaults < 1 else []


@dataclass(frozen=True)
class MaturedLabels:
    """The labelled loans whose outcome is known by `as_of` (a month), and the loans' latest month."""

    frame: pd.DataFrame
    as_of: pd.Period

    def span(self, frame: pd.DataFrame | None = None) -> dict[str, Any]:
        frame = self.frame if frame is None else frame
        months = sorted(loan_months(frame).astype(str).unique())
        return {"rows": len(frame), "defaults": int(default_target(frame).sum()), "months": months,
                "as_of": str(self.as_of)}


def matured_labels(history: pd.DataFrame, incoming: Sequence[Any], lag_months: int) -> MaturedLabels:
    """History plus the incoming batches' labelled loans, matured by the month after the latest loan."""
    months, unlabelled = labelled_months(incoming)
    latest = [loan_months(history).max(), *(month for month, _ in months),
              *(pd.Period(label, "M") for label in unlabelled)]
    as_of = max(latest) + 1
    labelled = pd.concat([history, *(frame for _, frame in months)], ignore_index=True)
    labelled = labelled[labelled[TARGET].notna().to_numpy()].reset_index(drop=True)
    return MaturedLabels(matured(labelled, as_of, lag_months).reset_index(drop=True), as_of)


def next_version(version: str, latest_release: str | None, part: str) -> str:
    """The next patch or minor after both the champion's version and the latest release."""
    base = max([version, *([latest_release] if latest_release else [])], key=version_key)
    major, minor, patch = version_key(base)
    return f"{major}.{minor}.{patch + 1}" if part == "patch" else f"{major}.{minor + 1}.0"


def recalibration_candidate(champion: ModelBundle, labels: MaturedLabels, backtest: BacktestParams,
                            params: ChallengerParams, version: str) -> tuple[ModelBundle, dict[str, Any]]:
    """The champion recalibrated on the latest matured months, refused below the guard's defaults."""
    window = latest_months(labels.frame, backtest.recalibration_months)
    fitted_on = labels.span(window)
    if fitted_on["defaults"] < params.recalibration_min_defaults:
        raise ChallengerRefused(
            f"the latest {backtest.recalibration_months} months of matured labels ({', '.join(fitted_on['months'])}) "
            f"hold {fitted_on['defaults']} defaults; a recalibration needs {params.recalibration_min_defaults} "
            "(challengers.recalibration_min_defaults): fitted on fewer, the backtest's recalibration set the PD level "
            "worse than the champion's. Wait for more labels to mature, or build a retrained challenger")
    try:
        bundle = recalibrated_bundle(champion, window, backtest.min_defaults_for_slope)
    except LabelsError as error:
        raise ChallengerRefused(str(error)) from None
    bundle = replace(bundle, metadata={**bundle.metadata, "version": version})
    refit = {"kind": "recalibrated", "what": "the champion's PD mapped by logit(PD') = a + b logit(PD) "
                                            f"({bundle.metadata['recalibration']['form']})",
             "fitted_on": fitted_on, "fit": bundle.metadata["recalibration"]}
    return bundle, refit


def retrained_candidate(labels: MaturedLabels, featurize: FeaturizeParams, train: TrainParams,
                        version: str) -> tuple[ModelBundle, dict[str, Any]]:
    try:
        result = retrained_bundle(labels.frame, featurize, replace(train, version=version))
    except LabelsError as error:
        raise ChallengerRefused(str(error)) from None
    bundle = result.bundle
    refit = {"kind": "retrained", "what": "the shipped training procedure (leakage guard, candidates compared by "
                                          f"forward CV, calibration, threshold, bands): {bundle.metadata.get('model')}",
             "fitted_on": labels.span(),
             "evaluation": "none out of time: every matured label trained it (the test split too); its evidence is "
                           "the backtest's retrained option and the shadow comparison on live traffic"}
    return bundle, refit


def gate_against_stage(repo: Path, release: ReleaseParams, stage: str, evaluation: Evaluation,
                       label: str) -> GateReport:
    """The release gate of the candidate's evaluation against the version holding `stage` (else the latest
    release)."""
    record = load_record(repo / release.record)
    holder = stage_holders(record).get(stage)
    incumbent = record.release(holder) if holder else record.releases[-1]
    return compare(release_side(repo, incumbent, release), (evaluation.metrics, evaluation.validation),
                   (incumbent.tag, label), release)


@dataclass(frozen=True)
class Settings:
    """Every params block a candidate needs, read once."""

    prepare: PrepareParams
    drift: DriftParams
    featurize: FeaturizeParams
    train: TrainParams
    evaluate: EvaluateParams
    fairness: FairnessParams
    backtest: BacktestParams
    release: ReleaseParams
    challengers: ChallengerParams

    @classmethod
    def read(cls, path: Path = Path("params.yaml")) -> Settings:  # run from the repository's root, as make does
        loaded = load_params(path)
        blocks = {"prepare": PrepareParams, "drift": DriftParams, "featurize": FeaturizeParams, "train": TrainParams,
                  "evaluate": EvaluateParams, "fairness": FairnessParams, "backtest": BacktestParams,
                  "release": ReleaseParams, "challengers": ChallengerParams}
        return cls(**{name: section(loaded, name, block) for name, block in blocks.items()})


def read_labels(settings: Settings) -> MaturedLabels:
    history = pd.concat([pd.read_parquet(path) for path in (settings.prepare.train_path, settings.prepare.test_path)],
                        ignore_index=True)
    drift = settings.drift
    incoming = index_batches(sorted(Path(drift.incoming_dir).glob(drift.incoming_pattern)), "month", drift.day_first)
    return matured_labels(history, list(iter_incoming_windows(incoming, "month")),
                          settings.prepare.performance_window_months)


def write_candidate(folder: Path, bundle: ModelBundle, card: dict[str, Any], evaluation: Evaluation | None,
                    gate: GateReport | None) -> None:
    save_bundle(bundle, folder / "model.skops")
    atomic_write_json(folder / "model_card.json", {**card, "md5": file_digest(folder / "model.skops", "md5")})
    if evaluation is not None:
        atomic_write_metrics(folder / "metrics.json", evaluation.metrics)
        atomic_write_json(folder / "validation.json", evaluation.validation)
    if gate is not None:
        atomic_write_text(folder / "gate.txt", gate.text() + "\n")


def build(kind: str, source: str, repo: Path, settings: Settings) -> list[str]:
    """Build, evaluate (recalibrated), gate (recalibrated) and write one candidate; returns lines to print."""
    champion_source = resolve_model(source, repo)
    champion = load_source(champion_source)
    labels = read_labels(settings)
    releases = load_record(repo / settings.release.record).releases
    latest = releases[-1].version if releases else None
    if kind == "recalibrated":
        version = next_version(champion.version, latest, "patch")
        bundle, refit = recalibration_candidate(champion, labels, settings.backtest, settings.challengers, version)
    else:
        version = next_version(champion.version, latest, "minor")
        bundle, refit = retrained_candidate(labels, settings.featurize, settings.train, version)
    card = {"version": version, "candidate": kind, "champion": {"version": champion.version,
                                                                "source": champion_source.origin,
                                                                "md5": champion_source.md5},
            "refit": refit, "threshold": bundle.threshold, "bands": [band.name for band in bundle.bands],
            "data_window": {"train": bundle.metadata.get("data_window")}}
    folder = Path(settings.challengers.output_dir) / kind
    lines = [f"{kind} candidate v{version} from {champion_source.origin} (v{champion.version}), fitted on "
             f"{refit['fitted_on']['rows']} matured loans of {', '.join(refit['fitted_on']['months'][-3:])}"
             f"{' and earlier' if len(refit['fitted_on']['months']) > 3 else ''} "
             f"({refit['fitted_on']['defaults']} defaults; labels matured by {labels.as_of})"]
    evaluation = gate = None
    if kind == "recalibrated":
        test = pd.read_parquet(settings.featurize.test_path)
        evaluation = evaluate_bundle(bundle, test, default_target(test), settings.evaluate, settings.fairness)
        card["data_window"]["test"] = data_window(test)
        card["test_metrics"] = evaluation.metrics
        gate = gate_against_stage(repo, settings.release, settings.challengers.gate_stage, evaluation,
                                  f"{kind} v{version}")
        lines += [gate.text()]
    else:
        lines.append(refit["evaluation"])
    write_candidate(folder, bundle, card, evaluation, gate)
    lines.append(f"written to {folder}/ (the champion is untouched); serve it in shadow: "
                 f"CREDITRISK_CHALLENGER={folder / 'model.skops'}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m creditrisk.monitoring.challengers",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--from", dest="source", default=None,
                        help="the champion: a model path or a registry stage (default: train.model_path)")
    arguments = parser.parse_args(argv)
    try:
        settings = Settings.read()
        for line in build(arguments.kind, arguments.source or settings.train.model_path, Path("."), settings):
            print(f"{arguments.kind}: {line}")
    except (ChallengerRefused, ArtifactError, ReleaseError, ParamsError, FileNotFoundError) as error:
        print(f"{arguments.kind}: no candidate: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
