"""The Open Inference Protocol (KServe V2) over REST: its payloads for the scoring path.

An inference request carries one input tensor per contract column (shape `[rows]` or `[rows, 1]`,
data flat or nested, the pandas content type `pd` that MLServer's clients send included); it becomes the
same raw frame a `/predict` body becomes, for `validate_batch` and `BatchScorer.score` to take the
one path. The answer carries the requested outputs, one tensor each. The model's metadata (its
inputs and outputs, each with name, datatype and shape, -1 for the batch) is read from the data
contract, so the protocol and the contract cannot drift.

Tensors may also travel as raw bytes after the JSON (Triton's binary tensor data extension, which
tritonclient uses by default): an input with `binary_data_size` takes its bytes from there, and an output
asked for with `binary_data` (or every output, with the request's `binary_data_output`) is answered so.

Like the rest of `serving`, this module knows no HTTP: a request it cannot read raises
`MalformedBatch`, with the input, the position and the rule broken.
"""

from __future__ import annotations

import json
import struct
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
# The binary tensor data extension: fixed-size elements little-endian; BYTES as 4-byte length + bytes.
BINARY_EXTENSION = "binary_tensor_data"
BINARY_ELEMENTS = {"FP16": "<f2", "FP32": "<f4", "FP64": "<f8", "INT8": "i1", "INT16": "<i2", "INT32": "<i4",
                   "INT64": "<i8", "UINT8": "u1", "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8", "BOOL": "?"}
_LENGTH = struct.Struct("<I")
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
    binary_outputs: frozenset[str] = frozenset()

    @property
    def reasons(self) -> bool:
        return "reasons" in self.outputs


def _refusal(rule: str, message: str, where: str | None = None, row: int | None = None,
             value: Any = None) -> MalformedBatch:
    """A request the protocol does not allow: the rule, and where (input or field, row, value) it breaks."""
    shown = None if value is None else (value if isinstance(value, str) else json.dumps(value))
    return MalformedBatch("invalid_inference_request", message, [RowError(row, where, shown, rule, message)])


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


def parse_inference_request(body: bytes, outputs: Sequence[str], json_length: int | None = None) -> InferenceRequest:
    """An inference request body -> its rows and settings; `outputs` are the ones the model gives (all of
    them when the request names none). `json_length` (the Inference-Header-Content-Length header) says
    where the JSON ends and the inputs' binary data begins."""
    if json_length is not None and not 0 <= json_length <= len(body):
        raise _refusal("invalid_header_length", f"the JSON header length {json_length} is not within the body's "
                       f"{len(body)} bytes")
    document = _json_document(body if json_length is None else body[:json_length])
    if not isinstance(document, dict):
        raise _refusal("not_an_inference_request", 'the body must be a JSON object with "inputs"')
    parameters = _parameters(document.get("parameters", {}), "parameters")
    content_type = parameters.get("content_type")
    if content_type not in REQUEST_CONTENT_TYPES:
        raise _refusal("unsupported_content_type",
                       f'request content_type {content_type!r} is not supported: send one input per column '
                       '(content_type "pd", or none)', "parameters.content_type", value=content_type)
    blobs = _BinaryData(memoryview(body)[json_length:] if json_length is not None else memoryview(b""))
    frame = _inputs_frame(document.get("inputs"), blobs)
    blobs.check_consumed()
    requested = document.get("outputs", [{"name": name} for name in outputs])
    names, binary = _requested_outputs(requested, outputs, _optional_boolean(parameters, "binary_data_output"))
    return InferenceRequest(id=_request_id(document), frame=frame, outputs=names,
                            day_first=_optional_boolean(parameters, "day_first"), language=_language(parameters),
                            binary_outputs=binary)


def _request_id(document: dict[str, Any]) -> str | None:
    request_id = document.get("id")
    if "id" in document and not isinstance(request_id, str):
        raise _refusal("invalid_id", '"id" must be a string', "id", value=request_id)
    return request_id


class _BinaryData:
    """The bytes after the JSON, taken in the order of the inputs that declare a `binary_data_size`."""

    def __init__(self, data: memoryview) -> None:
        self.data = data
        self.offset = 0

    def take(self, name: str, size: Any) -> memoryview:
        if type(size) is not int or size < 0 or self.offset + size > len(self.data):
            raise _refusal("invalid_binary_data", f"input {name!r} declares binary_data_size {size!r}, but "
                           f"{len(self.data) - self.offset} bytes of binary data are left", name, value=size)
        chunk = self.data[self.offset:self.offset + size]
        self.offset += size
        return chunk

    def check_consumed(self) -> None:
        if self.offset != len(self.data):
            raise _refusal("invalid_binary_data", f"{len(self.data) - self.offset} bytes after the JSON belong to "
                           "no input (each binary input declares its binary_data_size)")


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
        raise _refusal("invalid_parameter", f"parameter {name} must be true or false", name, value=value)
    return value


def _language(parameters: dict[str, Any]) -> str:
    language = parameters.get("lang", "en")
    if language not in REASON_LANGUAGES:
        raise _refusal("invalid_parameter", f"parameter lang must be one of {list(REASON_LANGUAGES)}",
                       "parameters.lang", value=language)
    return language


def _requested_outputs(requested: Any, available: Sequence[str], all_binary: bool | None
                       ) -> tuple[list[str], frozenset[str]]:
    """The outputs asked for, in order, and those to answer as binary data."""
    if not isinstance(requested, list) or not all(isinstance(item, dict) for item in requested):
        raise _refusal("invalid_outputs", '"outputs" must be a list of {"name": output}', "outputs", value=requested)
    names, binary = [], set()
    for position, item in enumerate(requested):
        name = item.get("name")
        if not isinstance(name, str) or name not in available:
            raise _refusal("unknown_output", f"this model has no output {name!r}; its outputs are "
                           f"{list(available)}", "outputs", value=name)
        wanted = _optional_boolean(_parameters(item.get("parameters", {}), f"outputs[{position}].parameters"),
                                   "binary_data")
        if wanted or (wanted is None and all_binary):
            binary.add(name)
        names.append(name)
    return list(dict.fromkeys(names)), frozenset(binary)


def _inputs_frame(inputs: Any, blobs: _BinaryData) -> pd.DataFrame:
    """One column per input tensor, every tensor of the same number of rows."""
    if not isinstance(inputs, list) or not inputs:
        raise _refusal("no_inputs", '"inputs" must be a non-empty list of input tensors, one per column',
                       "inputs")
    columns: dict[str, Any] = {}
    rows: int | None = None
    for position, tensor in enumerate(inputs):
        name, values = _input_column(tensor, position, blobs)
        if name in columns:
            raise _refusal("duplicate_input", f"input {name!r} is given more than once", name)
        if rows is not None and len(values) != rows:
            raise _refusal("rows_mismatch", f"input {name!r} has {len(values)} rows, the inputs before it "
                           f"{rows}: every input holds one value per row", name)
        rows = len(values)
        columns[name] = values
    return frame_from_columns(columns, rows or 0)


def _input_column(tensor: Any, position: int, blobs: _BinaryData) -> tuple[str, np.ndarray]:
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
    if "binary_data_size" in parameters:
        if "data" in tensor:
            raise _refusal("invalid_data", f"input {name!r} has both data and binary_data_size", name)
        return name, _binary_values(name, datatype, blobs.take(name, parameters["binary_data_size"]), rows)
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


def _binary_values(name: str, datatype: str, chunk: memoryview, rows: int) -> np.ndarray:
    """An input's binary data as a value per row: numbers as 64-bit (floats, or whole numbers that fit),
    BYTES as UTF-8 text."""
    if datatype == "BYTES":
        values = _length_prefixed_texts(name, bytes(chunk))
    else:
        element = np.dtype(BINARY_ELEMENTS[datatype])
        if len(chunk) % element.itemsize:
            raise _refusal("shape_mismatch", f"input {name!r}: {len(chunk)} bytes are not whole {datatype} values",
                           name)
        values = np.frombuffer(chunk, dtype=element)
        if values.dtype.kind in "iu":
            values = values.astype("float64" if values.dtype == np.uint64 else "int64")
        elif values.dtype.kind == "f":
            values = values.astype("float64")
    if len(values) != rows:
        raise _refusal("shape_mismatch", f"input {name!r} has {len(values)} values for shape [{rows}]", name)
    return values


def _length_prefixed_texts(name: str, data: bytes) -> np.ndarray:
    texts, offset = [], 0
    while offset < len(data):
        if offset + 4 > len(data):
            raise _refusal("invalid_binary_data", f"input {name!r}: BYTES data ends inside a length", name)
        (length,) = _LENGTH.unpack_from(data, offset)
        element = data[offset + 4:offset + 4 + length]
        if len(element) != length:
            raise _refusal("invalid_binary_data", f"input {name!r}: BYTES element {len(texts)} is cut short", name)
        try:
            texts.append(element.decode("utf-8"))
        except UnicodeDecodeError:
            raise _refusal("invalid_binary_data", f"input {name!r}: BYTES element {len(texts)} is not UTF-8 text",
                           name, len(texts)) from None
        offset += 4 + length
    values = np.empty(len(texts), dtype=object)
    values[:] = texts
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


def encode_inference_response(request: InferenceRequest, batch: ValidatedBatch, scored: ScoredBatch,
                              model_name: str, model_version: str, parameters: dict[str, str | float | bool]
                              ) -> tuple[bytes, int | None]:
    """The response body: the requested outputs, one tensor of one value per row each; and when some go as
    binary data, the length of the JSON before their bytes (else None)."""
    rows = len(batch)
    response: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request.id is not None:
        response["id"] = request.id
    response["parameters"] = parameters
    response["outputs"], blobs = [], []
    for name in request.outputs:
        datatype = OUTPUT_DATATYPES[name]
        tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": [rows]}
        tensor_parameters = {"content_type": "str"} if datatype == "BYTES" else {}
        values = _output_values(name, batch, scored)
        if name in request.binary_outputs:
            blobs.append(_binary_blob(values))
            tensor["parameters"] = {**tensor_parameters, "binary_data_size": len(blobs[-1])}
        else:
            tensor |= ({"parameters": tensor_parameters} if tensor_parameters else {})
            tensor["data"] = _json_values(values)
        response["outputs"].append(tensor)
    header = orjson.dumps(response)
    return (header + b"".join(blobs), len(header)) if blobs else (header, None)


def _output_values(name: str, batch: ValidatedBatch, scored: ScoredBatch) -> np.ndarray | list[str]:
    """An output's values: numbers as a float array, text as a list of str."""
    if name == "pd":
        return np.asarray(scored.pds, dtype="float64")
    if name == "points":
        assert scored.points is not None
        return np.asarray(scored.points, dtype="float64")
    if name in ("band", "decision"):
        return [str(value) for value in (scored.bands if name == "band" else scored.decisions)]
    if name == "reasons":
        assert scored.reasons is not None
        return [orjson.dumps(reasons, option=orjson.OPT_SERIALIZE_NUMPY).decode() for reasons in scored.reasons]
    texts = ["[]"] * len(batch)
    for row, found in batch.warnings.items():
        texts[row] = orjson.dumps(found).decode()
    return texts


def _json_values(values: np.ndarray | list[str]) -> list[Any]:
    """Values for JSON, a missing number (NaN) as null."""
    if isinstance(values, list):
        return values
    listed = values.tolist()
    return [None if value != value else value for value in listed] if np.isnan(values).any() else listed


def _binary_blob(values: np.ndarray | list[str]) -> bytes:
    if not isinstance(values, list):
        return values.astype("<f8").tobytes()
    encoded = [text.encode("utf-8") for text in values]
    return b"".join(_LENGTH.pack(len(text)) + text for text in encoded)
