"""python -m bench cpu on two small models: records, speed-ups, JSON + PNG, interleaved timing, errors."""
import json

import pytest
from onnx_backend_models import IMGSZ, exported

from bench.cli import main
from bench.cpu import run_benchmark
from common.cli import run_cli
from common.errors import QYoloError

KEYS = {"backend", "model", "precision", "imgsz", "batch", "median_ms", "p90_ms", "p99_ms", "throughput_ips",
        "threads", "speedup_vs_fp32"}


@pytest.mark.slow
def test_benchmark_records_and_files(tmp_path):
    out = tmp_path / "latency.json"
    records, meta = run_benchmark([exported("fp32"), exported("trt")], backends=("ort", "openvino"), threads=1,
                                  warmup=1, runs=4, rounds=2, out=out, progress=False)
    assert len(records) == 4 and all(KEYS <= set(r) for r in records)
    assert {(r["backend"], r["precision"]) for r in records} == {(b, p) for b in ("ort", "openvino")
                                                                for p in ("FP32", "INT8")}
    assert all(r["imgsz"] == IMGSZ and r["threads"] == 1 and r["runs"] == 4 for r in records)
    fp32 = [r for r in records if r["precision"] == "FP32"]
    assert all(r["speedup_vs_fp32"] == 1.0 for r in fp32)
    data = json.loads(out.read_text())
    assert data["records"] == json.loads(json.dumps(records)) and data["meta"]["threads"] == 1
    assert "others_busy_fraction" in data["meta"]["load_before"]
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_report_bench_reads_the_output(tmp_path):
    from bench.report import load_latency

    out = tmp_path / "latency.json"
    run_benchmark([exported("trt")], backends=("ort",), threads=1, warmup=0, runs=2, rounds=1, out=out,
                  progress=False)
    rows = load_latency([out])
    assert rows[0]["backend"] == "ort" and rows[0]["precision"].startswith("INT8") and rows[0]["threads"] == 1


def test_bad_arguments(tmp_path, capsys):
    with pytest.raises(QYoloError, match="no models to time"):
        run_benchmark([], out=None, progress=False)
    with pytest.raises(QYoloError, match="unknown backend"):
        run_benchmark([exported("fp32")], backends=("tensorrt",), out=None, progress=False)
    assert run_cli(main, ["cpu", "--models", str(tmp_path / "missing.onnx"), "--backends", "ort", "--out",
                          str(tmp_path / "x.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cpu_clock(tmp_path):
    records, meta = run_benchmark([exported("fp32")], backends=("ort",), threads=1, warmup=0, runs=2, rounds=1,
                                  out=None, progress=False, clock="cpu")
    assert meta["clock"] == "cpu" and records[0]["clock"] == "cpu" and records[0]["median_ms"] > 0
    with pytest.raises(QYoloError, match="clock must be one of"):
        run_benchmark([exported("fp32")], backends=("ort",), out=None, progress=False, clock="gpu")


def test_speedups_pair_each_model_with_the_fp32_of_its_folder():
    """Several architectures in one run: each INT8 row against its own folder's FP32 row; the table names folders."""
    from bench.report import add_speedups, latency_table

    def rec(model, precision, ms):
        return {"backend": "ort", "model": model, "variant": model.split("/")[-1][:-5], "precision": precision,
                "imgsz": 640, "threads": 2, "median_ms": ms, "p90_ms": ms, "p99_ms": ms, "throughput_ips": 1.0}

    records = [rec("m/tiny-640/fp32.onnx", "FP32", 100.0), rec("m/tiny-640/int8.onnx", "INT8", 50.0),
               rec("m/big-640/fp32.onnx", "FP32", 900.0), rec("m/big-640/int8.onnx", "INT8", 300.0),
               rec("other/anchor.onnx", "INT8", 25.0)]
    add_speedups(records)
    assert [r["speedup_vs_fp32"] for r in records] == [1.0, 2.0, 1.0, 3.0, 4.0]  # no FP32 in its folder: the first
    text = latency_table(records)
    assert "big-640/int8" in text and "tiny-640/fp32" in text


def test_openvino_bf16_is_its_own_speedup_group():
    """openvino-bf16 rows are compared with the FP32 graph under the same precision hint, not with the f32 run."""
    records, _ = run_benchmark([exported("fp32"), exported("trt")], backends=("openvino", "openvino-bf16"),
                               threads=1, warmup=0, runs=2, rounds=1, out=None, progress=False)
    assert [r["backend"] for r in records] == ["openvino", "openvino-bf16"] * 2
    assert all(r["speedup_vs_fp32"] == 1.0 for r in records if r["precision"] == "FP32")
