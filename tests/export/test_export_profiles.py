"""Every profile round-trips: onnx.checker (full), ONNX Runtime runs it at the declared batch, the output is named
and laid out as the metadata says, the sidecar is there, and the profile's Q/DQ types are what it promises."""
import json

import numpy as np
import onnx
import pytest
from export_helpers import IMGSZ, calibrated_fixture, float_fixture, numpy_batches, ort_run
from onnx import numpy_helper

from export import ExportConfig, export_model, sidecar_path
from export.lint import lint_model

CASES = {  # name: (profile, scheme, bits, extra config)
    "fp32": ("fp32", None, None, {}),
    "trt_w8a8": ("trt", "sym", 8, {}),
    "cpu_w8a8": ("cpu", "asym", 8, {}),
    "cpu_w8a8_exact": ("cpu", "asym", 8, {"integer_ops": False}),
    "trt_w4a4": ("trt", "sym", 4, {}),
    "cpu_w4a4": ("cpu", "asym", 4, {}),
}


def _export(tmp_path, name, dynamic_batch=True, batch=1):
    profile, scheme, bits, extra = CASES[name]
    model = float_fixture() if scheme is None else calibrated_fixture(scheme, bits)
    source = {"weights": "fixture.pt"} if profile == "fp32" else {"artifact": "calibrated.pt"}
    cfg = ExportConfig(out=tmp_path / f"{name}.onnx", profile=profile, imgsz=IMGSZ, batch=batch,
                       dynamic_batch=dynamic_batch, **source, **extra)
    return export_model(model, cfg, {"source": "test"}, numpy_batches()), model


def _qdq_types(model: onnx.ModelProto) -> set[str]:
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    types = set()
    for node in model.graph.node:
        if node.op_type == "QuantizeLinear":
            types.add(inits[node.input[2]].dtype.name)
    return types


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_profile_round_trips(tmp_path, name):
    path, _ = _export(tmp_path, name)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ["images"]
    assert [o.name for o in model.graph.output] == ["pred"]
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) == 17
    meta = {p.key: p.value for p in model.metadata_props}
    layout = json.loads(meta["qyolo.output_layout"])["pred"]
    assert meta["qyolo.profile"] == CASES[name][0] and meta["qyolo.dynamic_batch"] == "true"
    for batch in (1, 3):
        x = np.random.default_rng(batch).random((batch, 3, IMGSZ, IMGSZ), dtype=np.float32)
        pred = ort_run(path, x)
        assert pred.shape == (batch, layout["shape"][1], layout["shape"][2]) == (batch, pred.shape[1], 13)
        assert np.isfinite(pred).all()
    side = json.loads(sidecar_path(path).read_text())
    assert side["config"]["profile"] == CASES[name][0] and side["op_counts"]
    ops = {node.op_type for node in model.graph.node}
    assert not ops & {"Identity", "Cast"}  # cleanup removed the fake-quant code's no-op casts
    if name == "fp32":
        assert not ops & {"QuantizeLinear", "DequantizeLinear"} and meta["qyolo.precision"] == "FP32"
    elif CASES[name][0] == "trt":
        assert _qdq_types(model) == {"int8"}
        assert not lint_model(model).errors
    else:
        assert _qdq_types(model) == {"uint8"}  # activations; weights are int8 initializers behind a DQ
    if CASES[name][2] == 4:
        assert meta["qyolo.precision"] == "INT4-emulated W4A4" and "Clip" in ops


@pytest.mark.slow
def test_static_batch(tmp_path):
    path, _ = _export(tmp_path, "trt_w8a8", dynamic_batch=False, batch=2)
    model = onnx.load(str(path))
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [2, 3, IMGSZ, IMGSZ]
    assert ort_run(path, np.zeros((2, 3, IMGSZ, IMGSZ), np.float32)).shape[0] == 2


@pytest.mark.slow
def test_weights_stored_as_int8_on_the_4bit_grid(tmp_path):
    """INT4 emulation: the int8 weight initializers hold only 4-bit levels, and times their scale they equal the
    torch fake-quant weights exactly."""
    import torch

    path, model = _export(tmp_path, "trt_w4a4")
    onnx_model = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in onnx_model.graph.initializer}
    conv = model.get_submodule("model.2.cv1.conv")
    with torch.no_grad():
        expected = conv.weight_quantizer(conv.weight).numpy()
    for node in onnx_model.graph.node:
        if node.op_type == "DequantizeLinear" and node.name.startswith("/model.2/cv1/conv/weight_quantizer"):
            q, scale = inits[node.input[0]], inits[node.input[1]]
            assert q.dtype == np.int8 and q.min() >= -8 and q.max() <= 7
            assert np.array_equal(q.astype(np.float32) * scale.reshape(-1, 1, 1, 1), expected)
            break
    else:
        pytest.fail("weight DequantizeLinear of model.2.cv1.conv not found")
