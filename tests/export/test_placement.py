"""export.placement's rules on a small hand-built graph with a Concat, a MaxPool and a residual Add."""
import numpy as np
import onnx
import onnx_graphsurgeon as gs
import onnxruntime as ort
import pytest
from qdq_graphs import C, placement_sample

from export.lint import lint_model
from export.placement import apply_placement
from export.qdq import DQ_OP, Q_OP, qparams


def _place(model: onnx.ModelProto):
    graph = gs.import_onnx(model)
    report = apply_placement(graph)
    placed = gs.export_onnx(graph)
    onnx.checker.check_model(placed, full_check=True)
    return placed, gs.import_onnx(placed), report


def _node(graph: gs.Graph, name: str) -> gs.Node:
    return next(n for n in graph.nodes if n.name == name)


def _dq_scale(tensor) -> float | None:
    maker = tensor.inputs[0] if tensor.inputs else None
    return float(qparams(maker).scale) if maker is not None and maker.op == DQ_OP else None


def _q_scales(tensor) -> list[float]:
    return [float(qparams(c).scale) for c in tensor.outputs if c.op == Q_OP]


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


@pytest.mark.parametrize("dtype,zero_point", [(np.int8, 0), (np.uint8, 10)])
def test_rules_on_concat_maxpool_add(dtype, zero_point):
    original = placement_sample(dtype=dtype, zero_point=zero_point)
    placed, graph, report = _place(original)
    concat = _node(graph, "concat")
    # Concat: every input read through a Q/DQ, all with the one scale of the Q after it (union of 0.05 and 0.2).
    input_scales = [_dq_scale(t) for t in concat.inputs]
    assert None not in input_scales
    assert input_scales == pytest.approx([0.2, 0.2]) and _q_scales(concat.outputs[0]) == pytest.approx([0.2])
    # The other quantizer on the Concat's input t1 (conv2's input) joined the group as well.
    assert _dq_scale(_node(graph, "conv2").inputs[0]) == pytest.approx(0.2)
    # MaxPool: the quantizer after it keeps the scale of the one before (union 0.08 | 0.12 -> 0.12).
    pool = _node(graph, "maxpool")
    assert _dq_scale(pool.inputs[0]) == pytest.approx(0.12) and _q_scales(pool.outputs[0]) == pytest.approx([0.12])
    # Residual Add: the input that already has a quantizer (t3, the MaxPool's) is read through it.
    add = _node(graph, "residual_add")
    assert _dq_scale(add.inputs[0]) == pytest.approx(0.12) and _dq_scale(add.inputs[1]) is None
    assert report.concat_edges == 2 and report.add_edges == 1
    assert len(report.groups) == 2
    if dtype == np.int8:  # TensorRT's view: the advice warnings of the original are gone, no errors appear
        before, after = lint_model(original), lint_model(placed)
        assert {f.rule for f in before.warnings} == {"commute-scale", "residual-add"} and not before.errors
        assert not after.findings, [str(f) for f in after.findings]


def test_concat_input_qdq_is_exact_when_scales_agree():
    """Q/DQ on the Concat inputs with the Concat's own scale commutes with the Concat: same outputs, bit for bit."""
    original = placement_sample(concat_scale=0.2, branch_scale=0.2, pool_scales=(0.1, 0.1), with_add=False)
    placed, graph, report = _place(original)
    assert report.concat_edges == 2
    x = np.random.default_rng(0).normal(0, 1, (1, 4, 8, 8)).astype(np.float32)
    assert np.array_equal(_run(original, x), _run(placed, x))


def test_float_part_left_alone():
    """A Concat/Add whose output has no quantizer (the Detect decode) gets no Q/DQ."""
    from onnx import helper
    from qdq_graphs import GraphBuilder

    g = GraphBuilder()
    t1 = g.conv(g.qdq("x", "in", 0.02), "conv1")
    g.nodes.append(helper.make_node("Concat", [t1, "x"], ["cat"], name="decode_concat", axis=1))
    g.nodes.append(helper.make_node("Add", ["cat", "cat"], ["y"], name="decode_add"))
    placed, graph, report = _place(g.model("y"))
    assert report.concat_edges == 0 and report.add_edges == 0
    assert all(_dq_scale(t) is None for t in _node(graph, "decode_concat").inputs)


def test_resize_reads_its_input_through_the_group_quantizer():
    """A nearest Resize whose input and output are quantized reads the quantized values: same outputs, bit for bit,
    and the runtime resizes int8 instead of float. A Resize whose input has no quantizer keeps its float input."""
    from onnx import helper
    from qdq_graphs import GraphBuilder

    g = GraphBuilder()
    t1 = g.conv(g.qdq("x", "in", 0.02), "conv1")
    t2 = g.conv(g.qdq(t1, "branch", 0.1), "conv2")
    scales = g.const("up_scales", np.array([1, 1, 2, 2], np.float32))
    g.nodes.append(helper.make_node("Resize", [t1, "", scales], ["up1"], name="upsample1", mode="nearest"))
    g.nodes.append(helper.make_node("Resize", [t2, "", scales], ["up2"], name="upsample2", mode="nearest"))
    g.nodes.append(helper.make_node("Concat", ["up1", "up2"], ["cat"], name="concat", axis=1))
    original = g.model(g.conv(g.qdq("cat", "cat_in", 0.1), "conv3", cin=2 * C))
    placed, graph, report = _place(original)
    assert report.commuting_edges == 1
    assert _dq_scale(_node(graph, "upsample1").inputs[0]) == pytest.approx(0.1)
    assert _dq_scale(_node(graph, "upsample2").inputs[0]) is None
    x = np.random.default_rng(1).normal(0, 1, (1, C, 8, 8)).astype(np.float32)
    assert np.array_equal(_run(original, x), _run(placed, x))
