"""gunicorn logger whose access log lines are JSON objects (one per request)."""

from __future__ import annotations

import os
import traceback
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from gunicorn.glogging import Logger

if TYPE_CHECKING:
    from gunicorn.http.message import Request
    from gunicorn.http.wsgi import Response


def access_record(atoms: dict[str, object], duration_us: int) -> dict[str, object]:
    """The fields of one access-log line, from gunicorn's atoms."""
    return {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "remote_addr": atoms.get("h"),
        "method": atoms.get("m"),
        "path": atoms.get("U"),
        "query": atoms.get("q") or "",
        "protocol": atoms.get("H"),
        "status": int(str(atoms.get("s") or 0)),
        "bytes": atoms.get("B"),
        "duration_ms": round(duration_us / 1000, 3),
        "request_id": atoms.get("{x-request-id}o"),
        "user_agent": atoms.get("a"),
        "pid": os.getpid(),
    }


class JsonAccessLogger(Logger):
    def access(self, resp: Response, req: Request, environ: dict[str, Any], request_time: timedelta) -> None:
        if not self.access_log_enabled:
            return
        try:
            atoms = self.atoms(resp, req, environ, request_time)
            duration_us = request_time.seconds * 1_000_000 + request_time.microseconds
            self.access_log.info(orjson.dumps(access_record(atoms, duration_us)).decode())
        except Exception:
            self.error(traceback.format_exc())
