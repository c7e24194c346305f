"""A full disk under the SQLite log, for `test_predlog_faults`: run in a mount namespace of its own.

    unshare [--user --map-root-user] --mount python -m tests.full_disk MODEL_PATH FOLDER

mounts a 1 MB tmpfs on FOLDER (seen by this process only), serves the API with its log there, fills
the disk, and prints one JSON line: what the API answered while the disk was full and after space
came back, and how many rows the log holds.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
from flask.testing import FlaskClient

from app import create_app
from creditrisk.serving import predlog
from tests.api_support import api_config, sample_frame


def post(client: FlaskClient, rows: int, seed: int) -> tuple[int, dict]:
    body = orjson.dumps(sample_frame(rows, seed).astype(object).where(lambda f: f.notna(), None).to_dict("records"))
    response = client.post("/predict", data=body, content_type="application/json")
    return response.status_code, response.get_json()


def fill(folder: Path) -> Path:
    """Write a file until the disk refuses more; returns it."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError:
            pass
    return filler


def main(model_path: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], check=True)
    log_path = folder / "predictions.sqlite"
    client = create_app(api_config(folder, model_path, prediction_log=log_path)).test_client()
    answered = {"before": post(client, 2, 0)}
    filler = fill(folder)
    answered["full_small"] = post(client, 3, 1)
    answered["full_large"] = post(client, 400, 2)
    filler.unlink()
    answered["after"] = post(client, 4, 3)
    result = {name: {"status": status, "error": body.get("error"), "reason": body.get("reason"),
                     "rows": len(body.get("predictions", []))} for name, (status, body) in answered.items()}
    result["logged_rows"] = predlog.count_rows(log_path)
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
