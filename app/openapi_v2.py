"""The OpenAPI description of the Open Inference Protocol (KServe V2) routes, from the data contract.

An inference request is described exactly for one row: one input per column scoring needs, in the
contract's order, each of shape [1] (or [1, 1]) holding a value the contract accepts. JSON Schema cannot
tie one input's row count to another's, so a batch (every input of shape [rows] with `rows` values) and
the optional `fecha_prestamo` input are described in words.
"""

from __future__ import annotations

from typing import Any

from app.openapi import number_schema
from creditrisk.data.contract import required_columns, ColumnSpec, SPECS
from creditrisk.serving.open_inference import (
    CONTRACT_DATATYPES,
    INPUT_CONTENT_TYPES,
    NUMBER_DATATYPES,
    OUTPUT_DATATYPES,
    OUTPUT_DESCRIPTIONS,
)

PARAMETER_VALUE = {"type": ["string", "number", "boolean"]}
ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "string", "description": "what is wrong: for a batch, each broken rule with its row, field and value"}}}
INFER_NOTE = (
    "One input tensor per column scoring needs (names, datatypes and rules as in `/predict`'s `Record`; "
    "`/v2/models/{model_name}` lists them), every input of shape [rows] or [rows, 1] with one value per row, "
    "flat or nested; `fecha_prestamo` (BYTES, ISO 8601 or slash dates) is optional: without it the request time "
    "is the loan date. Numbers may come as any numeric datatype, and NaN (as Python's json and tritonclient "
    "write it) is a missing value. Other inputs are ignored and listed in the response's `ignored_columns`. "
    "`parameters`: `content_type` \"pd\" (MLServer's pandas codec: one input per column), `day_first` (the "
    "order of slash dates), `lang` (en or es, the reasons' language). `outputs` selects among the model's "
    "outputs (all by default); the reasons are computed only when asked for. Binary tensor data (Triton's "
    "extension, tritonclient's default) is read after the JSON when the Inference-Header-Content-Length header "
    "gives the JSON's length and an input's `binary_data_size` its bytes; outputs asked for with `binary_data` "
    "(or all, with `binary_data_output`) are answered so. JSON Schema cannot tie one input's rows to another's, "
    "so this schema states a one-row request, inputs in the contract's order.")


def _one_row_data(value: dict[str, Any]) -> dict[str, Any]:
    """The data of a one-row tensor: the value, flat or nested as [[value]]."""
    nested = {"type": "array", "minItems": 1, "maxItems": 1, "items": value}
    return {"type": "array", "minItems": 1, "maxItems": 1, "items": {"anyOf": [value, nested]}}


def _value_of(spec: ColumnSpec) -> dict[str, Any]:
    """A value of the column as its datatype carries it: numbers in range where a rule stops the batch,
    any number or null where a broken rule is treated as missing; text or null for categories."""
    if CONTRACT_DATATYPES[spec.kind] == "BYTES":
        return {"type": ["string", "null"]}
    return {"type": ["number", "null"]} if spec.nullable else number_schema(spec)


def _input_schema(name: str) -> dict[str, Any]:
    spec = SPECS[name]
    datatype = CONTRACT_DATATYPES[spec.kind]
    datatypes = [datatype] if datatype == "BYTES" else sorted(NUMBER_DATATYPES)
    return {
        "type": "object",
        "required": ["name", "shape", "datatype", "data"],
        "properties": {
            "name": {"const": name},
            "shape": {"enum": [[1], [1, 1]]},
            "datatype": {"enum": datatypes},
            "parameters": {"type": "object", "properties": {"content_type": {
                "enum": [content_type for content_type in INPUT_CONTENT_TYPES if content_type]}},
                "additionalProperties": PARAMETER_VALUE},
            "data": _one_row_data(_value_of(spec)),
        },
        "description": spec.description,
    }


def inference_request_schema(outputs: list[str]) -> dict[str, Any]:
    inputs = [_input_schema(name) for name in required_columns("scoring")]
    return {
        "type": "object",
        "required": ["inputs"],
        "description": INFER_NOTE,
        "properties": {
            "id": {"type": "string", "description": "echoed in the response"},
            "parameters": {"type": "object", "properties": {
                "content_type": {"enum": ["pd"]},
                "day_first": {"type": "boolean"},
                "lang": {"enum": ["en", "es"]},
                "binary_data_output": {"type": "boolean", "description": "every output as binary tensor data"},
            }, "additionalProperties": PARAMETER_VALUE},
            "inputs": {"type": "array", "prefixItems": inputs, "items": False, "minItems": len(inputs)},
            "outputs": {"type": "array", "items": {
                "type": "object", "required": ["name"],
                "properties": {"name": {"enum": outputs},
                               "parameters": {"type": "object", "properties": {"binary_data": {"type": "boolean"}},
                                              "additionalProperties": PARAMETER_VALUE}}}},
        },
    }


def _inference_response_schema(outputs: list[str]) -> dict[str, Any]:
    output = {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
        "name": {"enum": outputs, "description": "; ".join(f"{name}: {OUTPUT_DESCRIPTIONS[name]}" for name in outputs)},
        "datatype": {"enum": sorted(set(OUTPUT_DATATYPES.values()))},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "parameters": {"type": "object", "additionalProperties": PARAMETER_VALUE},
        "data": {"type": "array", "items": {"type": ["number", "string", "null"]}},
    }}
    return {"type": "object", "required": ["model_name", "model_version", "parameters", "outputs"], "properties": {
        "model_name": {"type": "string"},
        "model_version": {"type": "string"},
        "id": {"type": "string"},
        "parameters": {"type": "object", "required": ["request_id", "prediction_logged", "threshold",
                                                      "rows_with_warnings", "ignored_columns"],
                       "properties": {"request_id": {"type": "string"}, "prediction_logged": {"type": "boolean"},
                                      "threshold": {"type": "number"}, "rows_with_warnings": {"type": "integer"},
                                      "ignored_columns": {"type": "string", "description":
                                                          "ignored inputs, URL-encoded names joined by commas"}}},
        "outputs": {"type": "array", "items": output},
    }}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR}}}


def _ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _object(**properties: dict[str, Any]) -> dict[str, Any]:
    """An object that has every one of these properties."""
    return {"type": "object", "required": list(properties), "properties": properties}


def _tensor_list() -> dict[str, Any]:
    return {"type": "array", "items": _object(name={"type": "string"}, datatype={"type": "string"},
                                              shape={"type": "array", "items": {"type": "integer"}})}


def _operation(method: str, operation_id: str, summary: str, responses: dict[str, Any],
               parameters: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    return {method: {"operationId": operation_id, "summary": summary, "tags": ["Open Inference Protocol"],
                     **({"parameters": parameters} if parameters else {}), **more, "responses": responses}}


def _infer_responses(outputs: list[str], max_rows: int, max_body_mb: float, missing: dict[str, Any],
                     unauthorized: dict[str, Any]) -> dict[str, Any]:
    binary = {"type": "string", "description": "binary tensor data extension: the response JSON (its length in "
                                               "Inference-Header-Content-Length), then the binary outputs' bytes"}
    return {"200": {"description": "the requested outputs, one value per row each",
                    "headers": {"X-Request-Id": {"schema": {"type": "string"}},
                                "X-Model-Version": {"schema": {"type": "string"}},
                                "Server-Timing": {"schema": {"type": "string"}},
                                "Inference-Header-Content-Length": {"schema": {"type": "string"}, "description":
                                                                    "with binary outputs: the JSON's length"}},
                    "content": {"application/json": {"schema": _inference_response_schema(outputs)},
                                "application/octet-stream": {"schema": binary}}},
            "400": _error("not an inference request, or contract violations (row, field, value and rule of each)"),
            "401": unauthorized, "404": missing,
            "413": _error(f"body over {max_body_mb:g} MB or more than {max_rows} rows"),
            "415": _error("Content-Type is neither application/json nor application/octet-stream"),
            "503": _error("model not ready, or the prediction log cannot record the batch (retry)")}


def open_inference_paths(model_name: str, model_version: str | None, outputs: list[str], max_rows: int,
                         max_body_mb: float, security: list[dict[str, list[str]]]) -> dict[str, Any]:
    """The /v2 paths; `model_version` is None while the model is not ready."""
    name = {"name": "model_name", "in": "path", "required": True, "schema": {"enum": [model_name]}}
    version = {"name": "model_version", "in": "path", "required": True,
               "schema": {"enum": [model_version]} if model_version is not None else {"type": "string"}}
    missing = _error(f"no such model or version (this server serves {model_name!r})")
    not_ready = _error("the model is not loaded or failed verification")
    unauthorized = _error("token configured and missing or wrong")
    metadata = ("Model metadata: inputs and outputs with name, datatype and shape (-1: the batch)",
                {"200": _ok("model metadata", _object(name={"type": "string"},
                                                      versions={"type": "array", "items": {"type": "string"}},
                                                      platform={"type": "string"}, inputs=_tensor_list(),
                                                      outputs=_tensor_list())),
                 "401": unauthorized, "404": missing, "503": not_ready})
    ready = ("The model is ready to score", {"200": _ok("ready", _object(name={"type": "string"},
                                                                         ready={"const": True})),
                                             "404": missing, "503": not_ready})
    infer = ("Score a batch, on /predict's path: the same contract, log and metrics",
             _infer_responses(outputs, max_rows, max_body_mb, missing, unauthorized))
    body = {"required": True, "content": {"application/json": {"schema": inference_request_schema(outputs)}}}
    server = _object(name={"type": "string"}, version={"type": "string"},
                     extensions={"type": "array", "items": {"type": "string"}})
    return {
        "/v2/health/live": _operation("get", "v2_live", "The server is live", {
            "200": _ok("live", _object(live={"const": True}))}, []),
        "/v2/health/ready": _operation("get", "v2_ready", "The server is ready: its model is loaded", {
            "200": _ok("ready", _object(ready={"const": True})), "503": not_ready}, []),
        "/v2": _operation("get", "v2_server_metadata", "Server name, version and extensions",
                          {"200": _ok("server metadata", server)}, []),
        "/v2/models/{model_name}": _operation("get", "v2_model_metadata", *metadata, [name], security=security),
        "/v2/models/{model_name}/versions/{model_version}": _operation(
            "get", "v2_model_version_metadata", *metadata, [name, version], security=security),
        "/v2/models/{model_name}/ready": _operation("get", "v2_model_ready", *ready, [name]),
        "/v2/models/{model_name}/versions/{model_version}/ready": _operation(
            "get", "v2_model_version_ready", *ready, [name, version]),
        "/v2/models/{model_name}/infer": _operation("post", "v2_infer", *infer, [name], security=security,
                                                    requestBody=body),
        "/v2/models/{model_name}/versions/{model_version}/infer": _operation(
            "post", "v2_version_infer", *infer, [name, version], security=security, requestBody=body),
    }
