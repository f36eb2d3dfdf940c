"""Switch every TensorQuantizer in a model between calibration, quantization and pass-through."""
import contextlib
from typing import Iterator

from torch import nn

from calib.tensor_quantizer import Mode, TensorQuantizer


def quantizers(model: nn.Module) -> Iterator[tuple[str, TensorQuantizer]]:
    """(module name, quantizer) for every TensorQuantizer in `model`, in module order."""
    for name, module in model.named_modules():
        if isinstance(module, TensorQuantizer):
            yield name, module


def set_mode(model: nn.Module, mode: Mode | str) -> None:
    mode = Mode(mode)
    for _, quantizer in quantizers(model):
        quantizer.mode = mode


def enable_calibration(model: nn.Module) -> None:
    """Quantizers collect statistics and pass values through (the model computes in float)."""
    set_mode(model, Mode.CALIBRATE)


def enable_quantization(model: nn.Module) -> None:
    """Quantizers fake-quantize with their calibrated ranges (an uncalibrated one raises, naming its layer)."""
    set_mode(model, Mode.QUANTIZE)


def disable_quantization(model: nn.Module) -> None:
    """Quantizers pass values through: the model computes exactly as the float model."""
    set_mode(model, Mode.DISABLED)


@contextlib.contextmanager
def quant_mode(model: nn.Module, mode: Mode | str) -> Iterator[nn.Module]:
    """`with quant_mode(model, "disabled"): ...` sets every quantizer's mode and restores each one's on exit."""
    previous = [(quantizer, quantizer.mode) for _, quantizer in quantizers(model)]
    set_mode(model, mode)
    try:
        yield model
    finally:
        for quantizer, old in previous:
            quantizer.mode = old
