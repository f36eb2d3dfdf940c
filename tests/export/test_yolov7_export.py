"""A YOLOv7 model through the unchanged export path: float head and stem, TensorRT lint, ONNX Runtime agreement.

The model is the thin checkpoint written by WongKinYiu/yolov7's own code (tests/yolo/data/yolov7_parity): all of
the family's blocks (ELAN Concats, MP/SPPCSPC max pools, RepConv, IDetect) at 1/32 width.
"""
from pathlib import Path

import numpy as np
import pytest
import torch
from export_helpers import IMGSZ, calib_batches, numpy_batches, ort_run

from calib import QuantConfig, collect_and_compute, quantize_model
from calib.quant_modules import QuantConv2d, QuantMaxPool2d
from export import ExportConfig, export_model
from export.lint import lint_model
from yolo.checkpoint import load_model
from yolo.registry import family_of_model

CHECKPOINT = Path(__file__).parents[1] / "yolo" / "data" / "yolov7_parity" / "yolov7-w0.03125.pt"


def _calibrated(scheme: str):
    model = load_model(CHECKPOINT)
    head = family_of_model(model).float_head_classes
    quantize_model(model, QuantConfig(method="uh", scheme=scheme, float_head_classes=head))
    collect_and_compute(model, calib_batches(), progress=False)
    return model


def test_float_rules_keep_the_stem_and_the_idetect_convs_float():
    model = _calibrated("sym")
    modules = dict(model.named_modules())
    head = str(len(model.model) - 1)
    assert not isinstance(modules["model.0.conv"], QuantConv2d)
    assert not any(isinstance(m, QuantConv2d) for n, m in modules.items() if n.startswith(f"model.{head}."))
    assert isinstance(modules["model.104.rbr_reparam"], QuantConv2d)  # RepConv's deploy conv is quantized
    assert isinstance(modules["model.51.m.0"], QuantMaxPool2d)  # SPPCSPC's pools
    assert isinstance(modules["model.12.m"], QuantMaxPool2d)  # MP


def test_trt_profile_passes_the_lint(tmp_path):
    path = export_model(_calibrated("sym"), ExportConfig(out=tmp_path / "v7_trt.onnx", profile="trt", imgsz=IMGSZ,
                                                         artifact="calibrated.pt"), {"source": "test"})
    report = lint_model(path)
    assert not report.errors, [f"{f.rule} {f.node}" for f in report.errors[:5]]


@pytest.mark.parametrize("profile", ["fp32", "cpu"])
def test_onnx_runtime_agrees_with_torch(tmp_path, profile):
    model = load_model(CHECKPOINT) if profile == "fp32" else _calibrated("asym")
    source = {"weights": "v7.pt"} if profile == "fp32" else {"artifact": "calibrated.pt", "integer_ops": False}
    path = export_model(model, ExportConfig(out=tmp_path / f"v7_{profile}.onnx", profile=profile, imgsz=IMGSZ,
                                            **source), {"source": "test"}, numpy_batches())
    x = numpy_batches()[0][:1]
    with torch.no_grad():
        expected = model(torch.from_numpy(x))[0].numpy()
    got = ort_run(path, x)
    assert got.shape == expected.shape
    # boxes are in pixels (up to 64): fp32 agrees to float rounding, fake-quant to a few grid steps at most
    tolerance = 1e-3 if profile == "fp32" else 0.5
    assert np.abs(got - expected).max() <= tolerance, np.abs(got - expected).max()
