"""Batch scoring on Dask: same results as one process and as the API, rejects accounted for, a cluster
reached by its scheduler address, and a worker killed mid-job."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import dask
import distributed
import numpy as np
import pandas as pd
import pytest

from app import create_app
from creditrisk.modeling.bundle import ArtifactError
from creditrisk.params import configured, ParamsError
from creditrisk.serving.batch import (
    dask_runner,
    partitions_of,
    read_rejects,
    read_scores,
    run_in_process,
    score_dataset,
    scorer_ready,
    scorer_warmup,
    BatchJobError,
    MANIFEST_FILE,
    STEPS,
)
from creditrisk.io import file_digest
from creditrisk.serving.cluster import (
    dask_client, forks_workers, scheduler_address, DaskParams, LOCAL_WORKER_CONFIG, SCHEDULER_ENV,
)
from tests.api_support import api_config, sample_frame, save_test_bundle
from tests.export_files import write_csv

pytestmark = pytest.mark.slow
BROKEN = {(1, 30, "capital_prestado"): "abc", (1, 31, "plazo_meses"): None, (0, 7, "plazo_meses"): None}


@pytest.fixture(scope="module")
def cluster() -> Iterator[distributed.LocalCluster]:
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as local:
        yield local


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_test_bundle(tmp_path_factory.mktemp("model"))


def with_ids(frame: pd.DataFrame, start: int) -> pd.DataFrame:
    return frame.assign(id=[f"loan-{start + i}" for i in range(len(frame))])


@pytest.fixture(scope="module")
def parquet_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two parquet files of 200 rows in row groups of 50 (8 partitions), three broken rows among them."""
    root = tmp_path_factory.mktemp("dataset")
    for file in range(2):
        frame = with_ids(sample_frame(200, seed=10 + file), 200 * file).astype({"plazo_meses": object,
                                                                                 "capital_prestado": object})
        for (which, row, column), value in BROKEN.items():
            if which == file:
                frame.loc[row, column] = value
        frame.astype({"capital_prestado": str}).to_parquet(root / f"month={file}.parquet", row_group_size=50)
    return root


def score(dataset: Path, output: Path, model: Path, runner=run_in_process, engine: str = "pandas", **options):
    return score_dataset(dataset, output, model, runner, engine, **options)


def test_dask_and_one_process_write_the_same_bytes(cluster: distributed.LocalCluster, parquet_dataset: Path,
                                                   model: Path, tmp_path: Path) -> None:
    with distributed.Client(cluster) as client:
        on_dask = score(parquet_dataset, tmp_path / "dask", model, dask_runner(client), "dask", reasons=True)
    in_process = score(parquet_dataset, tmp_path / "pandas", model, reasons=True)
    assert on_dask.partitions == in_process.partitions == len(partitions_of(parquet_dataset)) == 8
    for engine in ("dask", "pandas"):
        (tmp_path / engine / MANIFEST_FILE).unlink()  # names the engine; the parts must not differ at all
    written = {engine: {path.relative_to(tmp_path / engine): path.read_bytes()
                        for path in sorted((tmp_path / engine).rglob("*.parquet"))} for engine in ("dask", "pandas")}
    assert len(written["dask"]) == 16 and written["dask"] == written["pandas"]


def test_a_job_sets_each_worker_up_and_loads_the_model_there_before_any_partition(
        cluster: distributed.LocalCluster, parquet_dataset: Path, model: Path, tmp_path: Path) -> None:
    import pyarrow

    from creditrisk.serving import batch

    with distributed.Client(cluster) as client:
        summary = score(parquet_dataset, tmp_path / "out", model, dask_runner(client), "dask")
        arrow_threads = client.run(pyarrow.cpu_count)
        loaded = client.run(lambda: len(batch._SCORERS))
    assert sorted(arrow_threads.values()) == [1, 1], "one Arrow thread per task slot, not one per core"
    assert list(loaded.values()) == [1, 1] and 0 < summary.prepare_seconds < summary.seconds


def test_a_broken_model_stops_a_dask_job_before_any_partition(cluster: distributed.LocalCluster,
                                                              parquet_dataset: Path, model: Path,
                                                              tmp_path: Path) -> None:
    broken = tmp_path / "model" / model.name
    shutil.copytree(model.parent, broken.parent)
    data = bytearray(broken.read_bytes())
    data[len(data) // 2] ^= 0xFF
    broken.write_bytes(bytes(data))
    with distributed.Client(cluster) as client, pytest.raises(ArtifactError, match="changed after it was saved"):
        score(parquet_dataset, tmp_path / "out", broken, dask_runner(client), "dask")
    assert not (tmp_path / "out").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_the_job_reports_where_its_partitions_time_went_and_the_manifest_leaves_it_out(
        parquet_dataset: Path, model: Path, tmp_path: Path) -> None:
    summary = score(parquet_dataset, tmp_path / "out", model, reasons=True)
    assert list(summary.steps) == list(STEPS) and all(seconds >= 0 for seconds in summary.steps.values())
    assert 0 < sum(summary.steps.values()) <= summary.partition_seconds + 0.01 <= summary.seconds + 0.01  # rounded
    assert summary.partition_cpu_seconds > 0 and summary.steps["reasons"] > 0
    manifest = (tmp_path / "out" / MANIFEST_FILE).read_text()
    assert not any(word in manifest for word in ("steps", "seconds", "cpu"))


HEAP_PROBE = """
import resource, sys
import numpy as np
from creditrisk.serving.cluster import reuse_heap

def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        block = np.ones(2**17)  # 1 MiB (256 pages; numpy asks huge pages from 4 MiB), touched, freed
        del block
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

faults()
pinned = faults()
print(pinned, reuse_heap(), (faults(), faults())[1])
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_a_worker_reuses_its_heap_although_the_nanny_pinned_the_allocator(tmp_path: Path) -> None:
    """Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_ set, which makes glibc map and unmap every
    block over 128 KiB: each 1 MiB array faults its 256 pages in anew. `reuse_heap` ends that."""
    environment = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536"}
    completed = subprocess.run([sys.executable, "-c", HEAP_PROBE], env=environment, capture_output=True, text=True,
                               check=True, cwd=Path(__file__).resolve().parents[1])
    pinned, reused, after = completed.stdout.split()
    assert reused == "True" and int(pinned) >= 50 * 200 and int(after) < 50 * 20


def test_rows_in_equal_scored_plus_rejected_and_each_reject_names_row_field_rule(
        parquet_dataset: Path, model: Path, tmp_path: Path) -> None:
    summary = score(parquet_dataset, tmp_path / "out", model)
    scores, rejects = read_scores(tmp_path / "out"), read_rejects(tmp_path / "out")
    assert summary.rows_in == 400 and summary.rows_rejected == 3 and summary.rows_scored == 397
    assert len(scores) == summary.rows_scored
    found = {(source, row, field) for source, row, field in rejects[["source", "row", "field"]].itertuples(index=False)}
    assert found == {(f"month={file}.parquet", row, column) for (file, row, column) in BROKEN}
    assert set(rejects["rule"]) == {"not_a_number", "missing_value"}
    scored_rows = set(zip(scores["source"], scores["row"]))
    assert not scored_rows & {(s, r) for s, r, _ in found}
    assert len(scored_rows) + len({(s, r) for s, r, _ in found}) == 400


def test_batch_results_equal_the_apis_for_the_same_rows(parquet_dataset: Path, model: Path, tmp_path: Path) -> None:
    score(parquet_dataset, tmp_path / "out", model, reasons=True)
    scores = read_scores(tmp_path / "out").set_index("id")
    frame = pd.read_parquet(parquet_dataset / "month=0.parquet").drop(index=[7])
    client = create_app(api_config(tmp_path, model)).test_client()
    response = client.post("/predict", data=frame.to_csv(index=False), content_type="text/csv")
    assert response.status_code == 200, response.get_json()
    api = pd.DataFrame(response.get_json()["predictions"]).set_index("id")
    batch = scores.loc[api.index]
    # The batch scores partitions of 50 rows and the API one batch of 199: BLAS blocks a matrix
    # product by its row count, so a PD may differ in its last bit (the numpy path's own tolerance).
    np.testing.assert_allclose(batch["pd"].to_numpy(), api["pd"].to_numpy(), rtol=1e-12, atol=0)
    assert list(batch["band"]) == list(api["band"]) and list(batch["decision"]) == list(api["decision"])
    np.testing.assert_allclose(batch["points"].to_numpy(), api["points"].to_numpy())
    assert list(batch["reason_codes"]) == [";".join(r["code"] for r in reasons) for reasons in api["reasons"]]


def test_export_files_are_partitions_and_rows_are_file_rows(model: Path, tmp_path: Path) -> None:
    rows = [{k: ("" if pd.isna(v) else str(v)) for k, v in record.items()}
            for record in sample_frame(30, seed=3).to_dict(orient="records")]
    rows[4]["plazo_meses"] = ""
    (tmp_path / "in").mkdir()
    write_csv(tmp_path / "in" / "a.csv", rows[:20])
    write_csv(tmp_path / "in" / "b.csv", rows[20:])
    summary = score(tmp_path / "in", tmp_path / "out", model)
    assert (summary.partitions, summary.rows_in, summary.rows_rejected) == (2, 30, 1)
    rejects = read_rejects(tmp_path / "out")
    assert rejects[["source", "row", "field", "rule"]].values.tolist() == [["a.csv", 6, "plazo_meses",
                                                                            "missing_value"]]


def test_a_file_whose_date_order_cannot_be_told_is_scored_like_the_api_scores_it(model: Path,
                                                                                tmp_path: Path) -> None:
    rows = [{k: ("" if pd.isna(v) else str(v)) for k, v in record.items()}
            for record in sample_frame(2, seed=4).to_dict(orient="records")]
    rows[0]["fecha_prestamo"], rows[1]["fecha_prestamo"] = "05/06/25 10:30", "07/08/25 11:00"
    (tmp_path / "in").mkdir()
    write_csv(tmp_path / "in" / "two.csv", rows)
    summary = score(tmp_path / "in", tmp_path / "out", model)
    assert (summary.rows_scored, summary.rows_rejected) == (2, 0)
    assert read_scores(tmp_path / "out")["warnings"].tolist() == ["fecha_prestamo:ambiguous_date_order"] * 2


def test_a_missing_required_column_stops_the_job_naming_the_file(model: Path, tmp_path: Path) -> None:
    sample_frame(20).drop(columns=["plazo_meses"]).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(BatchJobError, match=r"bad\.parquet.*plazo_meses"):
        score(tmp_path / "bad.parquet", tmp_path / "out", model)
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_the_job_reaches_an_existing_scheduler_by_its_address(cluster: distributed.LocalCluster,
                                                              parquet_dataset: Path, model: Path,
                                                              tmp_path: Path) -> None:
    params = configured(DaskParams)
    address = scheduler_address(params, {SCHEDULER_ENV: cluster.scheduler_address})
    assert address == cluster.scheduler_address and scheduler_address(params, {}) == params.scheduler
    with dask_client(params, address) as client:
        assert client.scheduler.address == cluster.scheduler_address
        summary = score(parquet_dataset, tmp_path / "out", model, dask_runner(client), "dask")
    assert summary.rows_scored == 397
    with distributed.Client(cluster) as again:
        assert len(again.scheduler_info()["workers"]) == 2, "the existing cluster is left running"


def test_a_partition_scored_in_chunks_gives_what_one_scored_at_once_gives(parquet_dataset: Path, model: Path,
                                                                          tmp_path: Path) -> None:
    """Chunks of 7 rows (the partitions hold 47-50): the same bands, decisions, points, reasons' codes and
    rejects; the PDs of this logistic model to the last bits (BLAS sums 7 rows at once in another order)."""
    score(parquet_dataset, tmp_path / "whole", model, reasons=True)
    chunked = score(parquet_dataset, tmp_path / "chunked", model, reasons=True, chunk_rows=7)
    whole_scores, chunked_scores = read_scores(tmp_path / "whole"), read_scores(tmp_path / "chunked")
    assert chunked.rows_scored == 397 and chunked_scores["reason_codes"].str.len().gt(0).any()
    np.testing.assert_allclose(chunked_scores.pop("pd"), whole_scores.pop("pd"), rtol=1e-12, atol=0)
    pd.testing.assert_frame_equal(chunked_scores, whole_scores)
    pd.testing.assert_frame_equal(read_rejects(tmp_path / "chunked"), read_rejects(tmp_path / "whole"))


def assert_local_cluster_config(client: distributed.Client) -> None:
    """The workers and the scheduler of a LocalCluster started here run with `LOCAL_WORKER_CONFIG`: no profiler, and
    the slower health checks and monitors (each differs from Dask's default, which a worker would otherwise read)."""
    defaults = dask.config.merge(*dask.config.defaults)
    for key, value in LOCAL_WORKER_CONFIG.items():
        assert dask.config.get(key, config=defaults) != value, key
        assert set(client.run(dask.config.get, key).values()) == {value}, key
        assert client.run_on_scheduler(dask.config.get, key) == value, key


def test_forked_workers_start_with_the_scorer_the_job_built_and_write_the_same_bytes(
        parquet_dataset: Path, model: Path, tmp_path: Path) -> None:
    params = replace(configured(DaskParams), workers=2, start_method="fork")
    key = (str(model.resolve()), file_digest(model), True)
    assert forks_workers(params, None) and not forks_workers(params, "tcp://127.0.0.1:8786")
    with dask_client(params, inherit=scorer_warmup(model)) as client:
        assert scorer_ready(*key), "the job's own process built the scorer before the workers started"
        assert set(client.run(scorer_ready, *key).values()) == {True}, "every worker started with it"
        assert_local_cluster_config(client)
        summary = score(parquet_dataset, tmp_path / "dask", model, dask_runner(client), "dask", reasons=True)
    score(parquet_dataset, tmp_path / "pandas", model, reasons=True)
    assert summary.rows_scored == 397
    for sub in ("scores", "rejects"):
        for part in sorted((tmp_path / "pandas" / sub).iterdir()):
            assert (tmp_path / "dask" / sub / part.name).read_bytes() == part.read_bytes()


def test_two_local_clusters_at_once_each_serve_their_http_routes_on_a_port_of_their_own() -> None:
    """Two jobs on one machine: neither scheduler takes Dask's fixed port 8787, so neither warns it is in use."""
    params = replace(configured(DaskParams), workers=1, start_method="spawn")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*already in use", category=UserWarning)
        with dask_client(params) as first, dask_client(params) as second:
            ports = [client.scheduler_info()["services"]["dashboard"] for client in (first, second)]
    assert len(set(ports)) == 2 and 8787 not in ports


def test_spawned_workers_load_the_model_themselves_and_the_job_does_not_load_it_for_them(
        parquet_dataset: Path, model: Path, tmp_path: Path) -> None:
    params = replace(configured(DaskParams), workers=1, start_method="spawn")
    key = (str(model.resolve()), file_digest(model), True)
    calls: list[int] = []
    assert not forks_workers(params, None)
    with dask_client(params, inherit=lambda: calls.append(1)) as client:
        assert calls == [] and set(client.run(scorer_ready, *key).values()) == {False}
        assert_local_cluster_config(client)
        summary = score(parquet_dataset, tmp_path / "out", model, dask_runner(client), "dask")
        assert set(client.run(scorer_ready, *key).values()) == {True}
    assert summary.rows_scored == 397


HANG_FORKED_CHILDREN = [False]  # while True, a process forked from this one waits for ever as it starts


def _hang_if_asked() -> None:
    while HANG_FORKED_CHILDREN[0]:
        time.sleep(1)


os.register_at_fork(after_in_child=_hang_if_asked)


def test_forked_workers_that_do_not_start_in_time_are_replaced_by_spawned_ones(
        parquet_dataset: Path, model: Path, tmp_path: Path) -> None:
    """A forked worker that hangs as it starts (a lock held at the fork) costs `start_timeout`, not the job."""
    params = replace(configured(DaskParams), workers=2, start_method="fork", start_timeout=3.0)
    HANG_FORKED_CHILDREN[0] = True
    try:
        with pytest.warns(RuntimeWarning, match=r"forked Dask workers did not start within 3\.0 s.*spawned"):
            with dask_client(params, inherit=scorer_warmup(model)) as client:
                HANG_FORKED_CHILDREN[0] = False
                assert len(client.scheduler_info()["workers"]) == 2
                summary = score(parquet_dataset, tmp_path / "out", model, dask_runner(client), "dask")
    finally:
        HANG_FORKED_CHILDREN[0] = False
    assert summary.rows_scored == 397


def test_a_start_method_multiprocessing_does_not_have_is_refused() -> None:
    with pytest.raises(ParamsError, match=r"dask\.start_method = 'thread' must be one of fork, spawn, forkserver"):
        replace(configured(DaskParams), start_method="thread")


def kill_a_worker_after_the_first_partition(client: distributed.Client):  # noqa: ANN201
    killed: list[int] = []

    def progress(done: int, total: int, rows: int, seconds: float) -> None:
        if not killed:
            pid = next(iter(client.run(os.getpid).values()))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    return progress, killed


def many_partitions(root: Path) -> Path:
    """Three files of 400 rows in row groups of 20: 60 partitions."""
    root.mkdir()
    for file in range(3):
        with_ids(sample_frame(400, seed=file), 400 * file).to_parquet(root / f"p{file}.parquet", row_group_size=20)
    return root


def test_a_worker_killed_mid_job_the_job_finishes_with_every_row(model: Path, tmp_path: Path) -> None:
    dataset = many_partitions(tmp_path / "data")
    params = replace(configured(DaskParams), workers=2, allowed_failures=3)
    with dask_client(params) as client:
        progress, killed = kill_a_worker_after_the_first_partition(client)
        summary = score(dataset, tmp_path / "out", model, dask_runner(client), "dask", progress=progress)
    assert killed and summary.rows_in == summary.rows_scored == 1200
    assert len(read_scores(tmp_path / "out")) == 1200 and read_scores(tmp_path / "out")["id"].is_unique


def test_a_worker_killed_with_no_failures_allowed_fails_clearly_and_leaves_the_old_output(
        model: Path, tmp_path: Path) -> None:
    dataset = many_partitions(tmp_path / "data")
    small = tmp_path / "small"
    small.mkdir()
    sample_frame(10).to_parquet(small / "one.parquet")
    score(small, tmp_path / "out", model)
    before = read_scores(tmp_path / "out")
    params = replace(configured(DaskParams), workers=2, allowed_failures=0)
    with dask_client(params) as client:
        progress, killed = kill_a_worker_after_the_first_partition(client)
        with pytest.raises(BatchJobError, match=r"failed after \d+ of 60 partition\(s\).*KilledWorker.*no output"):
            score(dataset, tmp_path / "out", model, dask_runner(client), "dask", progress=progress)
    assert killed
    pd.testing.assert_frame_equal(read_scores(tmp_path / "out"), before)
    assert (tmp_path / "out" / MANIFEST_FILE).exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_rerun_writes_the_same_manifest_byte_for_byte(cluster: distributed.LocalCluster, parquet_dataset: Path,
                                                       model: Path, tmp_path: Path) -> None:
    """The output DVC hashes does not vary from run to run: no timings, the partitions in their order
    (Dask finishes them in any order)."""
    manifests = []
    with distributed.Client(cluster) as client:
        for _ in range(2):
            score(parquet_dataset, tmp_path / "out", model, dask_runner(client), "dask")
            manifests.append((tmp_path / "out" / MANIFEST_FILE).read_bytes())
    assert manifests[0] == manifests[1]
    manifest = json.loads(manifests[0])
    assert not {"seconds", "prepare_seconds", "rows_per_second"} & set(manifest)
    assert all(set(part) == {"number", "source", "rows_in", "rows_scored", "rows_rejected"}
               for part in manifest["partitions_detail"])
    assert [part["number"] for part in manifest["partitions_detail"]] == list(range(manifest["partitions"]))


def test_an_output_without_its_manifest_is_not_read_as_complete(tmp_path: Path) -> None:
    (tmp_path / "out" / "scores").mkdir(parents=True)
    pd.DataFrame({"pd": [0.1]}).to_parquet(tmp_path / "out" / "scores" / "part-00000.parquet")
    with pytest.raises(BatchJobError, match="not the output of a finished scoring job"):
        read_scores(tmp_path / "out")
