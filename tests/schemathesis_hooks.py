"""Schemathesis hooks for the API's fuzz test: how a generated batch goes on the wire as CSV.

The OpenAPI document describes a text/csv body as the same array of records as JSON; this serializer
writes such an array as the export does: a header row of every column any record has, then one line per
record, a missing or null value as an empty cell, numbers in their shortest round-trip form.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import schemathesis


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


@schemathesis.serializer("text/csv")
def records_as_csv(context: Any, value: Any) -> bytes:
    records = value if isinstance(value, list) else []
    header = list(dict.fromkeys(name for record in records if isinstance(record, dict) for name in record))
    output = io.StringIO()
    writer = csv.writer(output, lineterminator="\r\n")  # quotes any value holding a line break
    writer.writerow(header)
    for record in records:
        writer.writerow([_cell(record.get(name)) for name in header])
    return output.getvalue().encode("utf-8")
