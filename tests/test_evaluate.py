"""Out-of-time evaluation, the model card, and the featurize -> train -> evaluate stages under DVC."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.shipped import shipped
from creditrisk.modeling.bundle import RiskBand
from creditrisk.modeling.evaluation import (
    confusion_rows,
    evaluate_bundle,
    model_card,
    pd_distribution,
    roc_points,
    EvaluateParams,
)
from creditrisk.modeling.features import candidate_columns, default_target, FeaturizeParams
from creditrisk.modeling.leakage import feature_set, guard_config, screen_leakage
from creditrisk.modeling.train_params import TrainParams
from creditrisk.modeling.training import train_bundle
from tests.loan_frames import make_loans, split_out_of_time

REPO = Path(__file__).resolve().parents[1]
INTERFACE_KEYS = {"roc_auc", "pr_auc", "ks", "gini", "brier", "log_loss", "accuracy", "precision", "recall", "f1",
                  "ece", "default_rate", "pd_mean", "threshold", "rows", "bands"}
PLOT_FILES = ("roc", "precision_recall", "calibration", "confusion", "pd_distribution", "importance")


@pytest.fixture(scope="module")
def evaluated():
    train, test = split_out_of_time(make_loans(2000, seed=31))
    y = default_target(train)
    guard = guard_config(shipped(FeaturizeParams))
    features = feature_set(screen_leakage(train, y, candidate_columns(train, engineered=True), guard))
    params = shipped(TrainParams, version="9.9.9", candidates=["logistic"], cv_folds=3,
                     calibration="sigmoid").with_estimator("logistic", C=0.5)
    bundle = train_bundle(train, y, features, params).bundle
    evaluation = evaluate_bundle(bundle, test, default_target(test),
                                 shipped(EvaluateParams, importance_repeats=1, seed=3))
    return bundle, test, evaluation


def test_metrics_follow_the_interface(evaluated):
    bundle, test, evaluation = evaluated
    metrics = evaluation.metrics
    assert INTERFACE_KEYS <= set(metrics)
    assert metrics["rows"] == len(test)
    assert metrics["default_rate"] == pytest.approx(default_target(test).mean(), abs=1e-6)
    assert metrics["threshold"] == pytest.approx(bundle.threshold, abs=1e-6)
    assert set(metrics["bands"]) == {band.name for band in bundle.bands}
    assert sum(band["share"] for band in metrics["bands"].values()) == pytest.approx(1.0, abs=1e-5)
    assert isinstance(evaluation.band_warnings, list)
    assert 0 <= metrics["ece"] <= 1 and 0 < metrics["pd_mean"] < 1
    json.dumps(metrics, allow_nan=False)  # no NaN sneaks into the committed report


def test_plot_tables(evaluated):
    bundle, test, evaluation = evaluated
    plots = evaluation.plots
    assert set(plots) == set(PLOT_FILES)
    assert list(plots["roc"].columns) == ["fpr", "tpr"] and len(plots["roc"]) <= 200
    assert plots["roc"].iloc[0].tolist() == [0.0, 0.0] and plots["roc"].iloc[-1].tolist() == [1.0, 1.0]
    assert len(plots["confusion"]) == len(test)
    assert set(plots["importance"]["feature"]) == set(bundle.features)
    assert "puntaje" not in set(plots["importance"]["feature"])
    assert plots["calibration"]["rows"].sum() == len(test)


def test_model_card_holds_training_facts_and_test_metrics(evaluated):
    bundle, _, evaluation = evaluated
    card = model_card(bundle, evaluation, {"start": "a", "end": "b"})
    assert card["version"] == "9.9.9"
    assert card["test_metrics"]["roc_auc"] == evaluation.metrics["roc_auc"]
    assert "puntaje" in card["dropped_leaks"]
    assert card["features"] == bundle.features and card["cv"]
    assert card["data_window"]["test"] == {"start": "a", "end": "b"}
    json.dumps(card, allow_nan=False)


def test_pd_distribution_shares_sum_to_one_per_class():
    rng = np.random.default_rng(0)
    proba = rng.beta(1, 20, 1000)
    y = (rng.random(1000) < proba).astype(int)
    table = pd_distribution(y, proba, bins=10)
    assert table["share_default"].sum() == pytest.approx(1.0, abs=1e-5)
    assert table["share_paid"].sum() == pytest.approx(1.0, abs=1e-5)


def test_confusion_rows_and_thinned_roc():
    y = np.array([0, 1, 1, 0])
    rows = confusion_rows(y, np.array([0.1, 0.9, 0.2, 0.6]), threshold=0.5)
    assert rows.values.tolist() == [["paid", "paid"], ["default", "default"], ["default", "paid"],
                                    ["paid", "default"]]
    rng = np.random.default_rng(1)
    roc = roc_points(rng.integers(0, 2, 5000), rng.random(5000), points=50)
    assert len(roc) <= 50 and roc["fpr"].is_monotonic_increasing


def test_broken_band_order_on_test_is_warned(evaluated):
    bundle, test, _ = evaluated
    proba = bundle.predict_pd(test)
    # bands whose order the test split contradicts: riskiest defaults put in the first band
    inverted = type(bundle)(pipeline=bundle.pipeline, threshold=bundle.threshold, features=bundle.features,
                            bands=[RiskBand("A", float(np.quantile(proba, 0.5))), RiskBand("B", 1.0)],
                            metadata=bundle.metadata)
    flipped = test.copy()
    flipped["Pago_atiempo"] = np.where(proba >= np.quantile(proba, 0.5), 1.0, 0.0)
    result = evaluate_bundle(inverted, flipped, default_target(flipped), shipped(EvaluateParams, importance_repeats=1))
    assert result.metrics["bands"]["B"]["default_rate"] == 0.0
    assert any("band B" in warning for warning in result.band_warnings)
    card = model_card(inverted, result, {})
    assert any(warning.startswith("out-of-time test: band B") for warning in card["band_warnings"])


# ------------------------------------------------------------------ the stages under DVC


def _small_project(root: Path) -> dict:
    """A DVC project with this working tree's featurize/train/evaluate stages (the library, the stage scripts
    and their launcher as they are here), plots and offline template; prepare's reports are the committed ones."""
    for package in ("creditrisk", "stages"):
        shutil.copytree(REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    pipeline = yaml.safe_load((REPO / "dvc.yaml").read_text())
    stages = {name: pipeline["stages"][name] for name in ("featurize", "train", "evaluate")}
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages, "plots": pipeline["plots"]}, sort_keys=False))
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params = {name: params[name] for name in ("prepare", "featurize", "train", "evaluate", "fairness", "release")}
    params["train"].update(candidates=["logistic", "hist_gradient_boosting"], cv_folds=3)
    params["train"]["estimators"]["hist_gradient_boosting"].update(max_iter=30)
    params["evaluate"].update(importance_repeats=1)
    params["fairness"].update(bootstrap_samples=20)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for report in ("quality_report", "vintages_report"):  # prepare's reports, which the model report reads
        (root / params["prepare"][report]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / params["prepare"][report], root / params["prepare"][report])
    train, test = split_out_of_time(make_loans(1500, seed=41))
    for frame, key in ((train, "train_path"), (test, "test_path")):
        path = root / params["prepare"][key]
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(path, index=False)
    return params


def _environment(root: Path) -> dict[str, str]:
    """The stages run the copy under test, not the editable install: this interpreter's environment (which
    stages/python.sh prefers) with the project root first on the path (PYTHONPATH, and `-m` puts the working
    directory first too). DVC keeps its site cache beside the project and sends no analytics."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "VIRTUAL_ENV": sys.prefix, "PYTHONPATH": str(root), "DVC_NO_ANALYTICS": "1",
            "DVC_SITE_CACHE_DIR": str(root.with_name(f"{root.name}-dvc-site-cache"))}


def _dvc(root: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([str(Path(sys.executable).parent / "dvc"), *args], cwd=root, env=_environment(root),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"dvc {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def dvc_project(tmp_path_factory) -> tuple[Path, dict, subprocess.CompletedProcess]:
    root = tmp_path_factory.mktemp("pipeline")
    params = _small_project(root)
    _dvc(root, "init", "--no-scm", "-q")
    _dvc(root, "config", "core.analytics", "false")
    (root / ".dvc" / "plots").mkdir(exist_ok=True)
    shutil.copy(REPO / ".dvc" / "plots" / "offline.html", root / ".dvc" / "plots" / "offline.html")
    _dvc(root, "config", "plots.html_template", "plots/offline.html")
    return root, params, _dvc(root, "repro")


@pytest.mark.slow
def test_the_stages_run_the_code_under_test(dvc_project):
    root, _, _ = dvc_project
    shown = subprocess.run(["sh", "stages/python.sh", "-c", "import creditrisk, stages; print(creditrisk.__file__);"
                            " print(stages.__file__)"], cwd=root, env=_environment(root), capture_output=True,
                           text=True, timeout=60, check=True).stdout.split()
    assert len(shown) == 2 and all(Path(path).is_relative_to(root) for path in shown), shown


@pytest.mark.slow
def test_dvc_repro_runs_featurize_train_evaluate(dvc_project):
    root, params, repro = dvc_project
    assert all(f"Running stage '{s}'" in repro.stdout for s in ("featurize", "train", "evaluate"))
    leakage = json.loads((root / params["featurize"]["leakage_report"]).read_text())
    assert set(leakage["dropped"]) == {"puntaje", "internal_to_bureau_score"}
    assert leakage["rows"] == len(pd.read_parquet(root / params["prepare"]["train_path"]))  # train split only
    comparison = json.loads((root / params["train"]["comparison_json"]).read_text())
    assert [(m["model"], m["monotone"]) for m in comparison["models"]] == [
        ("logistic", True), ("logistic", False), ("hist_gradient_boosting", True), ("hist_gradient_boosting", False)]
    assert (root / params["train"]["comparison_csv"]).read_text().startswith("model,")
    assert (root / params["train"]["model_path"]).exists()
    assert (root / params["train"]["scorecard_path"]).exists()  # the benchmark, though no candidate here
    card = json.loads((root / params["evaluate"]["card_path"]).read_text())
    assert card["version"] == params["train"]["version"]
    assert card["benchmark"]["model"] == "scorecard" and card["benchmark"]["points_table"]
    for name in PLOT_FILES:
        assert (root / params["evaluate"]["plots_dir"] / f"{name}.csv").exists()
    report = (root / params["evaluate"]["report_path"]).read_text()
    assert '<section id="changes">' in report and "no release before version" in report
    shown = json.loads(_dvc(root, "metrics", "show", "--json").stdout)
    assert "roc_auc" in json.dumps(shown)
    assert "didn't change" in _dvc(root, "repro").stdout  # nothing reruns: the stages are deterministic


@pytest.mark.slow
def test_plots_page_has_no_cdn_scripts(dvc_project):
    root, _, _ = dvc_project
    _dvc(root, "plots", "show", "-o", "plots_page")
    page = (root / "plots_page" / "index.html").read_text()
    assert not re.search(r"<script[^>]+src\s*=\s*[\"']?(https?:)?//", page, re.IGNORECASE)
    assert "window.vegaEmbed" in page and page.count("vegaEmbed('#") == len(PLOT_FILES)


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                    reason=f"needs Debian's headless browser ({CHROMIUM} and {CHROMEDRIVER})")
def test_plots_page_draws_every_plot_in_a_browser_without_network(dvc_project, tmp_path: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    root, _, _ = dvc_project
    _dvc(root, "plots", "show", "-o", "browser_page")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--proxy-server=127.0.0.1:9", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(argument)  # the proxy points nowhere: any network fetch would fail
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        driver.get((root / "browser_page" / "index.html").as_uri())
        figures = driver.execute_script("return document.querySelectorAll('.plot').length")
        drawn = driver.execute_script(
            "return Array.from(document.querySelectorAll('.plot')).filter(p => p.querySelector('svg .series')).length")
        failures = driver.execute_script("return Array.from(document.querySelectorAll('.plot pre'))"
                                         ".map(e => e.textContent)")
    finally:
        driver.quit()
    assert figures == len(PLOT_FILES)
    assert failures == []
    assert drawn == len(PLOT_FILES)
