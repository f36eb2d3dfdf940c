"""Bad input gives one clear error naming the layer or the value; no silent garbage ranges."""
import pytest
import torch
from torch import nn

from calib import Mode, QuantConfig, QuantDesc, TensorQuantizer, collect_and_compute, quantize_model
from calib.calibrators import CALIBRATORS, make_calibrator
from common.errors import QYoloError


def two_convs() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 2, 1), nn.Conv2d(2, 2, 1))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_nan_or_inf_during_calibration_names_the_layer(bad):
    model = quantize_model(two_convs(), QuantConfig())
    x = torch.ones(1, 1, 2, 2)
    x[0, 0, 0, 0] = bad
    with pytest.raises(QYoloError, match=r"layer 1\.input_quantizer: .*NaN/Inf"):
        collect_and_compute(model, [x], progress=False)


def test_uncalibrated_layer_refuses_to_quantize():
    model = quantize_model(two_convs(), QuantConfig())
    with pytest.raises(QYoloError, match=r"layer 1\.input_quantizer was never calibrated"):
        model(torch.ones(1, 1, 2, 2))


def test_layer_without_data_is_named():
    class Unused(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.spare = nn.Conv2d(1, 2, 1), nn.Conv2d(2, 2, 1), nn.Conv2d(2, 2, 1)

        def forward(self, x):
            return self.b(self.a(x))

    model = quantize_model(Unused(), QuantConfig())
    with pytest.raises(QYoloError, match=r"layer spare\.input_quantizer never received calibration data"):
        collect_and_compute(model, [torch.ones(1, 1, 2, 2)], progress=False)


def test_no_batches_is_an_error():
    model = quantize_model(two_convs(), QuantConfig())
    with pytest.raises(QYoloError, match="no calibration batches"):
        collect_and_compute(model, [], progress=False)


@pytest.mark.parametrize("method", sorted(CALIBRATORS))
@pytest.mark.parametrize("symmetric", [True, False])
def test_all_zero_input_gives_a_finite_tiny_range(method, symmetric):
    if method in ("percentile", "mse", "entropy") and not symmetric:
        return
    quantizer = TensorQuantizer(QuantDesc(8, symmetric), make_calibrator(method, QuantDesc(8, symmetric)), "z")
    quantizer.mode = Mode.CALIBRATE
    quantizer(torch.zeros(100))
    quantizer.compute_range()
    quantizer.mode = Mode.QUANTIZE
    scale, zero_point = quantizer.scale_and_zero_point()
    assert float(scale) > 0 and torch.isfinite(scale)
    assert torch.equal(quantizer(torch.zeros(5)), torch.zeros(5))


def test_config_validation_names_the_bad_value():
    with pytest.raises(ValueError, match="'kl'"):
        QuantConfig(method="kl")
    with pytest.raises(ValueError, match="a_bits .* got 9"):
        QuantConfig(a_bits=9)
    with pytest.raises(ValueError, match="w_bits .* got 1"):
        QuantConfig(w_bits=1)
    with pytest.raises(ValueError, match="'int8'"):
        QuantConfig(scheme="int8")
    with pytest.raises(ValueError, match="symmetric only"):
        QuantConfig(method="entropy", scheme="asym")
    with pytest.raises(ValueError, match="start_bin"):
        QuantConfig(num_bins=64, start_bin=128)
    with pytest.raises(ValueError, match="num_bits .* got 16"):
        QuantDesc(num_bits=16)
    assert QuantConfig(skip=["a.*"]).skip == ("a.*",)
