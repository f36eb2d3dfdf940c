"""The TensorRT lint: clean graphs pass; each broken rule fails with the offending node named; the CLI's exit codes."""
import numpy as np
import onnx
from onnx import helper
from qdq_graphs import GraphBuilder, placement_sample

from export.lint import lint_model, main


def _errors(model) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for finding in lint_model(model).errors:
        found.setdefault(finding.rule, set()).add(finding.node)
    return found


def test_clean_graph_passes():
    g = GraphBuilder()
    y = g.conv(g.qdq("x", "in", 0.02), "conv1")
    assert not lint_model(g.model(y)).findings


def test_nonzero_zero_point_names_the_node():
    g = GraphBuilder()
    y = g.conv(g.qdq("x", "act", 0.02, zero_point=3), "conv1")
    errors = _errors(g.model(y))
    assert errors == {"zero-point": {"act_Q", "act_DQ"}}


def test_uint8_is_a_type_error():
    g = GraphBuilder(dtype=np.uint8)
    y = g.conv(g.qdq("x", "act", 0.02), "conv1")
    assert _errors(g.model(y)) == {"type": {"act_Q", "act_DQ"}}


def test_mismatched_concat_names_the_concat():
    g = GraphBuilder()
    a = g.conv(g.qdq("x", "in", 0.02), "conv1")
    b = g.conv(g.qdq("x", "in2", 0.02), "conv2")
    qa, qb = g.qdq(a, "cat_a", 0.1), g.qdq(b, "cat_b", 0.3)
    g.nodes.append(helper.make_node("Concat", [qa, qb], ["cat"], name="the_concat", axis=1))
    y = g.conv(g.qdq("cat", "after", 0.1), "conv3", cin=8)
    assert _errors(g.model(y)) == {"concat-scale": {"the_concat"}}


def test_per_channel_activation_names_the_node():
    g = GraphBuilder()
    y = g.conv(g.qdq("x", "act", 0.02, channels=4, axis=1), "conv1")
    assert _errors(g.model(y)) == {"per-channel-activation": {"act_Q", "act_DQ"}}


def test_weight_axis_and_old_opset():
    g = GraphBuilder(opset=12)
    y = g.conv(g.qdq("x", "act", 0.02), "conv1", weight_axis=1)
    errors = _errors(g.model(y))
    assert errors["weight-axis"] == {"conv1_wDQ"} and errors["opset"] == {"conv1_wDQ"}


def test_q_without_dq_and_mismatched_pair():
    g = GraphBuilder()
    y = g.conv(g.qdq("x", "act", 0.02, q_only_scale=0.03), "conv1")
    g.nodes.append(helper.make_node("QuantizeLinear", [y, "act_s", "act_z"], ["dangling"], name="lonely_Q"))
    g.nodes.append(helper.make_node("Cast", ["dangling"], ["out"], name="cast", to=onnx.TensorProto.FLOAT))
    errors = _errors(g.model("out"))
    assert errors["pair"] == {"act_DQ", "lonely_Q"}


def test_exit_codes(tmp_path, capsys):
    good, bad = tmp_path / "good.onnx", tmp_path / "bad.onnx"
    g = GraphBuilder()
    onnx.save(g.model(g.conv(g.qdq("x", "in", 0.02), "conv1")), str(good))
    onnx.save(placement_sample(zero_point=5), str(bad))
    assert main([str(good)]) == 0
    assert main([str(bad)]) == 1
    out = capsys.readouterr().out
    assert "[zero-point] concat_in_Q" in out and "FAIL" in out
    assert main([str(good), "--strict"]) == 0


def test_unreadable_file_is_a_user_error(tmp_path):
    from common.cli import run_cli

    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a protobuf at all \x00\xff")
    assert run_cli(main, [str(junk)]) == 2
    assert run_cli(main, [str(tmp_path / "missing.onnx")]) == 2


def test_warnings_fail_only_with_strict(tmp_path):
    path = tmp_path / "advice.onnx"
    onnx.save(placement_sample(), str(path))  # MaxPool scale change + unquantized residual input: warnings
    assert main([str(path)]) == 0
    assert main([str(path), "--strict"]) == 1
