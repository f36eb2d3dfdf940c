"""`python -m bench trt` through the TensorRT stand-in, on both API generations: CUDA-event timing with and
without a CUDA graph, the fallback when capture fails, the batch each engine is timed at, trtexec beside it."""
import json
import os
import stat

import pytest
from engine_onnx_samples import write_model
from test_trtexec import TRTEXEC_LOG

from bench.cli import main as bench_main
from bench.trt import bench_engine, time_engine
from common.cli import run_cli
from engine.build import build_engine
from engine.config import EngineConfig
from engine.runner import TrtRunner


@pytest.fixture
def engines(trt, tmp_path):
    """The same Q/DQ graph built for batch 4 (tuned for 4) and for batch 1."""
    onnx_path = write_model(tmp_path / "qdq.onnx", qdq="int8")
    return {batch: build_engine(EngineConfig(onnx=onnx_path, output=tmp_path / f"b{batch}.engine", batch=batch,
                                             timing_cache=None))
            for batch in (4, 1)}


def test_bench_cli_times_each_engine_at_its_tuned_batch(trt, engines, tmp_path):
    out = tmp_path / "latency.json"
    assert run_cli(bench_main, ["trt", str(engines[1]), str(engines[4]), "--warmup", "2", "--iterations", "5",
                                 "--no-trtexec", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [(r["engine"], r["batch"], r["opt_batch"]) for r in report["records"]] == [
        (str(engines[1]), 1, 1), (str(engines[4]), 4, 4)]
    for record in report["records"]:
        assert record["cuda_graph"] is True and record["runs"] == 5 and record["precision"] == "int8"
        assert 0 < record["min_ms"] <= record["median_ms"] <= record["max_ms"]
        assert record["backend"] == "tensorrt" and record["trtexec_median_ms"] is None
    assert report["meta"]["batches"] == ["opt"] and report["meta"]["versions"]["tensorrt"] == trt.__version__


def test_timing_another_batch_than_the_tuned_one_warns(trt, engines, capfd):
    records = bench_engine(engines[4], [1, 4, 8], warmup=1, iterations=3, use_trtexec=False)
    assert [r["batch"] for r in records] == [1, 4]  # 8 is outside the profile
    err = capfd.readouterr().err
    assert "b4.engine is tuned for batch 4" in err and "build an engine with --batch 1" in err
    assert "batch 8 is outside the engine's profile 1..4" in err


def test_every_timed_launch_runs_the_engine(trt, gpu, engines):
    runner = TrtRunner(engines[4])
    before = gpu.launches
    plain = time_engine(runner, 4, warmup=3, iterations=7, cuda_graph=False)
    graphed = time_engine(runner, 4, warmup=3, iterations=7, cuda_graph=True)
    assert plain["cuda_graph"] is False and graphed["cuda_graph"] is True
    # queued work run: warm-ups + launches + 2 events each; with a graph, one checking replay besides
    launches = [call for call in trt.__standin__.calls if call[0] == "execute"]
    assert len(launches) == 3 + 7 + 3 + 1  # plain: warm-up + timed; graphed: warm-up + the captured one
    assert gpu.launches - before == (3 + 7 * 3) + (3 + 1 + 7 * 3)


def test_a_failed_capture_falls_back_to_plain_launches(trt, gpu, engines, capfd):
    gpu.fail_capture = True
    records = bench_engine(engines[4], ["opt"], warmup=1, iterations=3, use_trtexec=False)
    assert records[0]["cuda_graph"] is False and "CUDA graph capture failed" in records[0]["note"]
    assert "timed plain launches" in capfd.readouterr().err


def test_trtexec_median_stands_beside_ours(trt, engines, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    trtexec = bin_dir / "trtexec"
    log = tmp_path / "trtexec.log"
    log.write_text(TRTEXEC_LOG)
    args = tmp_path / "args.txt"
    trtexec.write_text(f'#!/bin/sh\necho "$@" > {args}\ncat {log}\n')
    trtexec.chmod(trtexec.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    (record,) = bench_engine(engines[4], ["opt"], warmup=1, iterations=3)
    assert record["trtexec_median_ms"] == 0.4 and record["trtexec"]["throughput_qps"] == 2451.37
    used = args.read_text().split()
    assert f"--loadEngine={engines[4]}" in used and "--shapes=images:4x3x32x32" in used
    assert ("--useCudaGraph" in used) == trt.__version__.startswith("10.")
