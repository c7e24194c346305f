"""Fast JSON responses (orjson, numpy-aware)."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response

JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload, option=JSON_OPTIONS), status=status,
                    mimetype="application/json")
