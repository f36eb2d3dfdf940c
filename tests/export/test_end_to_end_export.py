"""YOLO26 / YOLOv10 through calibration and export: the family's float rule (first conv, the one-to-one branches'
output convs, the DFL conv), the decode and top-k in float, the end-to-end output [B, max_det, 6] recorded in the
metadata, ONNX Runtime and OpenVINO computing what torch computes, and a lint-clean TensorRT graph."""
import json
from pathlib import Path

import numpy as np
import onnx_graphsurgeon as gs
import pytest
import torch

from calib import CalibConfig, QuantConfig, calibrate, load_calibrated
from common.onnx_file import load_onnx
from eval.backends.base import backend_layout, create_backend
from eval.fidelity.compare import compare_outputs, judge
from export import ExportConfig, export_model
from export.lint import lint_model
from yolo.checkpoint import load_model
from yolo.family import END_TO_END

DATA = Path(__file__).resolve().parents[1] / "yolo" / "data" / "ultralytics"
HEAD = 23  # the head's layer index in both yamls


def _calibrated(arch: str, scheme: str, calib_images, tmp_path) -> Path:
    return calibrate(CalibConfig(quant=QuantConfig(method="minmax", scheme=scheme), weights=DATA / f"{arch}-thin.pt",
                                 data=calib_images, num_images=4, imgsz=64, out=tmp_path / f"{scheme}.pt",
                                 progress=False))


def _downstream_ops(graph: gs.Graph, start: list[gs.Node]) -> set[str]:
    """Op types of every node fed, directly or not, by the outputs of `start`."""
    seen, ops, todo = set(), set(), list(start)
    while todo:
        node = todo.pop()
        for tensor in node.outputs:
            for consumer in tensor.outputs:
                if id(consumer) not in seen:
                    seen.add(id(consumer))
                    ops.add(consumer.op)
                    todo.append(consumer)
    return ops


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["yolo26", "yolov10"])
def test_float_rule_decode_in_float_and_trt_lint(arch, calib_images, tmp_path):
    artifact = _calibrated(arch, "sym", calib_images, tmp_path)
    model, _ = load_calibrated(artifact)
    quantized = {n for n, m in model.named_modules() if type(m).__name__ == "QuantConv2d"}
    floats = {f"model.{HEAD}.one2one_cv2.{i}.2" for i in range(3)} | {f"model.{HEAD}.one2one_cv3.{i}.2"
                                                                       for i in range(3)}
    assert "model.0.conv" not in quantized and not floats & quantized and not any(".dfl." in n for n in quantized)
    assert {f"model.{HEAD}.one2one_cv2.0.0.conv", f"model.{HEAD}.one2one_cv3.1.0.0.conv"} <= quantized  # 3x3, dw
    assert not any(f"model.{HEAD}.cv" in n for n in quantized)  # the one-to-many branch is gone (deployment form)
    onnx_path = tmp_path / "trt.onnx"
    export_model(model, ExportConfig(out=onnx_path, artifact=str(artifact), profile="trt", imgsz=64), {})
    report = lint_model(onnx_path)
    assert not report.errors, [str(f) for f in report.errors]
    graph = gs.import_onnx(load_onnx(onnx_path))
    outputs = [n for n in graph.nodes if n.op == "Conv" and any(f"one2one_cv{b}.{i}.2/" in n.name
                                                                for b in (2, 3) for i in range(3))]
    assert len(outputs) == 6
    downstream = _downstream_ops(graph, outputs)
    assert "TopK" in downstream and not downstream & {"QuantizeLinear", "DequantizeLinear"}  # decode, top-k: float


@pytest.mark.parametrize("arch", ["yolo26", "yolov10"])
def test_fp32_export_records_the_end_to_end_output(arch, tmp_path):
    weights = DATA / f"{arch}-thin.pt"
    onnx_path = tmp_path / "fp32.onnx"
    export_model(load_model(weights), ExportConfig(out=onnx_path, weights=str(weights), profile="fp32", imgsz=96,
                                                   dynamic_batch=True), {})
    ort = create_backend("ort", onnx_path, threads=1)
    torch_backend = create_backend("torch", weights)
    try:
        assert backend_layout(ort) is END_TO_END and backend_layout(torch_backend) is END_TO_END
        assert ort.metadata["qyolo.head_layout"] == "end-to-end"
        layout = json.loads(ort.metadata["qyolo.output_layout"])["pred"]
        candidates = 12 * 12 + 6 * 6 + 3 * 3
        assert layout["shape"] == ["batch", candidates, 6] and layout["max_det"] == candidates  # < 300 candidates
        assert layout["fields"] == ["x1", "y1", "x2", "y2", "score", "class"]
        batch = np.random.default_rng(0).random((2, 3, 96, 96), dtype=np.float32)
        out_ort, out_torch = ort(batch), torch_backend(batch)
        assert out_ort.shape == out_torch.shape == (2, candidates, 6)
        figures = compare_outputs(out_torch, out_ort, END_TO_END)
        assert figures.f1 == 1.0 and figures.box_iou_p05 > 0.999 and figures.score_max < 1e-4
    finally:
        ort.close()
        torch_backend.close()


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["yolo26", "yolov10"])
def test_cpu_graph_computes_the_fake_quant_detections(arch, calib_images, tmp_path):
    """The uint8 `cpu` graph (integer ops completed) on ONNX Runtime and OpenVINO passes the fidelity bounds
    against the artifact's fake quantization."""
    artifact = _calibrated(arch, "asym", calib_images, tmp_path)
    onnx_path = tmp_path / "cpu.onnx"
    model, meta = load_calibrated(artifact)
    export_model(model, ExportConfig(out=onnx_path, artifact=str(artifact), profile="cpu", imgsz=64,
                                     calib_data=str(calib_images)), meta)
    batch = np.random.default_rng(1).random((2, 3, 64, 64), dtype=np.float32)
    with torch.no_grad():
        reference = model(torch.from_numpy(batch))[0].numpy()
    for runtime in ("ort", "openvino"):
        backend = create_backend(runtime, onnx_path, threads=1)
        try:
            figures = compare_outputs(reference, backend(batch), END_TO_END)
        finally:
            backend.close()
        verdict, reasons = judge(figures)
        assert verdict == "pass", (runtime, reasons)
