"""The checks both paths run on the started stack: the HEALTHCHECK URLs from the host, the README's curl
examples against the containerised API, the prediction log's owner, the README's `docker compose run --rm
pipeline ...` commands, and every dashboard page in its image.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tooling.container_check.report import Report, step
from tooling.container_check.spec import README, ImageConfig

README_BASE_URL = "http://localhost:8000"

# Every page the dashboard's navigation lists, through Streamlit's AppTest, in the image's
# working directory: an exception fails the check, errors shown on a page are reported.
DASHBOARD_RUN = r'''
import re
from pathlib import Path
from streamlit.testing.v1 import AppTest
pages = re.findall(r"st\.Page\(\s*[\"']([^\"']+)", Path("dashboard/app.py").read_text())
problems = [] if pages else ["no st.Page(...) found in dashboard/app.py"]
for page in pages:
    app = AppTest.from_file("dashboard/app.py", default_timeout=120).switch_page(page).run()
    problems += [f"{page}: {item.value}" for item in app.exception]
    shown = [str(item.value)[:80] for item in app.error]
    print(f"{page}: {len(app.metric)} metrics" + (f", errors shown: {shown}" if shown else ""))
print("\n".join(f"EXCEPTION {problem}" for problem in problems))
raise SystemExit(1 if problems else 0)
'''


@dataclass(frozen=True)
class Example:
    command: str
    documented: str
    language: str


def readme_code_blocks(text: str) -> list[tuple[str, str]]:
    return [(match.group(1), match.group(2)) for match in re.finditer(r"^```(\w*)\n(.*?)^```\s*$", text, re.S | re.M)]


def readme_curl_examples(text: str) -> list[Example]:
    """Each bash block that calls the API, with the response block documented after it."""
    blocks = readme_code_blocks(text)
    return [Example(body.strip(), following, next_language)
            for (language, body), (next_language, following) in zip(blocks, blocks[1:])
            if language == "bash" and body.lstrip().startswith("curl ") and README_BASE_URL in body
            and next_language in ("json", "csv")]


def readme_pipeline_commands(text: str) -> list[list[str]]:
    """The `dvc` arguments of the README's `docker compose run --rm pipeline ...` commands."""
    commands = []
    for language, body in readme_code_blocks(text):
        if language == "bash":
            for line in body.splitlines():
                if line.strip().startswith("docker compose run --rm pipeline "):
                    words = shlex.split(line)
                    commands.append(words[words.index("pipeline") + 1:])
    return commands


class Stack(Protocol):
    """The running services, as the shared checks see them on either path."""

    service_env: dict[str, dict[str, str]]  # service -> its compose `environment`

    def base_url(self, name: str) -> str: ...

    def exec(self, name: str, command: list[str], timeout: float = 180) -> subprocess.CompletedProcess:
        """Run `command` in the service's container, as its image's user."""

    def run_pipeline(self, dvc_args: list[str]) -> subprocess.CompletedProcess:
        """`docker compose run --rm pipeline <dvc_args>`."""

    def image(self, name: str) -> ImageConfig: ...

    def examples_dir(self) -> Path:
        """Where the README's examples find the @files they send (data/incoming/...)."""


def shared_checks(stack: Stack, report: Report) -> None:
    readme = README.read_text()
    step("probe the HEALTHCHECK URLs from the host")
    for name in ("api", "dashboard"):
        path = stack.image(name).healthcheck_path()
        status, _ = http_get(stack.base_url(name) + path)
        report.check(f"GET {path} from the host ({name})", status == 200, str(status))
    status, page = http_get(stack.base_url("dashboard") + "/")
    report.check("dashboard serves its page", status == 200 and "<html" in page.lower(), str(status))
    step("the README's curl examples against the containerised API")
    for example in readme_curl_examples(readme):
        ok, detail = run_curl_example(example, stack.base_url("api"), stack.examples_dir())
        report.check(f"README: curl {describe(example.command)}", ok, detail)
    log_path = stack.service_env["api"].get("CREDITRISK_PREDICTION_LOG") or stack.image("api").env.get(
        "CREDITRISK_PREDICTION_LOG", "")
    owner = stack.exec("api", ["stat", "-c", "%u", log_path], timeout=60)
    report.check("the prediction log is written into the workspace by the API's user",
                 owner.returncode == 0 and owner.stdout.strip() == str(stack.image("api").uid),
                 f"{log_path} owned by uid {owner.stdout.strip() or '?'}, expected {stack.image('api').uid}"
                 + (f" ({owner.stderr.strip()})" if owner.returncode else ""))
    for dvc_args in readme_pipeline_commands(readme):
        step(f"README: docker compose run --rm pipeline {shlex.join(dvc_args)}")
        completed = stack.run_pipeline(dvc_args)
        text = completed.stdout + completed.stderr
        ok = completed.returncode == 0 and ("drift" not in dvc_args or "prediction log" in text and " read" in text)
        report.check(f"README: pipeline {shlex.join(dvc_args)}", ok, "" if ok else text[-2000:])
    step("every dashboard page in its image, on the workspace")
    completed = stack.exec("dashboard", ["python", "-c", DASHBOARD_RUN], timeout=300)
    report.check("every dashboard page runs without an exception", completed.returncode == 0,
                 completed.stdout.strip() or completed.stderr[-2000:])


def describe(command: str) -> str:
    """`curl -X POST .../predict -H 'Content-Type: text/csv' ...` -> `POST /predict (text/csv)`."""
    method = re.search(r"-X\s+(\w+)", command)
    path = re.search(re.escape(README_BASE_URL) + r"(/[^\s'\"]*)", command)
    media = re.search(r"Content-Type:\s*([\w/+.-]+)", command)
    return (f"{method.group(1) if method else 'GET'} {path.group(1) if path else '?'}"
            + (f" ({media.group(1)})" if media else ""))


def http_get(url: str, timeout: float = 10) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")
    except OSError as error:
        return 0, str(error)


def run_curl_example(example: Example, base_url: str, cwd: Path) -> tuple[bool, str]:
    """Send one README example (from `cwd`, where its @files are); compare status and shape."""
    command = example.command.replace(README_BASE_URL, base_url) + " -w '\\n%{http_code}'"
    completed = subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=120)
    if completed.returncode != 0:
        return False, completed.stderr.strip()
    body, _, status = completed.stdout.rpartition("\n")
    if example.language == "csv":
        ok = status == "200" and body.splitlines()[:1] == example.documented.splitlines()[:1]
        return ok, f"{status}, {len(body.splitlines()) - 1} rows"
    documented = json.loads(example.documented)
    expected = documented.get("status", 200)
    try:
        answer = json.loads(body)
    except json.JSONDecodeError:
        return False, f"{status}, not JSON: {body[:300]}"
    same_fields = set(answer) == set(documented)
    return int(status) == expected and same_fields, f"{status} (documented {expected})" + (
        "" if same_fields else f", fields {sorted(answer)} != documented {sorted(documented)}")
