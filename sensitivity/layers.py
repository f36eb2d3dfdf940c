"""The quantized layers of a model and which of them quantize: the unit sensitivity and mixed precision work on.

A layer is a module holding an `input_quantizer` (calib's QuantConv2d with its weight quantizer too, QuantMaxPool2d,
QuantMatMul with a quantizer on each input):
its quantizers are switched together, so "layer L alone quantized" means L's input and weights on the grid and every
other tensor in float.
"""
import contextlib
from dataclasses import dataclass
from typing import Iterable, Iterator

from torch import nn

from calib.modes import quant_mode
from calib.tensor_quantizer import Mode, TensorQuantizer


@dataclass(frozen=True)
class QuantizedLayer:
    name: str  # module name, as QuantConfig.layer_bits and the artifact's ranges name it
    kind: str  # "conv" or "maxpool"
    quantizers: tuple[TensorQuantizer, ...]
    parameters: int  # weights and bias (0 for a pool)


def quantized_layers(model: nn.Module) -> list[QuantizedLayer]:
    """Every module of `model` with an input quantizer, in module order."""
    layers = []
    for name, module in model.named_modules():
        quantizer = getattr(module, "input_quantizer", None)
        if not isinstance(quantizer, TensorQuantizer):
            continue
        quantizers = tuple(child for child in module.children() if isinstance(child, TensorQuantizer))
        kind = "conv" if isinstance(module, nn.Conv2d) else "maxpool" if isinstance(module, nn.MaxPool2d) \
            else type(module).__name__.lower()
        layers.append(QuantizedLayer(name, kind, quantizers, sum(p.numel() for p in module.parameters(recurse=False))))
    return layers


@contextlib.contextmanager
def quantized_only(model: nn.Module, layers: Iterable[QuantizedLayer]) -> Iterator[nn.Module]:
    """Within the block, the quantizers of `layers` fake-quantize and every other quantizer passes values through;
    every quantizer's mode is restored on exit."""
    with quant_mode(model, Mode.DISABLED):
        for layer in layers:
            for quantizer in layer.quantizers:
                quantizer.mode = Mode.QUANTIZE
        yield model
