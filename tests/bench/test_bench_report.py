"""`make bench`'s report assembly: metrics + latency files -> AP table, latency table (markdown, JSON, PNG)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import describe_model, load_latency, load_metrics, render_markdown, write_report
from common.errors import QYoloError

ROOT = Path(__file__).resolve().parents[2]


def _quant(method, scheme, w, a):
    return {"method": method, "scheme": scheme, "w_bits": w, "a_bits": a}


def _metrics(tmp_path, backend, model, precision, quantization, ap):
    """A metrics file as `python -m eval --out` writes it (the file name means nothing to the report)."""
    path = tmp_path / "metrics" / f"{backend}-{Path(model).stem}.json"
    path.parent.mkdir(exist_ok=True)
    values = {"AP": ap, "AP50": ap + 20, "AP75": ap + 2, "APs": ap - 10, "APm": ap, "APl": ap + 5}
    fractions = {key: value / 100 for key, value in values.items()}  # eval writes pycocotools fractions
    path.write_text(json.dumps({**fractions, "backend": backend, "model": model, "precision": precision,
                                "quantization": quantization}))
    return path


@pytest.fixture
def inputs(tmp_path):
    metrics = [_metrics(tmp_path, "ort", "x/fp32.onnx", "FP32", {}, 40.0),
               _metrics(tmp_path, "ort", "x/uh-asym-w8a8-cpu.onnx", "INT8", _quant("uh", "asym", 8, 8), 39.8),
               _metrics(tmp_path, "openvino", "x/uh-asym-w4a4-cpu.onnx", "INT4-emulated W4A4",
                        _quant("uh", "asym", 4, 4), 20.5),
               _metrics(tmp_path, "tensorrt", "e/fp16.engine", "fp16", {}, 40.1),
               _metrics(tmp_path, "tensorrt", "e/uh-sym-w8a8-trt.engine", "int8", _quant("uh", "sym", 8, 8), 39.6)]
    cpu = tmp_path / "latency_cpu.json"
    cpu.write_text(json.dumps({"meta": {}, "records": [
        {"backend": "ort", "variant": "fp32", "precision": "FP32", "quantization": {}, "imgsz": 256, "batch": 1,
         "median_ms": 30.0, "p90_ms": 31.0, "p99_ms": 35.0, "throughput_ips": 1000 / 30.5, "threads": 2},
        {"backend": "ort", "variant": "uh-asym-w8a8-cpu", "precision": "INT8",
         "quantization": _quant("uh", "asym", 8, 8), "imgsz": 256, "batch": 1, "median_ms": 15.0, "p90_ms": 16.0,
         "p99_ms": 18.0, "throughput_ips": 65.0, "threads": 2}]}))
    trt = tmp_path / "latency_tensorrt.json"
    common = {"backend": "tensorrt", "variant": "uh-sym-w8a8-trt", "precision": "int8", "imgsz": 256,
              "quantization": _quant("uh", "sym", 8, 8), "device": "NVIDIA H100 80GB HBM3",
              "tensorrt_version": "10.8.0.43", "threads": None, "cuda_graph": True}
    trt.write_text(json.dumps({"meta": {}, "records": [
        {**common, "batch": 1, "median_ms": 0.4, "p90_ms": 0.41, "p99_ms": 0.45, "throughput_ips": 2500.0,
         "trtexec_median_ms": 0.39},
        {**common, "batch": 32, "median_ms": 2.0, "p90_ms": 2.1, "p99_ms": 2.2, "throughput_ips": 16000.0,
         "trtexec_median_ms": None}]}))
    return metrics, [cpu, trt]


def test_describe_model_from_quantization_settings():
    assert describe_model("fp32", "FP32", {})["precision"] == "FP32"
    assert describe_model("anything", "fp16", {})["precision"] == "FP16"
    row = describe_model("my-model", "int8", _quant("uh", "sym", 4, 4))
    assert row == {"model": "my-model", "precision": "INT4-emulated W4A4", "w_bits": 4, "a_bits": 4,
                   "method": "uh", "scheme": "sym"}
    assert describe_model("m", "INT8", _quant("percentile", "asym", 8, 8))["precision"] == "INT8 W8A8"


def test_tables_from_metrics_and_latency(inputs):
    metrics, latency = inputs
    accuracy = load_metrics(metrics)
    assert [(r["backend"], r["model"]) for r in accuracy] == [
        ("tensorrt", "fp16"), ("tensorrt", "uh-sym-w8a8-trt"), ("ort", "fp32"), ("ort", "uh-asym-w8a8-cpu"),
        ("openvino", "uh-asym-w4a4-cpu")]
    rows = load_latency(latency)
    assert [(r["backend"], r["batch"]) for r in rows] == [("tensorrt", 1), ("tensorrt", 32), ("ort", 1), ("ort", 1)]
    assert rows[2]["throughput_ips"] == pytest.approx(1000 / 30.5) and rows[3]["precision"] == "INT8 W8A8"


def test_written_report(inputs, tmp_path):
    metrics, latency = inputs
    report = write_report(metrics, latency, tmp_path / "report")
    assert report["meta"]["gpu"] == "NVIDIA H100 80GB HBM3" and report["meta"]["tensorrt_version"] == "10.8.0.43"
    assert report["meta"]["tensorrt_batches"] == [1, 32] and report["meta"]["cpu_threads"] == [2]
    deltas = {(r["backend"], r["model"]): r["dAP"] for r in report["accuracy"]}
    assert deltas[("ort", "uh-asym-w8a8-cpu")] == pytest.approx(-0.2)
    assert deltas[("tensorrt", "uh-sym-w8a8-trt")] == pytest.approx(-0.5) and deltas[("ort", "fp32")] is None
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "| TensorRT | uh-sym-w8a8-trt | INT8 W8A8 | 39.6 | 59.6 | 41.6 | 29.6 | 39.6 | 44.6 | -0.5 |" in markdown
    assert "| TensorRT | uh-sym-w8a8-trt | INT8 W8A8 | 32 | 256 | 2.000 | 2.100 | 2.200 | 16000 | – |" in markdown
    assert "| ONNX Runtime | fp32 | FP32 | 1 | 256 | 30.000 |" in markdown
    assert "GPU: NVIDIA H100 80GB HBM3, TensorRT 10.8.0.43, batch sizes 1, 32" in markdown
    assert json.loads((tmp_path / "report" / "report.json").read_text())["accuracy"][0]["model"] == "fp16"
    assert (tmp_path / "report" / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cpu_only_report_has_no_gpu_line(inputs):
    metrics, latency = inputs
    from bench.report import build_report

    report = build_report(load_metrics(metrics[:3]), load_latency(latency[:1]))
    assert report["meta"]["gpu"] is None and "- GPU:" not in render_markdown(report)


def test_bad_inputs(tmp_path):
    with pytest.raises(QYoloError, match="does not exist"):
        load_metrics([tmp_path / "ort-fp32.json"])
    torch_row = _metrics(tmp_path, "torch", "yolo/assets/fixture.pt", "fp32", {}, 79.8)
    assert load_metrics([torch_row])[0].items() >= {"backend": "torch", "model": "fixture", "precision": "FP32"}.items()
    no_small = _metrics(tmp_path, "ort", "x.onnx", "FP32", {}, 40.0)
    no_small.write_text(json.dumps({**json.loads(no_small.read_text()), "APs": -1.0}))
    assert load_metrics([no_small])[0]["APs"] is None
    bad = tmp_path / "ort-fp32.json"
    bad.write_text(json.dumps({"mAP": 1}))
    with pytest.raises(QYoloError, match="lacks AP, AP50.*python -m eval --out"):
        load_metrics([bad])
    bad.write_text("[1, 2")
    with pytest.raises(QYoloError, match="not valid JSON"):
        load_latency([bad])
    bad.write_text(json.dumps([{"median_ms": 1.0}]))
    with pytest.raises(QYoloError, match="has no 'records'"):
        load_latency([bad])


@pytest.mark.slow
def test_cli(inputs, tmp_path):
    metrics, latency = inputs
    out = tmp_path / "cli"
    done = subprocess.run([sys.executable, "-m", "bench", "report", "--metrics", *map(str, metrics),
                           "--latency", *map(str, latency), "--out", str(out)], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert "## Accuracy" in done.stdout and (out / "report.png").is_file()


def test_fidelity_column_shows_each_verdict_and_why_a_model_failed(tmp_path):
    from bench.report import build_report, render_markdown

    good = _metrics(tmp_path, "ort", "x/uh-asym-w8a8-cpu.onnx", "INT8", _quant("uh", "asym", 8, 8), 39.8)
    bad = _metrics(tmp_path, "openvino", "x/uh-sym-w8a8-trt.onnx", "INT8", _quant("uh", "sym", 8, 8), 18.0)
    for path, verdict, reasons in ((good, "pass", []), (bad, "fail", ["F1 of the detections at conf 0.25 0.31"])):
        record = json.loads(path.read_text())
        record["fidelity"] = {"verdict": verdict, "reasons": reasons}
        path.write_text(json.dumps(record))
    fp32 = _metrics(tmp_path, "ort", "x/fp32.onnx", "FP32", {}, 40.0)
    rows = load_metrics([fp32, good, bad])
    assert [r["fidelity"] for r in rows] == [None, "pass", "fail"]
    text = render_markdown(build_report(rows, []))
    assert "| Fidelity |" in text and "| pass |" in text and "| **FAIL** |" in text
    assert "- FAIL: OpenVINO uh-sym-w8a8-trt: F1 of the detections at conf 0.25 0.31" in text
