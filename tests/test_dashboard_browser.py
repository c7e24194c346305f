"""The dashboard in a real browser: `streamlit run` on loopback, Debian's headless Chromium driven by Selenium.

The browser and driver come from the system packages `chromium` and
`chromium-driver`; Selenium is given both paths, so it never downloads one. The app starts the
way `make dashboard` starts it (the `streamlit` command on the installed
package, from the repository root). Screenshots go to the test's temporary
directory, whose path the test prints, for a human to look at.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.dashboard_support import environment_for, run_small_pipeline
from tooling.ports import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
STREAMLIT = Path(sys.executable).parent / "streamlit"
STARTUP_SECONDS = 60
RENDER_SECONDS = 60

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason="needs Debian's headless browser: apt-get install chromium chromium-driver "
        f"({CHROMIUM} and {CHROMEDRIVER})",
    ),
]


def wait_until_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"streamlit exited with {process.returncode}:\n{log.read_text()}")
        try:
            if requests.get(url, timeout=2).text.strip() == "ok":
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    pytest.fail(f"streamlit did not become healthy at {url} in {STARTUP_SECONDS} s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_small_pipeline(tmp_path_factory.getbasetemp() / "dashboard-pipeline")


@pytest.fixture(scope="module")
def dashboard_url(pipeline: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    environment = {**os.environ, **environment_for(pipeline), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    port = free_port()
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    command = [
        str(STREAMLIT), "run", "dashboard/app.py",
        "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port),
        "--server.fileWatcherType", "none",
    ]
    with open(log, "wb") as output:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/_stcore/health", process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--window-size=1400,2200", f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def wait_for_page(driver, title: str, charts: int, texts: tuple[str, ...] = ()) -> None:
    """Until the page title is drawn, `charts` Plotly SVGs exist, every one of `texts` is on the page (a long
    page draws its later sections after its first charts) and Streamlit has finished the run."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def rendered(current) -> bool:
        headings = [element.text for element in current.find_elements(By.CSS_SELECTOR, "h1")]
        svgs = current.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg")
        running = current.find_elements(By.CSS_SELECTOR, "[data-testid='stStatusWidget']")
        body = current.find_element(By.TAG_NAME, "body").text if texts else ""
        return (title in headings and len(svgs) >= charts and all(text in body for text in texts)
                and not any(w.is_displayed() for w in running))

    WebDriverWait(driver, RENDER_SECONDS, poll_frequency=0.5).until(rendered)


def rendered_text(driver, title: str, charts: int, texts: tuple[str, ...]) -> str:
    """The page's text once `wait_for_page` sees it drawn with every one of `texts`; fails naming the texts the
    page still lacked when the wait ran out."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By

    try:
        wait_for_page(driver, title, charts, texts)
    except TimeoutException:
        pass  # the assertion below names what is missing
    body = driver.find_element(By.TAG_NAME, "body").text
    missing = [text for text in texts if text not in body]
    assert not missing, f"{missing} not visible on the {title} page"
    return body


def save_screenshot(driver, folder: Path, name: str) -> None:
    path = folder / name
    assert driver.save_screenshot(str(path))
    print(f"screenshot: {path}")


def test_overview_renders_key_texts_and_plotly_charts(pipeline, dashboard_url, browser, tmp_path):
    from selenium.webdriver.common.by import By

    metrics = json.loads((pipeline / "reports" / "metrics.json").read_text())
    summary = json.loads((pipeline / "reports" / "drift" / "summary.json").read_text())
    browser.get(dashboard_url)
    body = rendered_text(browser, "Credit-risk model overview", 3, (
        "Model in service", "Out-of-time test metrics", "ROC-AUC", f"{metrics['roc_auc']:.3f}",
        summary["status"].upper(), summary["latest_window"], "What to do next", "Rows scored, last 30 days"))
    plots = browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")
    assert len(plots) >= 3 and all(plot.is_displayed() for plot in plots)
    bars = browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg .barlayer .point")
    assert bars, "the bar charts drew no bars"
    assert "Traceback" not in body
    save_screenshot(browser, tmp_path, "dashboard-overview.png")


def test_drift_page_draws_the_drill_down_and_heatmap(dashboard_url, browser, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(f"{dashboard_url}/drift")
    rendered_text(browser, "Drift", 3, ("most severe first", "Drill-down", "All windows"))
    assert browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .heatmaplayer, .js-plotly-plot image")
    save_screenshot(browser, tmp_path, "dashboard-drift.png")


def test_performance_page_draws_the_pd_level_of_the_labelled_windows(pipeline, dashboard_url, browser, tmp_path):
    from selenium.webdriver.common.by import By

    windows = json.loads((pipeline / "reports" / "drift" / "windows.json").read_text())
    judged = [window for window in windows if window.get("calibration_ratio") is not None]
    browser.get(f"{dashboard_url}/performance")
    rendered_text(browser, "Performance over time", 3,
                  ("PD level", "PD level by labelled window", "warn when the ratio or its inverse reaches"))
    points = browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .scatterlayer .trace .points path")
    assert judged and len(points) >= len(judged)
    save_screenshot(browser, tmp_path, "dashboard-performance.png")


def test_validation_page_shows_rank_ordering_fair_lending_and_the_report(pipeline, dashboard_url, browser, tmp_path):
    from selenium.webdriver.common.by import By

    pack = json.loads((pipeline / "reports" / "validation.json").read_text())
    browser.get(f"{dashboard_url}/validation")
    body = rendered_text(browser, "Validation", 3, ("Rank ordering", "Fair lending", "Regulation B",
                                                     pack["age_check"]["verdict"], "not from credit law",
                                                     "Model report"))
    assert "Traceback" not in body
    buttons = browser.find_elements(By.CSS_SELECTOR, "[data-testid='stDownloadButton'] button")
    assert [button.get_attribute("textContent").strip() for button in buttons] == ["Open the model report (HTML)"]
    heading = next(element for element in browser.find_elements(By.CSS_SELECTOR, "h3")
                   if element.text.startswith("Fair lending"))
    browser.execute_script("arguments[0].scrollIntoView();", heading)
    save_screenshot(browser, tmp_path, "dashboard-validation-fair-lending.png")


def test_models_page_shows_both_constraint_settings_and_the_scorecards_points(pipeline, dashboard_url, browser,
                                                                             tmp_path):
    from selenium.webdriver.common.by import By

    card = json.loads((pipeline / "models" / "model_card.json").read_text())
    browser.get(f"{dashboard_url}/models")
    rendered_text(browser, "Models and versions", 2, (
        "Gradient boosting, monotone", "Gradient boosting, unconstrained", "The points scorecard",
        "a row's points are the sum of its characteristics' lines below"))
    tables = browser.find_elements(By.CSS_SELECTOR, "[data-testid='stDataFrame']")
    assert len(tables) >= 4 and card["benchmark"]["points_table"]
    browser.execute_script("arguments[0].scrollIntoView();", tables[-1])  # the points table, last
    save_screenshot(browser, tmp_path, "dashboard-models.png")


def test_models_page_shows_which_version_holds_each_stage_and_the_assignments(pipeline, dashboard_url, browser,
                                                                              tmp_path):
    from selenium.webdriver.common.by import By

    from creditrisk.releases.record import load_record
    from creditrisk.releases.registry import stage_holders

    record = load_record(pipeline / "releases.yaml")
    browser.get(f"{dashboard_url}/models")
    body = rendered_text(browser, "Models and versions", 1,
                         ("Stages", "In prod", f"v{stage_holders(record)['prod']}", "make promote"))
    assert "Traceback" not in body
    heading = next(element for element in browser.find_elements(By.CSS_SELECTOR, "h3") if element.text == "Stages")
    browser.execute_script("arguments[0].scrollIntoView();", heading)
    save_screenshot(browser, tmp_path, "dashboard-models-stages.png")


def test_challenger_page_shows_the_compare_stages_verdict_and_command(pipeline, dashboard_url, browser, tmp_path):
    from selenium.webdriver.common.by import By

    summary = json.loads((pipeline / "reports" / "compare" / "summary.json").read_text())
    windows = json.loads((pipeline / "reports" / "compare" / "windows.json").read_text())
    browser.get(f"{dashboard_url}/challenger")
    body = rendered_text(browser, "Champion and challenger", 3, (
        summary["verdict"].upper(), f"challenger {summary['challenger_version']} against champion "
        f"{summary['champion_version']}", summary["next_step"], "Band migration", "By window"))
    codes = [element.text for element in browser.find_elements(By.CSS_SELECTOR, "[data-testid='stCode'] code")]
    assert codes == ([summary["promote_command"]] if summary["promote_command"] else [])
    assert any(window["source"] == "prediction_log" for window in windows)
    assert browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .heatmaplayer, .js-plotly-plot image")
    assert "Traceback" not in body
    save_screenshot(browser, tmp_path, "dashboard-challenger.png")
