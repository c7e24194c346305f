"""The model report a reviewer reads: one self-contained HTML file (`reports/model_report.html`).

It gathers what the pipeline wrote about the model, in the order a model-risk review (SR 11-7 style) reads it:
purpose and intended use, the data and its quality, the leakage guard, candidates and selection, the validation
pack with its lights, fairness and segments, rank ordering, the scorecard and reasons, known limitations, and
the change since the last release. Figures are SVG inline (`report_figures`), styles are in the page, and
nothing is fetched: the file reads the same offline, attached to an e-mail, or printed to PDF (`print_pdf`).

The change since the last release compares with the latest release in the record whose version is below the
model's (a release's metrics and pack are read from git at its commit, which never change), so cutting the
next release, which appends to the record, does not change this report.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from creditrisk.modeling.bundle import ModelBundle
from creditrisk.modeling.evaluation import Evaluation, EvaluateParams
from creditrisk.modeling.reasons import reason_catalogue
from creditrisk.modeling.report_figures import approval_figure, band_figure, calibration_figure, roc_figure, \
    vintage_figure
from creditrisk.params import configured
from creditrisk.releases.gate import released_metrics
from creditrisk.releases.record import load_releases, Release, ReleaseError
from creditrisk.releases.tags import git as run_git

TEMPLATE = "model_report.html.j2"
SECTIONS = ("purpose", "data", "leakage", "selection", "validation", "fairness", "rank-ordering", "scorecard",
            "limitations", "changes")
COMPARED_METRICS = ("roc_auc", "pr_auc", "ks", "brier", "log_loss", "ece", "pd_mean", "default_rate", "red_lights")
CHROMIUM = Path("/usr/bin/chromium")


@dataclass(frozen=True)
class ReportInputs:
    """The other stages' reports the model report reads, and where the release record and history are."""

    data_quality: Path
    vintages: Path
    leakage: Path
    comparison: Path
    release_record: Path
    metrics_path: str
    validation_path: str
    repo: Path


def _json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def release_change(inputs: ReportInputs, version: str, metrics: dict[str, Any],
                   validation: dict[str, Any]) -> dict[str, Any]:
    """The latest release below `version` and the metrics and red tests then and now."""
    releases: Sequence[Release] = load_releases(inputs.release_record) if inputs.release_record.is_file() else []
    earlier = [release for release in releases if _version_key(release.version) < _version_key(version)]
    if not earlier:
        return {"release": None, "note": f"no release before version {version} in {inputs.release_record.name}"}
    release = earlier[-1]
    change: dict[str, Any] = {"release": release.tag, "commit": release.commit[:12], "date": release.date,
                              "summary": release.summary, "rows": [], "note": ""}
    try:
        before = released_metrics(inputs.repo, release, inputs.metrics_path)
    except (ReleaseError, OSError, json.JSONDecodeError) as error:
        change["note"] = f"the release's metrics could not be read here ({error}); compare with `dvc metrics diff`"
        return change
    for name in COMPARED_METRICS:
        then, now = before.get(name), metrics.get(name)
        change["rows"].append({"metric": name, "release": then, "now": now,
                               "change": now - then if isinstance(then, (int, float)) and isinstance(now, (int, float))
                               else None})
    shown = run_git(inputs.repo, "show", f"{release.commit}:{inputs.validation_path}", check=False)
    red_then = set(json.loads(shown.stdout).get("red", [])) if shown.returncode == 0 else set()
    change["new_red"] = sorted(set(validation.get("red", [])) - red_then)
    change["no_longer_red"] = sorted(red_then - set(validation.get("red", [])))
    return change


def _figures(evaluation: Evaluation, vintages: pd.DataFrame | None) -> dict[str, str]:
    pack = evaluation.validation
    figures = {
        "roc": roc_figure(evaluation.plots["roc"], pack["discrimination"]["roc_auc"]),
        "calibration": calibration_figure(pack["calibration_curve"]),
        "bands": band_figure(pack["bands"], pack["rank_ordering"]["pairs"]),
    }
    age = (pack.get("fairness") or {}).get("tables", {}).get("age_band")
    if age:
        figures["approval"] = approval_figure(age, pack["fairness"]["levels"]["air_red_below"])
    if vintages is not None and not vintages.empty:
        figures["vintages"] = vintage_figure(vintages)
    return figures


def report_context(bundle: ModelBundle, evaluation: Evaluation, card: dict[str, Any],
                   inputs: ReportInputs) -> dict[str, Any]:
    """Everything the template shows; every number as the stages wrote it."""
    vintages = pd.read_csv(inputs.vintages) if inputs.vintages.is_file() else None
    catalogue = reason_catalogue()
    reference = (card.get("reasons") or {}).get("reference_applicant") or {}
    return {
        "card": card,
        "metrics": evaluation.metrics,
        "pack": evaluation.validation,
        "quality": _json(inputs.data_quality),
        "leakage": _json(inputs.leakage),
        "comparison": _json(inputs.comparison),
        "vintages": None if vintages is None else vintages.to_dict(orient="records"),
        "reasons": [{"input": name, "value": value, "code": catalogue[name].code if name in catalogue else "",
                     "text": catalogue[name].text["en"] if name in catalogue else ""}
                    for name, value in reference.items()],
        "figures": _figures(evaluation, vintages),
        "change": release_change(inputs, bundle.version, evaluation.metrics, evaluation.validation),
        "sections": SECTIONS,
    }


def _number(value: Any, pattern: str = "{:.3f}") -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    return pattern.format(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def _value(value: Any) -> str:
    """A reference value as a reader writes it: 1,920,000 and 0.0556, not 1.92e+06 and 0.0555627."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "" if value is None else str(value)
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                                     lstrip_blocks=True)
    environment.filters["num"] = _number
    environment.filters["value"] = _value
    environment.filters["pct"] = lambda value, digits=2: _number(value, f"{{:.{digits}%}}")
    environment.filters["p"] = lambda value: _number(value, "{:.3g}")
    environment.filters["signed"] = lambda value: _number(value, "{:+.4f}")
    return environment


def render_report(context: dict[str, Any]) -> str:
    template = resources.files("creditrisk.modeling").joinpath(TEMPLATE).read_text("utf-8")
    return _environment().from_string(template).render(**context)


def build_report(bundle: ModelBundle, evaluation: Evaluation, card: dict[str, Any], inputs: ReportInputs) -> str:
    """The report's HTML."""
    return render_report(report_context(bundle, evaluation, card, inputs))


def print_pdf(html: Path, pdf: Path, chromium: Path = CHROMIUM, timeout: float = 120.0) -> Path:
    """Print the report to PDF with headless Chromium (A4, no header or footer)."""
    if not chromium.exists():
        raise FileNotFoundError(f"{chromium} not found: install Chromium (Debian: apt-get install chromium) to print "
                                "the report to PDF")
    pdf.parent.mkdir(parents=True, exist_ok=True)
    partial = pdf.with_name(pdf.name + ".partial")
    done = subprocess.run([str(chromium), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-background-networking", "--no-pdf-header-footer",
                           f"--print-to-pdf={partial}", html.resolve().as_uri()],
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 or not partial.is_file() or partial.stat().st_size == 0:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"Chromium could not print {html} to PDF (exit {done.returncode}): {done.stderr[-500:]}")
    shutil.move(partial, pdf)
    return pdf


def main(argv: Sequence[str] | None = None) -> int:
    """`make report`: name the report and, where Chromium is installed, print the PDF beside it."""
    parser = argparse.ArgumentParser(prog="python -m creditrisk.modeling.model_report")
    parser.add_argument("report", type=Path, nargs="?", help="default: evaluate.report_path of params.yaml")
    parser.add_argument("--chromium", type=Path, default=CHROMIUM)
    arguments = parser.parse_args(argv)
    arguments.report = arguments.report or Path(configured(EvaluateParams).report_path)
    if not arguments.report.is_file():
        print(f"{arguments.report} does not exist: run `dvc repro evaluate`", file=sys.stderr)
        return 1
    print(f"report: {arguments.report.resolve()}")
    if not arguments.chromium.exists():
        print(f"no PDF: {arguments.chromium} is not installed")
        return 0
    print(f"pdf:    {print_pdf(arguments.report, arguments.report.with_suffix('.pdf'), arguments.chromium).resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
