"""`make bench`'s report assembly: metrics + latency files -> AP table, latency table (markdown, JSON, PNG)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from common.errors import QYoloError
from eval.report_bench import describe_model, load_latency, load_metrics, render_markdown, write_report

ROOT = Path(__file__).resolve().parents[2]


def _metrics(tmp_path, name, ap, **extra):
    path = tmp_path / "metrics" / f"{name}.json"
    path.parent.mkdir(exist_ok=True)
    values = {"AP": ap, "AP50": ap + 20, "AP75": ap + 2, "APs": ap - 10, "APm": ap, "APl": ap + 5}
    fractions = {key: value / 100 for key, value in values.items()}  # eval writes pycocotools fractions
    path.write_text(json.dumps({**extra, **fractions}))
    return path


@pytest.fixture
def inputs(tmp_path):
    metrics = [_metrics(tmp_path, "ort_fp32", 40.0), _metrics(tmp_path, "ort_uh_asym_w8a8_cpu", 39.8),
               _metrics(tmp_path, "openvino_uh_asym_w4a4_cpu", 20.5), _metrics(tmp_path, "tensorrt_fp16", 40.1),
               _metrics(tmp_path, "tensorrt_uh_sym_w8a8_trt", 39.6)]
    cpu = tmp_path / "latency_cpu.json"
    cpu.write_text(json.dumps([
        {"backend": "ort", "model": "runs/export/f/fp32.onnx", "precision": "fp32", "imgsz": 256,
         "median_ms": 30.0, "p90_ms": 31.0, "p99_ms": 35.0, "threads": 2},
        {"backend": "onnxruntime", "model": "runs/export/f/uh_asym_w8a8_cpu.onnx", "precision": "int8",
         "imgsz": 256, "median_ms": 15.0, "p90_ms": 16.0, "p99_ms": 18.0, "threads": 2}]))
    trt = tmp_path / "latency_tensorrt.json"
    trt.write_text(json.dumps([
        {"backend": "tensorrt", "engine": "runs/engines/f/uh_sym_w8a8_trt.engine", "precision": "int8",
         "imgsz": 256, "batch": 1, "median_ms": 0.4, "p90_ms": 0.41, "p99_ms": 0.45, "throughput_ips": 2500.0,
         "trtexec_median_ms": 0.39, "device": "NVIDIA H100 80GB HBM3", "tensorrt_version": "10.8.0.43",
         "threads": None, "cuda_graph": True},
        {"backend": "tensorrt", "engine": "runs/engines/f/uh_sym_w8a8_trt.engine", "precision": "int8",
         "imgsz": 256, "batch": 32, "median_ms": 2.0, "p90_ms": 2.1, "p99_ms": 2.2, "throughput_ips": 16000.0,
         "trtexec_median_ms": None, "device": "NVIDIA H100 80GB HBM3", "tensorrt_version": "10.8.0.43"}]))
    return metrics, [cpu, trt]


def test_describe_model():
    assert describe_model("fp32")["precision"] == "FP32"
    row = describe_model("uh_sym_w4a4_trt")
    assert row["precision"] == "INT4-emulated W4A4" and (row["w_bits"], row["a_bits"]) == (4, 4)
    assert row["method"] == "uh" and row["scheme"] == "sym"
    assert describe_model("runs/export/x/percentile_asym_w8a8_cpu.onnx")["precision"] == "INT8 W8A8"


def test_tables_from_metrics_and_latency(inputs):
    metrics, latency = inputs
    accuracy = load_metrics(metrics)
    assert [(r["backend"], r["model"]) for r in accuracy] == [
        ("tensorrt", "fp16"), ("tensorrt", "uh_sym_w8a8_trt"), ("ort", "fp32"), ("ort", "uh_asym_w8a8_cpu"),
        ("openvino", "uh_asym_w4a4_cpu")]
    rows = load_latency(latency)
    assert [(r["backend"], r["batch"]) for r in rows] == [("tensorrt", 1), ("tensorrt", 32), ("ort", 1), ("ort", 1)]
    assert rows[2]["throughput_ips"] == pytest.approx(1000 / 30.0)


def test_written_report(inputs, tmp_path):
    metrics, latency = inputs
    report = write_report(metrics, latency, tmp_path / "report")
    assert report["meta"]["gpu"] == "NVIDIA H100 80GB HBM3" and report["meta"]["tensorrt_version"] == "10.8.0.43"
    assert report["meta"]["tensorrt_batches"] == [1, 32] and report["meta"]["cpu_threads"] == [2]
    deltas = {(r["backend"], r["model"]): r["dAP"] for r in report["accuracy"]}
    assert deltas[("ort", "uh_asym_w8a8_cpu")] == pytest.approx(-0.2)
    assert deltas[("tensorrt", "uh_sym_w8a8_trt")] == pytest.approx(-0.5) and deltas[("ort", "fp32")] is None
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "| TensorRT | uh_sym_w8a8_trt | INT8 W8A8 | 39.6 | 59.6 | 41.6 | 29.6 | 39.6 | 44.6 | -0.5 |" in markdown
    assert "| TensorRT | uh_sym_w8a8_trt | INT8 W8A8 | 32 | 256 | 2.000 | 2.100 | 2.200 | 16000 | – |" in markdown
    assert "| ONNX Runtime | fp32 | FP32 | 1 | 256 | 30.000 |" in markdown
    assert "GPU: NVIDIA H100 80GB HBM3, TensorRT 10.8.0.43, batch sizes 1, 32" in markdown
    assert json.loads((tmp_path / "report" / "report.json").read_text())["accuracy"][0]["model"] == "fp16"
    assert (tmp_path / "report" / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cpu_only_report_has_no_gpu_line(inputs):
    metrics, latency = inputs
    from eval.report_bench import build_report

    report = build_report(load_metrics(metrics[:3]), load_latency(latency[:1]))
    assert report["meta"]["gpu"] is None and "- GPU:" not in render_markdown(report)


def test_bad_inputs(tmp_path):
    with pytest.raises(QYoloError, match="does not exist"):
        load_metrics([tmp_path / "ort_fp32.json"])
    torch_row = _metrics(tmp_path, "torch_fp32", 79.8, model="yolo/assets/fixture.pt", precision="fp32",
                         backend="torch")
    assert load_metrics([torch_row])[0].items() >= {"backend": "torch", "model": "fixture", "precision": "fp32"}.items()
    no_small = _metrics(tmp_path, "ort_x", 40.0)
    no_small.write_text(json.dumps({**json.loads(no_small.read_text()), "APs": -1.0}))
    assert load_metrics([no_small])[0]["APs"] is None
    bad = tmp_path / "ort_fp32.json"
    bad.write_text(json.dumps({"mAP": 1}))
    with pytest.raises(QYoloError, match="no AP"):
        load_metrics([bad])


def test_cli(inputs, tmp_path):
    metrics, latency = inputs
    out = tmp_path / "cli"
    done = subprocess.run([sys.executable, "-m", "eval.report_bench", "--metrics", *map(str, metrics),
                           "--latency", *map(str, latency), "--out", str(out)], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert "## Accuracy" in done.stdout and (out / "report.png").is_file()
