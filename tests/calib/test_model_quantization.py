"""A quantized model computes exactly the manual quantize-then-convolve, and modes switch as documented."""
import torch
from torch import nn
from torch.nn import functional as F

from calib import (
    Mode,
    QuantConfig,
    collect_and_compute,
    disable_quantization,
    enable_calibration,
    enable_quantization,
    quant_mode,
    quantize_model,
    quantizers,
)


def one_conv_model() -> nn.Sequential:
    conv = nn.Conv2d(2, 3, 3, padding=1)
    with torch.no_grad():
        conv.weight.uniform_(-1, 1)
        conv.weight[0].clamp_(-127 / 64, 127 / 64)[0, 0, 0] = 127 / 64  # channel absmax 127/64: scale 1/64
        conv.weight[1].mul_(0.5)[0, 0, 0] = -127 / 128                 # scale 1/128
        conv.weight[2].zero_()                                          # all-zero channel
    return nn.Sequential(conv)


def test_one_conv_model_equals_manual_computation():
    torch.manual_seed(0)
    model = quantize_model(one_conv_model(), QuantConfig(method="minmax", scheme="sym", skip_first_conv=False))
    x = torch.randn(2, 2, 6, 6).clamp(-3, 3)
    x[0, 0, 0, 0] = -127 / 32  # |x| max 127/32: input scale 1/32
    collect_and_compute(model, [x], progress=False)
    conv = model[0]
    x_q = torch.clamp(torch.round(x * 32), -128, 127) / 32
    w_scale = torch.tensor([1 / 64, 1 / 128, 2.0 ** -24 / 127]).view(3, 1, 1, 1)
    w_q = torch.clamp(torch.round(conv.weight / w_scale), -128, 127) * w_scale
    expected = F.conv2d(x_q, w_q, conv.bias, padding=1)
    assert torch.equal(model(x), expected)
    assert torch.equal(model(x)[:, 2], conv.bias[2].expand(2, 6, 6))  # zero channel: bias only, no NaN


def test_modes_switch_for_the_whole_model_and_context_manager_restores():
    model = quantize_model(nn.Sequential(nn.Conv2d(1, 2, 1), nn.Conv2d(2, 2, 1)), QuantConfig())
    x = torch.randn(1, 1, 4, 4)
    collect_and_compute(model, [x], progress=False)
    assert {q.mode for _, q in quantizers(model)} == {Mode.QUANTIZE}
    quantized = model(x)
    disable_quantization(model)
    with torch.no_grad():
        float_out = model[1](model[0](x))
    assert torch.equal(model(x), float_out) and not torch.equal(quantized, float_out)
    enable_quantization(model)
    with quant_mode(model, "disabled"):
        assert torch.equal(model(x), float_out)
    assert torch.equal(model(x), quantized)
    enable_calibration(model)
    assert {q.mode for _, q in quantizers(model)} == {Mode.CALIBRATE}
    assert torch.equal(model(x), float_out)  # calibration passes values through


def test_calibration_leaves_weights_to_per_channel_absmax_of_the_weights():
    model = quantize_model(one_conv_model(), QuantConfig(skip_first_conv=False, w_bits=4))
    collect_and_compute(model, [torch.randn(1, 2, 4, 4)], progress=False)
    weight_q = model[0].weight_quantizer
    expected = model[0].weight.detach().abs().amax(dim=(1, 2, 3))
    assert torch.equal(weight_q.amax, expected) and weight_q.axis == 0 and weight_q.num_bits == 4
    assert weight_q.calibrator.batches_seen == 1  # the weights once, not once per batch
