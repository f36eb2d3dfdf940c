"""YOLOv8 / YOLO11 through calibration and export: the family's float rule (branch output convs, DFL conv, first
conv), the anchor-free output layout in the metadata and through the eval backends, and a lint-clean TensorRT graph."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from calib import CalibConfig, QuantConfig, calibrate
from eval.backends.base import backend_layout, create_backend
from export import ExportConfig, export_model
from export.lint import lint_model
from yolo.checkpoint import load_model
from yolo.family import ANCHOR_FREE, ANCHOR_OBJECTNESS

DATA = Path(__file__).resolve().parents[1] / "yolo" / "data" / "ultralytics"


@pytest.mark.parametrize("arch, head", [("yolov8", 22), ("yolo11", 23)])
def test_float_rule_and_trt_lint(arch, head, calib_images, tmp_path):
    artifact = calibrate(CalibConfig(quant=QuantConfig(method="minmax", scheme="sym"), weights=DATA / f"{arch}-thin.pt",
                                     data=calib_images, num_images=4, imgsz=64, out=tmp_path / "a.pt", progress=False))
    from calib import load_calibrated

    model, _ = load_calibrated(artifact)
    quantized = {n for n, m in model.named_modules() if type(m).__name__ == "QuantConv2d"}
    assert "model.0.conv" not in quantized and f"model.{head}.dfl.conv" not in quantized
    assert f"model.{head}.cv2.0.2" not in quantized and f"model.{head}.cv3.2.2" not in quantized
    cls_conv = f"model.{head}.cv3.1.1.conv" if arch == "yolov8" else f"model.{head}.cv3.1.1.0.conv"  # depthwise
    assert f"model.{head}.cv2.0.0.conv" in quantized and cls_conv in quantized
    if arch == "yolo11":  # attention convs are quantized
        assert {"model.10.m.0.attn.qkv.conv", "model.10.m.0.attn.proj.conv", "model.10.m.0.attn.pe.conv"} <= quantized
    onnx_path = tmp_path / "trt.onnx"
    export_model(model, ExportConfig(out=onnx_path, artifact=str(artifact), profile="trt", imgsz=64), {})
    report = lint_model(onnx_path)
    assert not report.errors, [str(f) for f in report.errors]


@pytest.mark.parametrize("arch", ["yolov8", "yolo11"])
def test_fp32_export_layout_and_ort_equal_torch(arch, tmp_path):
    model = load_model(DATA / f"{arch}-thin.pt")
    onnx_path = tmp_path / "fp32.onnx"
    export_model(model, ExportConfig(out=onnx_path, weights=str(DATA / f"{arch}-thin.pt"), profile="fp32",
                                     imgsz=64), {})
    ort = create_backend("ort", onnx_path, threads=1)
    torch_backend = create_backend("torch", DATA / f"{arch}-thin.pt")
    try:
        assert backend_layout(ort) is ANCHOR_FREE and backend_layout(torch_backend) is ANCHOR_FREE
        meta = ort.metadata
        assert meta["qyolo.head_layout"] == "anchor-free"
        layout = json.loads(meta["qyolo.output_layout"])["pred"]
        n = 8 * 8 + 4 * 4 + 2 * 2
        assert layout["shape"] == ["B", 4 + 8, n] and layout["fields"][:5] == ["cx", "cy", "w", "h", "class_0"]
        batch = np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32)
        out_ort, out_torch = ort(batch), torch_backend(batch)
        assert out_ort.shape == (1, 12, n)
        np.testing.assert_allclose(out_ort, out_torch, atol=1e-3, rtol=1e-4)
    finally:
        ort.close()
        torch_backend.close()


def test_graphs_without_a_recorded_layout_are_yolov5s():
    class Old:
        metadata = {"qyolo.format": "q-yolo-onnx"}

    assert backend_layout(Old()) is ANCHOR_OBJECTNESS
    assert ANCHOR_FREE.nms_iou == 0.7 and ANCHOR_OBJECTNESS.nms_iou == 0.6
    assert torch.Size(ANCHOR_FREE.shape(1, 10, 3)) == torch.Size([1, 7, 10])


@pytest.mark.parametrize("arch", ["yolov8", "yolo11"])
def test_fidelity_check_passes_on_onnx_runtime(arch, calib_images, tmp_path):
    """eval.fidelity reads the anchor-free layout: the W8A8 `cpu` graph on ONNX Runtime against its artifact."""
    from eval.fidelity import check_backend

    artifact = calibrate(CalibConfig(quant=QuantConfig(method="uh", scheme="asym"), weights=DATA / f"{arch}-thin.pt",
                                     data=calib_images, num_images=4, imgsz=64, out=tmp_path / "a.pt", progress=False))
    from calib import load_calibrated

    model, _ = load_calibrated(artifact)
    onnx_path = tmp_path / "cpu.onnx"
    export_model(model, ExportConfig(out=onnx_path, artifact=str(artifact), profile="cpu", imgsz=64,
                                     integer_ops=False), {})
    backend = create_backend("ort", onnx_path, threads=1)
    try:
        report = check_backend(backend, artifact, images=4, data=calib_images, imgsz=64, progress=False)
    finally:
        backend.close()
    assert report["verdict"] == "pass", report["reasons"]


def _matmul_inputs(onnx_path: Path) -> list[str]:
    """The op producing each input of each MatMul of the graph."""
    import onnx

    graph = onnx.load(str(onnx_path)).graph
    makers = {out: node.op_type for node in graph.node for out in node.output}
    return [makers.get(name, "initializer") for node in graph.node if node.op_type == "MatMul" for name in node.input]


def _activation_qs(onnx_path: Path) -> int:
    import onnx

    return sum(node.op_type == "QuantizeLinear" and "weight_quantizer" not in node.name
               for node in onnx.load(str(onnx_path)).graph.node)


@pytest.mark.slow
@pytest.mark.parametrize("scheme, profile", [("sym", "trt"), ("asym", "cpu")])
def test_attention_matmul_option_puts_qdq_on_exactly_the_matmul_inputs(scheme, profile, calib_images, tmp_path):
    """Off (the default): YOLO11's two attention MatMuls read float tensors. On: a Q/DQ on each of their four
    inputs and nowhere else; the option is carried by the artifact; the graph computes what the fake-quant model
    computes, at the MatMul quantizers too (export.fidelity, in quantization steps); the trt graph lints clean."""
    from calib import QuantMatMul, load_calibrated
    from export.fidelity import qdq_agreement

    graphs = {}
    for on in (False, True):
        quant = QuantConfig(method="minmax", scheme=scheme, quantize_matmul=on)
        artifact = calibrate(CalibConfig(quant=quant, weights=DATA / "yolo11-thin.pt", data=calib_images,
                                         num_images=4, imgsz=64, out=tmp_path / f"{on}.pt", progress=False))
        model, meta = load_calibrated(artifact)
        assert meta["quant_config"]["quantize_matmul"] is on
        assert (type(model.model[10].m[0].attn.qk) is QuantMatMul) is on
        graphs[on] = export_model(model, ExportConfig(out=tmp_path / f"{on}.onnx", artifact=str(artifact),
                                                      profile=profile, imgsz=64, integer_ops=False,
                                                      placement=False), {})
    assert len(_matmul_inputs(graphs[False])) == 4 and "DequantizeLinear" not in _matmul_inputs(graphs[False])
    assert _matmul_inputs(graphs[True]) == ["DequantizeLinear"] * 4
    assert _activation_qs(graphs[True]) == _activation_qs(graphs[False]) + 4
    x = np.random.default_rng(1).random((2, 3, 64, 64), dtype=np.float32)
    report = qdq_agreement(graphs[True], model, x, threads=1)
    matmul_rows = [row for row in report["per_quantizer"] if ".attn.qk." in row["quantizer"] or
                   ".attn.av." in row["quantizer"]]
    assert len(matmul_rows) == 4
    assert report["within_one_step_fraction"] > 0.999 and all(row["exact"] > 0.99 for row in matmul_rows)
    ort = create_backend("ort", graphs[True], threads=1)
    try:
        with torch.no_grad():
            expected = model(torch.from_numpy(x))[0].numpy()
        got = ort(x)
    finally:
        ort.close()
    boxes, scores = np.abs(got - expected)[:, :4], np.abs(got - expected)[:, 4:]
    # measured here: 6e-5 px and 1e-7; the bound leaves room for one level rounded the other way on another CPU
    assert boxes.max() < 0.25 and scores.max() < 2e-3, (boxes.max(), scores.max())
    # the deployment defaults (placement rules; for cpu the integer-op completion) keep the MatMul inputs quantized
    deployed = export_model(model, ExportConfig(out=tmp_path / "deployed.onnx", artifact=str(artifact),
                                                profile=profile, imgsz=64, calib_data=calib_images), {})
    assert _matmul_inputs(deployed) == ["DequantizeLinear"] * 4
    if profile == "trt":
        assert not lint_model(deployed).errors
