"""bench.op_profile: op kinds by known answers, and real profiles whose kinds add up to the nodes' time (structure
only: measured times vary with the machine's load)."""
import json

import pytest
from onnx_backend_models import exported

from bench.cli import main
from bench.op_profile import KINDS, NodeTime, _graph_roles, classify, profile_model
from common.cli import run_cli


def test_roles_of_a_hand_graph():
    nodes = [("stem", "Conv", ["x"], ["a"]), ("act", "Sigmoid", ["a"], ["b"]),
             ("det0", "QLinearConv", ["b"], ["p3"]), ("det1", "Conv", ["b"], ["p4"]),
             ("sig", "Sigmoid", ["p3"], ["s"]), ("cat", "Concat", ["s", "p4"], ["pred"])]
    decode, detect, stem = _graph_roles(nodes, ["pred"], "x")
    assert decode == {"sig", "cat"} and detect == {"det0", "det1"} and stem == "stem"


@pytest.mark.parametrize("name, op, exec_type, kind", [
    ("c", "QLinearConv", "", "conv int8"),
    ("c", "Convolution", "brgconv_avx512_amx_I8", "conv int8"),
    ("c", "Convolution", "jit_avx2_1x1_U8", "conv int8"),
    ("stem", "Convolution", "brgconv_avx512_f32", "conv float: stem"),
    ("d", "Conv", "", "conv float: Detect"),
    ("c", "FusedConv", "", "conv float: other"),
    ("c", "QLinearSigmoid", "", "SiLU / activation"),
    ("c", "QLinearAdd", "", "residual Add"),
    ("/m.1/act/Mul_output_0_QuantizeLinear", "Subgraph", "jit_avx512_I8", "SiLU / activation"),
    ("/cv3/conv/input_quantizer/QuantizeLinear_1", "Subgraph", "jit_avx512_I8", "Q/DQ (re)quantization"),
    ("/model.4/m/m.0/Add", "Eltwise", "jit_avx512_f32", "residual Add"),
    ("c", "QLinearConcat", "", "Concat"),
    ("c", "Interpolate", "ref_f32", "Resize"),
    ("c", "Pooling", "", "MaxPool"),
    ("c", "DequantizeLinear", "", "Q/DQ (re)quantization"),
    ("c", "ReorderOutput", "", "layout (reorder/transpose)"),
    ("dec", "Mul", "", "Detect decode"),
    ("c", "Gather", "", "other"),
])
def test_classify(name, op, exec_type, kind):
    assert classify(NodeTime(name, op, exec_type, 1.0), {"dec"}, {"d"}, "stem") == kind


@pytest.mark.parametrize("backend", ["ort", "openvino"])
def test_profiles_of_float_and_int8_graphs(backend):
    fp32 = profile_model(exported("fp32"), backend, threads=1, warmup=1, runs=2)
    int8 = profile_model(exported("trt"), backend, threads=1, warmup=1, runs=2)
    for profile in (fp32, int8):
        kinds = profile.by_kind()
        assert set(kinds) == set(KINDS) and profile.runs == 2 and profile.nodes
        assert sum(kinds.values()) == pytest.approx(sum(n.ms for n in profile.nodes))
        assert kinds["Detect decode"] > 0 and profile.total_ms > 0
        # one record per node of the runtime's graph (its runs averaged, not listed), none negative
        assert len({n.name for n in profile.nodes}) == len(profile.nodes) and min(n.ms for n in profile.nodes) >= 0
    assert fp32.by_kind()["conv int8"] == 0 and fp32.by_kind()["conv float: other"] > 0
    if backend == "openvino":  # OpenVINO runs int8-symmetric Q/DQ convs in int8; ORT's CPU kernels do not
        assert int8.by_kind()["conv int8"] > 0


def test_cli_writes_json(tmp_path, capsys):
    out = tmp_path / "profile.json"
    assert run_cli(main, ["profile", "--models", str(exported("fp32")), "--backends", "ort", "--runs", "1",
                          "--warmup", "0", "--threads", "1", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["meta"]["runs"] == 1 and data["profiles"][0]["backend"] == "ort"
    assert set(data["profiles"][0]["kinds"]) == set(KINDS) and data["profiles"][0]["top_nodes"]
    assert data["profiles"][0]["precision"] == "FP32" and data["profiles"][0]["speedup_vs_fp32"] == 1.0
    assert "conv float: other" in capsys.readouterr().out
