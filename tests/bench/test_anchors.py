"""bench.anchors: the Detect head found by structure, and both tools' graphs keep it in float."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx_backend_models import IMGSZ, exported

from bench.anchors import build_anchors, detect_head_nodes
from common.errors import QYoloError


def _graph(nodes, inits=()):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("pred", TensorProto.FLOAT, None)], list(inits))
    return helper.make_model(graph)


def _weight(name, cout, cin):
    return helper.make_tensor(name, TensorProto.FLOAT, [cout, cin, 1, 1], np.ones(cout * cin, np.float32))


def test_head_is_everything_after_the_last_convolutions():
    model = _graph([
        helper.make_node("Conv", ["x", "w0"], ["a"], name="stem"),
        helper.make_node("Sigmoid", ["a"], ["b"], name="act"),
        helper.make_node("Conv", ["b", "w1"], ["p3"], name="detect0"),
        helper.make_node("Conv", ["b", "w2"], ["p4"], name="detect1"),
        helper.make_node("Sigmoid", ["p3"], ["s3"], name="sig3"),
        helper.make_node("Sigmoid", ["p4"], ["s4"], name="sig4"),
        helper.make_node("Concat", ["s3", "s4"], ["pred"], name="cat", axis=1),
    ], [_weight("w0", 4, 3), _weight("w1", 2, 4), _weight("w2", 2, 4)])
    assert set(detect_head_nodes(model)) == {"cat", "sig3", "sig4", "detect0", "detect1"}


def test_graph_without_convolution_is_refused():
    model = _graph([helper.make_node("Sigmoid", ["x"], ["pred"], name="s")])
    with pytest.raises(QYoloError, match="no convolution"):
        detect_head_nodes(model)


def test_fixture_head_is_the_detect_layer():
    model = onnx.load(exported("fp32"))
    head = detect_head_nodes(model)
    kinds = {n.name: n.op_type for n in model.graph.node}
    assert sum(kinds[name] == "Conv" for name in head) == 3  # one output conv per scale
    assert all("model.24" in name for name in head)  # the fixture's Detect is module 24


def _float_head_check(path, precision):
    model = onnx.load(path)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["qyolo.precision"] == precision and meta["qyolo.profile"] == "anchor"
    made = {o: n for n in model.graph.node for o in n.output}
    head = set(detect_head_nodes(model))
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    quantized = [n.name for n in convs if made.get(n.input[1]) is not None and made[n.input[1]].op_type ==
                 "DequantizeLinear"]
    assert len(convs) - len(quantized) >= 3 and not head & set(quantized)
    assert all(made.get(i) is None or made[i].op_type != "DequantizeLinear"
               for n in model.graph.node if n.name in head and n.op_type != "Conv" for i in n.input)
    assert len(quantized) >= len(convs) - 4  # the backbone and neck are int8


def _batches():
    rng = np.random.default_rng(0)
    return [rng.random((1, 3, IMGSZ, IMGSZ), dtype=np.float32) for _ in range(2)]


def test_ort_quantize_static_anchor_keeps_the_head_float(tmp_path):
    import onnxruntime as ort

    made = build_anchors(exported("fp32"), _batches(), tmp_path, which=["ortstatic-w8a8"])
    _float_head_check(made["ortstatic-w8a8"], "INT8 ORT quantize_static")
    session = ort.InferenceSession(str(made["ortstatic-w8a8"]), providers=["CPUExecutionProvider"])
    out = session.run(None, {session.get_inputs()[0].name: _batches()[0]})[0]
    assert out.shape[0] == 1 and out.shape[2] == 13 and np.isfinite(out).all()


def test_nncf_anchor_keeps_the_head_float(tmp_path):
    pytest.importorskip("nncf", reason="nncf is a benchmark-only extra (pip install -r requirements-bench.txt)")
    made = build_anchors(exported("fp32"), _batches(), tmp_path, which=["nncf-w8a8"])
    _float_head_check(made["nncf-w8a8"], "INT8 NNCF")


def test_unknown_anchor(tmp_path):
    with pytest.raises(QYoloError, match="unknown anchor"):
        build_anchors(exported("fp32"), _batches(), tmp_path, which=["tflite"])
