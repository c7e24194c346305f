"""A V2 client nobody here wrote, tritonclient[http], against a real gunicorn (2 workers): health,
metadata, inference with one InferInput per column giving /predict's PDs, the log, and errors."""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import orjson
import pandas as pd
import pytest
import requests
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from creditrisk.data.contract import SPECS
from creditrisk.releases import MODEL_NAME
from creditrisk.serving import predlog
from creditrisk.serving.open_inference import CONTRACT_DATATYPES
from tests.api_support import sample_frame, save_test_bundle
from tests.test_api_gunicorn import Server, start_server, stop_server

pytestmark = pytest.mark.slow
NUMPY_TYPES = {"FP64": np.float64, "INT64": np.int64, "BYTES": np.object_}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("tritonclient")
    running = start_server(directory, save_test_bundle(directory), expect_ready=True)
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[triton.InferenceServerClient]:
    connection = triton.InferenceServerClient(server.url.removeprefix("http://"), network_timeout=60)
    yield connection
    connection.close()


def infer_inputs(frame: pd.DataFrame, binary_data: bool = False) -> list[triton.InferInput]:
    """One InferInput per column, typed as the model's metadata says (a missing number as NaN)."""
    inputs = []
    for name in frame.columns:
        datatype = CONTRACT_DATATYPES[SPECS[name].kind]
        values = frame[name].astype(str) if datatype == "BYTES" else frame[name]
        tensor = triton.InferInput(name, [len(frame)], datatype)
        tensor.set_data_from_numpy(values.to_numpy(dtype=NUMPY_TYPES[datatype]), binary_data=binary_data)
        inputs.append(tensor)
    return inputs


def requested(*names: str) -> list[triton.InferRequestedOutput]:
    return [triton.InferRequestedOutput(name, binary_data=False) for name in names]


def predictions(server: Server, frame: pd.DataFrame) -> list[dict[str, object]]:
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    response = requests.post(f"{server.url}/predict", data=orjson.dumps(rows),
                             headers={"Content-Type": "application/json"}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def test_health_and_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(MODEL_NAME) and client.is_model_ready(MODEL_NAME, "test-1.0")
    assert not client.is_model_ready("another-model")
    metadata = client.get_model_metadata(MODEL_NAME)
    assert metadata["name"] == MODEL_NAME and metadata["versions"] == ["test-1.0"]
    inputs = {tensor["name"]: tensor["datatype"] for tensor in metadata["inputs"]}
    assert inputs["capital_prestado"] == "FP64" and inputs["huella_consulta"] == "INT64"
    assert inputs["tipo_laboral"] == "BYTES"
    assert client.get_server_metadata()["name"] == "creditrisk"


def test_infer_with_one_input_per_column_gives_predict_s_pds_and_is_logged(
        server: Server, client: triton.InferenceServerClient) -> None:
    frame = sample_frame(40, seed=51)
    frame.loc[[4, 17], "promedio_ingresos_datacredito"] = np.nan  # missing: NaN in the request's JSON
    frame["tipo_credito"] = frame["tipo_credito"].astype(str)
    result = client.infer(MODEL_NAME, infer_inputs(frame), request_id="batch-7",
                          outputs=requested("pd", "band", "decision", "reasons"))
    expected = predictions(server, frame)
    np.testing.assert_allclose(result.as_numpy("pd"), [row["pd"] for row in expected], rtol=1e-12, atol=0)
    assert result.as_numpy("band").tolist() == [row["band"] for row in expected]
    assert result.as_numpy("decision").tolist() == [row["decision"] for row in expected]
    assert [orjson.loads(reasons) for reasons in result.as_numpy("reasons").tolist()] == [
        row["reasons"] for row in expected]
    response = result.get_response()
    assert response["id"] == "batch-7" and response["model_version"] == "test-1.0"
    logged = predlog.read_log(server.log_path)
    mine = logged[logged["request_id"] == response["parameters"]["request_id"]]
    assert sorted(mine["row_index"]) == list(range(40))
    np.testing.assert_array_equal(mine.sort_values("row_index")["pd"], result.as_numpy("pd"))


def test_the_client_s_defaults_send_and_receive_binary_tensor_data(server: Server,
                                                                   client: triton.InferenceServerClient) -> None:
    frame = sample_frame(25, seed=53)
    frame.loc[3, "saldo_total"] = np.nan
    frame["tipo_credito"] = frame["tipo_credito"].astype(str)
    result = client.infer(MODEL_NAME, infer_inputs(frame, binary_data=True))  # every output, as binary data
    expected = predictions(server, frame)
    np.testing.assert_allclose(result.as_numpy("pd"), [row["pd"] for row in expected], rtol=1e-12, atol=0)
    assert [band.decode() for band in result.as_numpy("band")] == [row["band"] for row in expected]
    assert [orjson.loads(warnings) for warnings in result.as_numpy("warnings")] == [
        row["warnings"] for row in expected]


def test_export_cells_sent_as_text_are_read_as_the_contract_reads_a_csv(
        server: Server, client: triton.InferenceServerClient) -> None:
    """The README's example: every column as BYTES, the cells as the export wrote them (comma decimals too)."""
    frame = sample_frame(15, seed=54)
    frame.loc[2, "promedio_ingresos_datacredito"] = np.nan  # an empty cell
    batch = pd.read_csv(io.StringIO(frame.to_csv(index=False)), dtype=str, keep_default_na=False)
    batch["cuota_pactada"] = batch["cuota_pactada"].str.replace(".", ",", regex=False)  # comma decimals
    inputs = []
    for tensor in client.get_model_metadata(MODEL_NAME)["inputs"]:
        column = triton.InferInput(tensor["name"], [len(batch)], "BYTES")
        column.set_data_from_numpy(batch[tensor["name"]].to_numpy(dtype=object))
        inputs.append(column)
    result = client.infer(MODEL_NAME, inputs, outputs=[triton.InferRequestedOutput("pd")])
    np.testing.assert_allclose(result.as_numpy("pd"), [row["pd"] for row in predictions(server, frame)],
                               rtol=1e-12, atol=0)


def test_a_bad_value_comes_back_as_the_client_s_exception_with_row_field_and_rule(
        client: triton.InferenceServerClient) -> None:
    frame = sample_frame(6, seed=52)
    frame["tipo_credito"] = frame["tipo_credito"].astype(str)
    frame.loc[4, "plazo_meses"] = 0
    with pytest.raises(InferenceServerException) as refused:
        client.infer(MODEL_NAME, infer_inputs(frame), outputs=requested("pd"))
    assert refused.value.status() == "400"
    assert "row 4, field plazo_meses, value '0', rule below_minimum" in refused.value.message()
    with pytest.raises(InferenceServerException) as missing:
        client.infer("another-model", infer_inputs(frame.head(2)), outputs=requested("pd"))
    assert missing.value.status() == "404"
