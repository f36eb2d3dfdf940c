"""Quantized drop-in modules: QuantConv2d (input + weight quantizers), QuantMaxPool2d (input quantizer) and
QuantMatMul (a quantizer on each input).

They subclass the float modules, so `.weight`, `.bias`, state_dict keys of the float model and isinstance checks
keep working; the quantizers add `<name>.input_quantizer.amax` (etc.) entries.
"""
import torch
from torch import nn

from calib.calibrators import MinMaxCalibrator, make_calibrator
from calib.config import QuantConfig
from calib.tensor_quantizer import TensorQuantizer
from common.matmul import MatMul


def _activation_quantizer(config: QuantConfig, layer: str, role: str = "input_quantizer") -> TensorQuantizer:
    desc = config.activation_desc_for(layer)
    name = f"{layer}.{role}"
    calibrator = make_calibrator(config.method, desc, name, num_bins=config.num_bins, start_bin=config.start_bin,
                                 percentile=config.percentile)  # each method takes the settings it uses
    return TensorQuantizer(desc, calibrator, name)


class QuantConv2d(nn.Conv2d):
    """Conv2d computing conv(fq_input(x), fq_weight(W)) + b; the bias stays float (as in TensorRT)."""

    input_quantizer: TensorQuantizer
    weight_quantizer: TensorQuantizer

    @classmethod
    def from_float(cls, conv: nn.Conv2d, config: QuantConfig, name: str = "<unnamed>") -> "QuantConv2d":
        # Built on the meta device (no wasted init), then given the float conv's own parameters.
        quant = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                    conv.dilation, conv.groups, conv.bias is not None, conv.padding_mode, device="meta",
                    dtype=conv.weight.dtype)
        quant.weight = conv.weight
        quant.bias = conv.bias
        quant.training = conv.training
        device = conv.weight.device
        quant.input_quantizer = _activation_quantizer(config, name).to(device)
        weight_desc = config.weight_desc_for(name)
        weight_name = f"{name}.weight_quantizer"
        quant.weight_quantizer = TensorQuantizer(weight_desc, MinMaxCalibrator(weight_desc, weight_name),
                                                 weight_name).to(device)
        return quant

    def calibrate_weight(self) -> None:
        """Per-output-channel absmax of the weights themselves."""
        self.weight_quantizer.calibrate_from(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(self.input_quantizer(x), self.weight_quantizer(self.weight), self.bias)


class QuantMaxPool2d(nn.MaxPool2d):
    """MaxPool2d of the fake-quantized input. One quantizer per module: YOLOv5's SPPF applies its pool three
    times in a chain, so the three inputs share one range (max pooling commutes with quantization, and TensorRT
    wants the scale shared across it anyway)."""

    input_quantizer: TensorQuantizer

    @classmethod
    def from_float(cls, pool: nn.MaxPool2d, config: QuantConfig, name: str = "<unnamed>",
                   device: torch.device | None = None) -> "QuantMaxPool2d":
        quant = cls(pool.kernel_size, pool.stride, pool.padding, pool.dilation, pool.return_indices, pool.ceil_mode)
        quant.training = pool.training
        quant.input_quantizer = _activation_quantizer(config, name).to(device or "cpu")
        return quant

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(self.input_quantizer(x))


class QuantMatMul(MatMul):
    """matmul(fq(a), fq(b)): both operands on the activation grid, one per-tensor range each (exported as a Q/DQ
    pair on each MatMul input). Named after torch.matmul's arguments: `input_quantizer`, `other_quantizer`."""

    input_quantizer: TensorQuantizer
    other_quantizer: TensorQuantizer

    @classmethod
    def from_float(cls, matmul: MatMul, config: QuantConfig, name: str = "<unnamed>",
                   device: torch.device | None = None) -> "QuantMatMul":
        quant = cls()
        quant.training = matmul.training
        quant.input_quantizer = _activation_quantizer(config, name).to(device or "cpu")
        quant.other_quantizer = _activation_quantizer(config, name, "other_quantizer").to(device or "cpu")
        return quant

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.matmul(self.input_quantizer(a), self.other_quantizer(b))
