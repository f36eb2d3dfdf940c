"""The `cpu` profile's integer-op completion: ONNX Runtime really fuses the graph into uint8 kernels (the speed
property, checked structurally rather than timed), the SiLU-aware ranges, and what stays float."""
import collections

import numpy as np
import onnx
import onnx_graphsurgeon as gs
import onnxruntime as ort
import pytest
from export_helpers import IMGSZ, calibrated_fixture, numpy_batches

from export import ExportConfig, export_model
from export.integer_ops import _silu, _silu_bounds


def _ort_optimized_ops(path, tmp_path) -> collections.Counter:
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    options.log_severity_level = 3
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return collections.Counter(n.op_type for n in onnx.load(options.optimized_model_filepath).graph.node)


@pytest.mark.slow
@pytest.mark.parametrize("integer_ops", [True, False])
def test_onnx_runtime_fuses_the_completed_graph(tmp_path, integer_ops):
    model = calibrated_fixture("asym", 8)
    cfg = ExportConfig(out=tmp_path / "m.onnx", profile="cpu", imgsz=IMGSZ,
                       integer_ops=integer_ops)
    ops = _ort_optimized_ops(export_model(model, cfg, {}, numpy_batches()), tmp_path)
    if integer_ops:  # 56 quantized convs; the first conv and the 3 Detect convs stay float
        assert ops["QLinearConv"] == 56 and ops["Conv"] == 4
        assert ops["QLinearSigmoid"] >= 50 and ops["QLinearMul"] >= 50 and ops["QLinearAdd"] >= 1
        assert ops["QLinearConcat"] >= 10
    else:  # only the artifact's Q/DQ: ORT dequantizes and convolves in float (slower than FP32)
        assert ops["QLinearConv"] == 0 and ops["Conv"] == 60


@pytest.mark.slow
def test_detect_decode_stays_float(tmp_path):
    model = calibrated_fixture("asym", 8)
    path = export_model(model, ExportConfig(out=tmp_path / "m.onnx", profile="cpu", imgsz=IMGSZ),
                        {}, numpy_batches())
    graph = gs.import_onnx(onnx.load(str(path)))
    for node in graph.nodes:
        if node.name.startswith("/model.24/") and node.op not in ("Conv",):
            assert node.op not in ("QuantizeLinear", "DequantizeLinear"), node.name
    side = __import__("json").loads(path.with_name(path.name + ".json").read_text())
    sites = side["passes"]["integer_ops"]["sites"]
    assert {s["after"] for s in sites} >= {"Conv", "Sigmoid"}
    assert all(s["method"] == "fixed" for s in sites if s["after"] == "Sigmoid")


def test_silu_bounds():
    """Pre-activation range for x * sigmoid(x) feeding a uint8 quantizer of step s over [lo, hi]: above the value
    whose SiLU is hi + s/2 everything saturates; below the one whose SiLU is -s/4 everything rounds to 0."""
    from onnx import helper
    from qdq_graphs import GraphBuilder

    g = GraphBuilder(dtype=np.uint8)
    g.conv(g.qdq("x", "in", 0.02, zero_point=10), "conv1")
    g.nodes = [n for n in g.nodes if n.op_type != "Relu"]  # the conv output feeds x * sigmoid(x) only
    g.nodes.append(helper.make_node("Sigmoid", ["conv1_y"], ["sig"], name="sigmoid"))
    g.nodes.append(helper.make_node("Mul", ["conv1_y", "sig"], ["silu"], name="mul"))
    out = g.qdq("silu", "next", 0.025, zero_point=11)
    graph = gs.import_onnx(g.model(out))
    tensor = graph.tensors()["conv1_y"]
    lower, upper = _silu_bounds(tensor)
    high = (255 - 11) * 0.025
    assert _silu(upper) == pytest.approx(high + 0.0125, abs=1e-6)
    assert _silu(lower) == pytest.approx(-0.025 / 4, abs=1e-6) and lower < -5
    assert _silu_bounds(graph.tensors()["silu"]) is None  # not a SiLU input
