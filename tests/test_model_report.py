"""The model report: one self-contained HTML file with every section, rendered in headless Chromium and printed to PDF."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from creditrisk.modeling.evaluation import evaluate_bundle, model_card, EvaluateParams
from creditrisk.modeling.fairness import FairnessParams
from creditrisk.modeling.features import default_target
from creditrisk.modeling.model_report import build_report, print_pdf, release_change, ReportInputs, SECTIONS
from creditrisk.modeling.report_figures import roc_figure
from creditrisk.modeling.training import data_window
from tests.dashboard_support import run_small_pipeline
from tests.loan_frames import fitted_bundle, make_loans
from tests.shipped import REPO_ROOT, shipped

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Anything that would make a browser fetch: an absolute or protocol-relative URL, a link or source that is not a
# fragment of the page, a CSS import or url() (the SVGs' own clip paths are fragments: url(#...)).
EXTERNAL = re.compile(r"""(https?:|ftp:|//[a-z0-9.-]+\.[a-z]{2,}|(src|href)\s*=\s*["'](?!#|data:)|@import|url\((?!#))""",
                      re.IGNORECASE)
needs_chromium = pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                                    reason="needs Debian's headless browser: apt-get install chromium chromium-driver")


def committed_inputs(record: Path) -> ReportInputs:
    """The other stages' committed reports (what evaluate reads beside the model), with a given release record."""
    reports = REPO_ROOT / "reports"
    return ReportInputs(reports / "data_quality.json", reports / "vintages.csv", reports / "leakage.json",
                        reports / "model_comparison.json", record, "reports/metrics.json", "reports/validation.json",
                        REPO_ROOT)


def test_the_report_holds_every_section_inline_figures_and_no_address(tmp_path: Path) -> None:
    loans = make_loans(2500, seed=21)
    train, test = loans.iloc[:1800], loans.iloc[1800:].reset_index(drop=True)
    bundle = fitted_bundle(train, "logistic")
    bundle.metadata.update({"version": "9.9.9", "train_default_rate": float(default_target(train).mean()),
                            "development_roc_auc": 0.7})
    evaluation = evaluate_bundle(bundle, test, default_target(test), shipped(EvaluateParams, importance_repeats=1),
                                 shipped(FairnessParams, bootstrap_samples=10))
    card = model_card(bundle, evaluation, data_window(test))
    html = build_report(bundle, evaluation, card, committed_inputs(tmp_path / "no-record.yaml"))
    for section in SECTIONS:
        assert f'<section id="{section}">' in html, section
    assert EXTERNAL.search(html) is None, EXTERNAL.search(html)
    assert html.count("<svg") == 5  # vintages, ROC, calibration, approval by age band, bands
    assert "Regulation B" in html and "four-fifths" in html and "not from credit law" in html
    assert "no release before version 9.9.9" in html
    assert html == build_report(bundle, evaluation, card, committed_inputs(tmp_path / "no-record.yaml"))


def test_the_change_since_the_last_release_skips_releases_at_or_above_the_models_version(tmp_path: Path) -> None:
    record = tmp_path / "releases.yaml"
    record.write_text("releases:\n"
                      "- {version: 1.0.0, commit: " + "a" * 40 + ", date: '2026-01-01T00:00:00+00:00', summary: first}\n"
                      "- {version: 1.1.0, commit: " + "b" * 40 + ", date: '2026-02-01T00:00:00+00:00', summary: next}\n")
    inputs = committed_inputs(record)
    change = release_change(inputs, "1.1.0", {"roc_auc": 0.7}, {"red": []})
    assert change["release"] == "v1.0.0"  # v1.1.0 is this model's own version, appended when it is released
    assert "could not be read" in change["note"] and change["rows"] == []  # no such commit in this history
    assert release_change(inputs, "1.0.0", {}, {})["release"] is None


def test_a_figure_is_byte_stable_svg_that_names_no_address() -> None:
    curve = pd.DataFrame({"fpr": np.linspace(0, 1, 11), "tpr": np.sqrt(np.linspace(0, 1, 11))})
    first, second = roc_figure(curve, 0.71), roc_figure(curve, 0.71)
    assert first == second and first.startswith("<svg") and "http" not in first and "<metadata>" not in first


@pytest.mark.slow
@pytest.mark.browser
@needs_chromium
def test_the_pipelines_report_renders_in_chromium_fetches_nothing_and_prints_to_pdf(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    pipeline = run_small_pipeline(tmp_path_factory.getbasetemp() / "dashboard-pipeline")
    report = pipeline / "reports" / "model_report.html"
    html = report.read_text()
    assert EXTERNAL.search(html) is None, EXTERNAL.search(html)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--window-size=1150,1600", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        driver.get(report.resolve().as_uri())
        time.sleep(0.5)
        for section in SECTIONS:
            assert driver.find_element(By.ID, section).is_displayed(), section
        assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
        figures = driver.find_elements(By.CSS_SELECTOR, "figure svg")
        assert len(figures) == 5 and all(figure.size["height"] > 100 for figure in figures)
        assert "Traceback" not in driver.find_element(By.TAG_NAME, "body").text
        screenshot = tmp_path / "model-report.png"
        assert driver.save_screenshot(str(screenshot))
        print(f"screenshot: {screenshot}")
    finally:
        driver.quit()
    pdf = print_pdf(report, tmp_path / "model_report.pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 50_000
    print(f"pdf: {pdf}")
