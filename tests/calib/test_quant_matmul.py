"""The MatMul rule: MatMul modules stay float unless QuantConfig.quantize_matmul, then both inputs are
fake-quantized (hand-computed grid), calibrated with the rest, and the choice survives the artifact."""
import pytest
import torch
from torch import nn

from calib import QuantConfig, QuantMatMul, collect_and_compute, quantize_model, quantizers
from common.matmul import MatMul


class TinyAttention(nn.Module):
    """conv -> q^T k softmax -> v attn^T, the shape of YOLO11's attention block at toy size."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Conv2d(4, 12, 1)
        self.qk, self.av = MatMul(), MatMul()

    def forward(self, x):
        b, _, h, w = x.shape
        q, k, v = self.qkv(x).view(b, 12, h * w).split(4, dim=1)
        attn = self.qk(q.transpose(-2, -1), k).softmax(-1)
        return self.av(v, attn.transpose(-2, -1)).view(b, 4, h, w)


def test_hand_computed_grid():
    config = QuantConfig(method="minmax", scheme="sym", quantize_matmul=True)
    quant = QuantMatMul.from_float(MatMul(), config, "mm")
    quant.input_quantizer.set_range(torch.tensor(1.27))  # scale 0.01
    quant.other_quantizer.set_range(torch.tensor(2.54))  # scale 0.02
    a = torch.tensor([[0.004, 0.016, -0.026]])  # -> 0.00, 0.02, -0.03
    b = torch.tensor([[1.0], [0.5], [2.0]])  # on the grid: unchanged
    assert torch.matmul(a, b).item() == pytest.approx(-0.04, abs=1e-7)  # what the float MatMul gives
    assert quant(a, b).item() == pytest.approx(0.02 * 0.5 - 0.03 * 2.0, abs=1e-7)  # -0.05


def test_off_by_default_on_when_asked():
    off = quantize_model(TinyAttention(), QuantConfig(skip_first_conv=False))
    assert type(off.qk) is MatMul and type(off.av) is MatMul
    assert [name for name, _ in quantizers(off)] == ["qkv.input_quantizer", "qkv.weight_quantizer"]
    on = quantize_model(TinyAttention(), QuantConfig(skip_first_conv=False, quantize_matmul=True))
    assert type(on.qk) is QuantMatMul and type(on.av) is QuantMatMul
    assert {name for name, _ in quantizers(on)} == {
        "qkv.input_quantizer", "qkv.weight_quantizer", "qk.input_quantizer", "qk.other_quantizer",
        "av.input_quantizer", "av.other_quantizer"}
    skipped = quantize_model(TinyAttention(), QuantConfig(skip_first_conv=False, quantize_matmul=True, skip=("av",)))
    assert type(skipped.qk) is QuantMatMul and type(skipped.av) is MatMul


def test_calibrated_ranges_and_asymmetric_softmax_grid():
    torch.manual_seed(0)
    model = quantize_model(TinyAttention(), QuantConfig(method="minmax", scheme="asym", skip_first_conv=False,
                                                        quantize_matmul=True))
    batches = [torch.rand(2, 4, 3, 3) for _ in range(2)]
    collect_and_compute(model, batches, progress=False)
    # The attention weights are softmax outputs, inside [0, 1]: the asymmetric grid starts at 0 (zero point 0).
    attn_range = model.av.other_quantizer
    assert 0.0 <= attn_range.amin.item() < attn_range.amax.item() <= 1.0
    scale, zero_point = attn_range.scale_and_zero_point()
    assert zero_point.item() == 0 and scale.item() == pytest.approx(attn_range.amax.item() / 255, rel=1e-6)
    with torch.no_grad():
        from calib import quant_mode

        quantized = model(batches[0])
        with quant_mode(model, "disabled"):
            exact = model(batches[0])
    assert not torch.equal(quantized, exact) and torch.allclose(quantized, exact, atol=0.05)


def test_config_checks_and_old_artifacts():
    with pytest.raises(ValueError, match="quantize_matmul must be true or false"):
        QuantConfig(quantize_matmul="yes")
    data = QuantConfig().to_dict()
    assert data["quantize_matmul"] is False
    del data["quantize_matmul"]  # an artifact written before the option existed
    assert QuantConfig.from_dict(data).quantize_matmul is False
