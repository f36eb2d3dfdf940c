"""Fake quantization against hand-computed grids (power-of-two scales, so every tie below is exact)."""
import numpy as np
import pytest
import torch

from calib import QuantDesc, TensorQuantizer
from calib.quant_desc import AMAX_FLOOR, scale_and_zero_point


def quantizer(bits: int, symmetric: bool, amax, amin=None, axis=None) -> TensorQuantizer:
    q = TensorQuantizer(QuantDesc(num_bits=bits, symmetric=symmetric, axis=axis), name="test.q")
    q.set_range(torch.as_tensor(amax), None if amin is None else torch.as_tensor(amin))
    return q


def test_symmetric_8bit_full_range_grid_round_half_even_and_saturation():
    q = quantizer(8, True, 127 / 16)  # scale = 1/16 exactly
    scale, zero_point = q.scale_and_zero_point()
    assert float(scale) == 1 / 16 and int(zero_point) == 0 and (q.quant_min, q.quant_max) == (-128, 127)
    steps = torch.tensor([0.0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.49, 126.6, 127.0, 500.0, -127.0, -128.0, -500.0])
    expected = [0, 0, 2, 2, 0, -2, -2, 3, 127, 127, 127, -127, -128, -128]  # -128 reachable: full int8 range
    assert q(steps / 16).tolist() == [e / 16 for e in expected]


def test_symmetric_4bit_grid():
    q = quantizer(4, True, 7 / 4)  # scale 1/4, q in [-8, 7]
    steps = torch.tensor([0.5, 1.5, 2.5, 6.5, 7.5, 100.0, -7.5, -8.5, -100.0])
    assert q(steps / 4).tolist() == [e / 4 for e in [0, 2, 2, 6, 7, 7, -8, -8, -8]]


def test_asymmetric_8bit_grid_with_integer_zero_point():
    q = quantizer(8, False, amax=13.9375, amin=-2.0)  # span 255/16: scale 1/16, zero point 32
    scale, zero_point = q.scale_and_zero_point()
    assert float(scale) == 1 / 16 and int(zero_point) == 32 and (q.quant_min, q.quant_max) == (0, 255)
    # rounding happens on x/scale before the zero point is added (ONNX QuantizeLinear order)
    steps = torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5, -31.5, -32.0, -40.0, 222.5, 223.0, 400.0])
    expected = [0, 2, 2, 0, -2, -32, -32, -32, 222, 223, 223]
    assert q(steps / 16).tolist() == [e / 16 for e in expected]


def test_asymmetric_4bit_grid():
    q = quantizer(4, False, amax=3.25, amin=-0.5)  # scale 1/4, zero point 2, levels -2..13
    _, zero_point = q.scale_and_zero_point()
    assert int(zero_point) == 2
    steps = torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, -9.0, 12.5, 13.5, 50.0])
    assert q(steps / 4).tolist() == [e / 4 for e in [0, 2, 2, 0, -2, -2, -2, 12, 13, 13]]


def test_asymmetric_range_is_widened_to_contain_zero():
    scale, zero_point = scale_and_zero_point(QuantDesc(8, False), torch.tensor(255 / 16 + 3), torch.tensor(3.0))
    assert float(scale) == pytest.approx((255 / 16 + 3) / 255) and int(zero_point) == 0


def test_per_channel_symmetric_grid_and_zero_channel():
    amax = torch.tensor([127 / 8, 127 / 32, 0.0])
    q = quantizer(8, True, amax, axis=0)
    scale, zero_point = q.scale_and_zero_point()
    assert scale.tolist() == [1 / 8, 1 / 32, pytest.approx(AMAX_FLOOR / 127)] and zero_point.tolist() == [0, 0, 0]
    w = torch.tensor([[2.5 / 8, 100.0], [1.5 / 32, -100.0], [0.0, 0.0]])
    out = q(w)
    assert out.tolist() == [[2 / 8, 127 / 8], [2 / 32, -128 / 32], [0.0, 0.0]]
    assert torch.isfinite(out).all()


def test_per_channel_on_last_axis():
    q = quantizer(4, True, torch.tensor([7.0, 7 / 2]), axis=-1)  # scales 1, 1/2
    x = torch.tensor([[2.5, 2.5 / 2], [20.0, -20.0]])
    assert q(x).tolist() == [[2.0, 1.0], [7.0, -4.0]]


def test_every_output_lies_on_the_grid_for_each_bit_width():
    x = torch.randn(4096) * 3
    for bits in range(2, 9):
        for symmetric in (True, False):
            q = quantizer(bits, symmetric, 2.0, None if symmetric else -0.3)
            scale, zero_point = q.scale_and_zero_point()
            levels = q(x).double() / scale.double() + zero_point
            assert torch.allclose(levels, levels.round(), rtol=0, atol=1e-4)
            levels = levels.round()
            assert levels.min() >= q.quant_min and levels.max() <= q.quant_max
            assert len(torch.unique(levels)) <= 2 ** bits


def test_matches_onnx_runtime_quantize_dequantize():
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    def run_qdq(x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray, axis=None) -> np.ndarray:
        attrs = {} if axis is None else {"axis": axis}
        nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], **attrs),
                 helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], **attrs)]
        graph = helper.make_graph(
            nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(x.shape))],
            [numpy_helper.from_array(scale, "s"), numpy_helper.from_array(zero_point, "z")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        return session.run(None, {"x": x})[0]

    torch.manual_seed(0)
    x = torch.randn(64, 2048) * 3
    ties = (torch.arange(-300, 300, dtype=torch.float32) + 0.5) / 64  # exact ties on a 1/64 grid
    cases = [quantizer(8, True, 127 / 64), quantizer(8, False, 255 / 64 - 1.0, -1.0), quantizer(8, True, 2.71),
             quantizer(8, False, 5.3, -0.2785)]
    for q in cases:
        scale, zero_point = q.scale_and_zero_point()
        zp = zero_point.numpy().astype(np.int8 if q.symmetric else np.uint8)
        ours, theirs = q(x).numpy(), run_qdq(x.numpy(), scale.numpy(), zp)
        differs = ours != theirs
        # Torch multiplies by 1/scale, ONNX Runtime divides: values within an ulp of a tie may differ by one step.
        assert differs.mean() < 1e-4 and np.all(np.abs(ours - theirs)[differs] <= float(scale) * 1.0001)
        if float(scale) == 1 / 64:
            assert np.array_equal(q(ties).numpy(), run_qdq(ties.numpy(), scale.numpy(), zp))
    per_channel = quantizer(8, True, torch.rand(64) * 4 + 0.1, axis=0)
    scale, zero_point = per_channel.scale_and_zero_point()
    ours = per_channel(x).numpy()
    theirs = run_qdq(x.numpy(), scale.numpy(), zero_point.numpy().astype(np.int8), axis=0)
    assert (ours != theirs).mean() < 1e-4
