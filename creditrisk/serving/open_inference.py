"""The Open Inference Protocol (KServe V2) over REST: its payloads for the scoring path.

An inference request carries one input tensor per contract column (shape `[rows]` or `[rows, 1]`,
data flat or nested, the pandas content type `pd` that MLServer's clients send included); it becomes the
same raw frame a `/predict` body becomes, for `validate_batch` and `BatchScorer.score` to take the
one path. The answer carries the requested outputs, one tensor each. The model's metadata (its
inputs and outputs, each with name, datatype and shape, -1 for the batch) is read from the data
contract, so the protocol and the contract cannot drift.

Like the rest of `serving`, this module knows no HTTP: a request it cannot read raises
`MalformedBatch`, with the input, the position and the rule broken.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd
from pandas.api.types import infer_dtype

from creditrisk.data.contract import required_columns, DATE, SPECS
from creditrisk.modeling.reasons import LANGUAGES as REASON_LANGUAGES
from creditrisk.serving.scoring import (
    frame_from_columns,
    MalformedBatch,
    RowError,
    ScoredBatch,
    ValidatedBatch,
)

PLATFORM = "scikit-learn"
# The contract's kinds as tensor datatypes: numbers as 64-bit floats, whole numbers as 64-bit integers,
# category codes and dates as text.
CONTRACT_DATATYPES = {"numeric": "FP64", "integer": "INT64", "category": "BYTES", "datetime": "BYTES",
                      "target": "INT64"}
NUMBER_DATATYPES = frozenset({"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64",
                              "UINT8", "UINT16", "UINT32", "UINT64"})
DATATYPES = NUMBER_DATATYPES | {"BOOL", "BYTES"}
# The JSON values each datatype's data may hold (pandas' inferred kinds; nulls are missing values).
_KINDS = {"number": {"integer", "floating", "mixed-integer-float", "empty"},
          "BYTES": {"string", "empty"}, "BOOL": {"boolean", "empty"}}
# Content types of a request (one input per column: MLServer's pandas codec) and of an input.
REQUEST_CONTENT_TYPES = (None, "pd")
INPUT_CONTENT_TYPES = (None, "np", "str", "datetime")
OUTPUT_DATATYPES = {"pd": "FP64", "band": "BYTES", "decision": "BYTES", "points": "FP64", "reasons": "BYTES",
                    "warnings": "BYTES"}
OUTPUT_DESCRIPTIONS = {
    "pd": "probability of default, P(Pago_atiempo = 0)",
    "band": "risk band, lowest risk first",
    "decision": "approve or reject at the model's threshold",
    "points": "scorecard points, higher is safer",
    "reasons": "the principal reasons, one JSON array of {code, feature, value, text, contribution} per row",
    "warnings": "values the contract treated as missing, one JSON array of {field, value, rule, message} per row",
}


def model_inputs() -> list[str]:
    """The inputs the model reads: every column scoring requires, then the (optional) loan date."""
    return [*required_columns("scoring"), DATE]


def input_tensors() -> list[dict[str, Any]]:
    return [{"name": name, "datatype": CONTRACT_DATATYPES[SPECS[name].kind], "shape": [-1]}
            for name in model_inputs()]


def available_outputs(points: bool, reasons: bool) -> list[str]:
    """The outputs a model gives: points with a scorecard scale, reasons with an explainer."""
    return [name for name in OUTPUT_DATATYPES
            if (name != "points" or points) and (name != "reasons" or reasons)]


def model_metadata(name: str, version: str, outputs: Sequence[str]) -> dict[str, Any]:
    return {"name": name, "versions": [version], "platform": PLATFORM, "inputs": input_tensors(),
            "outputs": [{"name": output, "datatype": OUTPUT_DATATYPES[output], "shape": [-1]}
                        for output in outputs]}


@dataclass(frozen=True)
class InferenceRequest:
    """A parsed inference request: the rows as a raw frame (one column per input), the outputs asked
    for, and the request's own settings."""

    id: str | None
    frame: pd.DataFrame
    outputs: list[str]
    day_first: bool | None = None
    language: str = "en"

    @property
    def reasons(self) -> bool:
        return "reasons" in self.outputs


def _refusal(rule: str, message: str, field: str | None = None, row: int | None = None,
             value: Any = None) -> MalformedBatch:
    shown = None if value is None else (value if isinstance(value, str) else orjson.dumps(value).decode())
    return MalformedBatch("invalid_inference_request", message, [RowError(row, field, shown, rule, message)])


def _json_document(body: bytes) -> Any:
    """The body as JSON. Python's json module writes a missing number as NaN (tritonclient's JSON
    writer too), which strict JSON parsers refuse: such a body is read again, NaN as missing."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise _refusal("malformed_json", f"the body is not valid JSON: {error}") from None


def parse_inference_request(body: bytes, outputs: Sequence[str]) -> InferenceRequest:
    """An inference request body -> its rows and settings; `outputs` are the ones the model gives
    (all of them when the request names none)."""
    document = _json_document(body)
    if not isinstance(document, dict):
        raise _refusal("not_an_inference_request", 'the body must be a JSON object with "inputs"')
    request_id = document.get("id", "")
    if not isinstance(request_id, str):
        raise _refusal("invalid_id", '"id" must be a string', "id", value=request_id)
    parameters = _parameters(document.get("parameters", {}), "parameters")
    content_type = parameters.get("content_type")
    if content_type not in REQUEST_CONTENT_TYPES:
        raise _refusal("unsupported_content_type",
                       f'request content_type {content_type!r} is not supported: send one input per column '
                       '(content_type "pd", or none)', "parameters.content_type", value=content_type)
    frame = _inputs_frame(document.get("inputs"))
    requested = _requested_outputs(document["outputs"], outputs) if "outputs" in document else list(outputs)
    return InferenceRequest(id=request_id if "id" in document else None, frame=frame, outputs=requested,
                            day_first=_optional_boolean(parameters, "day_first"),
                            language=_language(parameters))


def _parameters(value: Any, where: str) -> dict[str, Any]:
    """Parameters are an object of name: value, each value a string, a number or a boolean."""
    if not isinstance(value, dict):
        raise _refusal("invalid_parameters", f'"{where}" must be an object of name: value', where, value=value)
    for name, item in value.items():
        if not isinstance(item, (str, int, float)):  # bool is an int
            raise _refusal("invalid_parameter", f"parameter {name} must be a string, a number or a boolean",
                           f"{where}.{name}", value=item)
    return value


def _optional_boolean(parameters: dict[str, Any], name: str) -> bool | None:
    value = parameters.get(name)
    if value is not None and not isinstance(value, bool):
        raise _refusal("invalid_parameter", f"parameter {name} must be true or false", f"parameters.{name}",
                       value=value)
    return value


def _language(parameters: dict[str, Any]) -> str:
    language = parameters.get("lang", "en")
    if language not in REASON_LANGUAGES:
        raise _refusal("invalid_parameter", f"parameter lang must be one of {list(REASON_LANGUAGES)}",
                       "parameters.lang", value=language)
    return language


def _requested_outputs(requested: Any, available: Sequence[str]) -> list[str]:
    if not isinstance(requested, list) or not all(isinstance(item, dict) for item in requested):
        raise _refusal("invalid_outputs", '"outputs" must be a list of {"name": output}', "outputs", value=requested)
    for position, item in enumerate(requested):
        _parameters(item.get("parameters", {}), f"outputs[{position}].parameters")
    names = [item.get("name") for item in requested]
    unknown = [name for name in names if name not in available]
    if unknown:
        raise _refusal("unknown_output", f"this model has no output {unknown[0]!r}; its outputs are "
                       f"{list(available)}", "outputs", value=unknown[0])
    return list(dict.fromkeys(names))


def _inputs_frame(inputs: Any) -> pd.DataFrame:
    """One column per input tensor, every tensor of the same number of rows."""
    if not isinstance(inputs, list) or not inputs:
        raise _refusal("no_inputs", '"inputs" must be a non-empty list of input tensors, one per column',
                       "inputs")
    columns: dict[str, Any] = {}
    rows: int | None = None
    for position, tensor in enumerate(inputs):
        name, values = _input_column(tensor, position)
        if name in columns:
            raise _refusal("duplicate_input", f"input {name!r} is given more than once", name)
        if rows is not None and len(values) != rows:
            raise _refusal("rows_mismatch", f"input {name!r} has {len(values)} rows, the inputs before it "
                           f"{rows}: every input holds one value per row", name)
        rows = len(values)
        columns[name] = values
    return frame_from_columns(columns, rows or 0)


def _input_column(tensor: Any, position: int) -> tuple[str, np.ndarray]:
    """An input tensor's name and its values, one per row, checked against its shape and datatype."""
    if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
        raise _refusal("invalid_input", f"input {position} must be an object with name, shape, datatype and "
                       "data", f"inputs[{position}]")
    name = tensor["name"]
    parameters = _parameters(tensor.get("parameters", {}), f"{name}.parameters")
    if parameters.get("content_type") not in INPUT_CONTENT_TYPES:
        raise _refusal("unsupported_content_type", f"input {name!r} has content_type "
                       f"{parameters['content_type']!r}; accepted: {[t for t in INPUT_CONTENT_TYPES if t]}",
                       name, value=parameters["content_type"])
    datatype = tensor.get("datatype")
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise _refusal("unknown_datatype", f"input {name!r} has datatype {datatype!r}; the protocol's are "
                       f"{sorted(DATATYPES)}", name, value=datatype)
    rows = _rows_of_shape(name, tensor.get("shape"))
    values = _flat_data(name, tensor.get("data"), rows)
    _check_kind(name, datatype, values)
    return name, values


def _rows_of_shape(name: str, shape: Any) -> int:
    """The rows of a `[rows]` or `[rows, 1]` shape."""
    valid = (isinstance(shape, list) and len(shape) in (1, 2)
             and all(type(size) is int and size >= 0 for size in shape) and shape[1:] in ([], [1]))
    if not valid:
        raise _refusal("invalid_shape", f"input {name!r} has shape {shape!r}; a column's shape is [rows] or "
                       "[rows, 1]", name, value=shape)
    return int(shape[0])


def _flat_data(name: str, data: Any, rows: int) -> np.ndarray:
    """The data as one object array of a value per row: flat, or nested one value per row."""
    if not isinstance(data, list):
        raise _refusal("invalid_data", f'input {name!r} needs "data", a list of values', name)
    if data and type(data[0]) is list:
        if not all(type(row) is list and len(row) == 1 for row in data):
            bad = next(i for i, row in enumerate(data) if type(row) is not list or len(row) != 1)
            raise _refusal("invalid_data", f"input {name!r}: nested data must hold one value per row",
                           name, bad, data[bad])
        data = [row[0] for row in data]
    if len(data) != rows:
        raise _refusal("shape_mismatch", f"input {name!r} has {len(data)} values for shape [{rows}]", name)
    values = np.empty(len(data), dtype=object)
    values[:] = data
    return values


def _check_kind(name: str, datatype: str, values: np.ndarray) -> None:
    """The data holds values of its datatype: numbers, text or booleans (null is a missing value)."""
    expected = _KINDS["number" if datatype in NUMBER_DATATYPES else datatype]
    kind = infer_dtype(values, skipna=True)
    if kind in expected:
        return
    row = next(i for i, value in enumerate(values.tolist()) if value is not None and not _of_kind(value, datatype))
    raise _refusal("datatype_mismatch", f"input {name!r} is {datatype} but row {row} holds "
                   f"{type(values[row]).__name__} {values[row]!r}", name, row, values[row])


def _of_kind(value: Any, datatype: str) -> bool:
    if datatype in NUMBER_DATATYPES:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, str if datatype == "BYTES" else bool)


def inference_response(request: InferenceRequest, batch: ValidatedBatch, scored: ScoredBatch, model_name: str,
                       model_version: str, parameters: dict[str, str | float | bool]) -> dict[str, Any]:
    """The response object: the requested outputs, one tensor of one value per row each."""
    rows = len(batch)
    response: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request.id is not None:
        response["id"] = request.id
    response["parameters"] = parameters
    response["outputs"] = [{"name": name, "datatype": OUTPUT_DATATYPES[name], "shape": [rows],
                            **({"parameters": {"content_type": "str"}} if OUTPUT_DATATYPES[name] == "BYTES" else {}),
                            "data": _output_data(name, batch, scored)}
                           for name in request.outputs]
    return response


def _output_data(name: str, batch: ValidatedBatch, scored: ScoredBatch) -> list[Any]:
    if name == "pd":
        return scored.pds.tolist()
    if name in ("band", "decision"):
        return (scored.bands if name == "band" else scored.decisions).tolist()
    if name == "points":
        assert scored.points is not None
        return [None if math.isnan(points) else points for points in scored.points.tolist()]
    if name == "reasons":
        assert scored.reasons is not None
        return [orjson.dumps(reasons, option=orjson.OPT_SERIALIZE_NUMPY).decode() for reasons in scored.reasons]
    no_warnings = "[]"
    texts = [no_warnings] * len(batch)
    for row, found in batch.warnings.items():
        texts[row] = orjson.dumps(found).decode()
    return texts
