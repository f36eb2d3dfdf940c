"""The integer grid of a quantizer: bit width, symmetric or asymmetric, per-tensor or per-channel.

Grid conventions (the exporter relies on them; they equal ONNX QuantizeLinear/DequantizeLinear):

- symmetric: zero point 0, signed FULL range q in [-2^(b-1), 2^(b-1) - 1] (int8: -128..127, what ONNX int8 and
  TensorRT saturate to), scale = amax / (2^(b-1) - 1). So +amax maps to +127 exactly and the extra level -128
  (= -amax * 128/127) is reachable only by activations below -amax. We do not use pytorch-quantization's narrow
  range [-127, 127]: the exported int8 QuantizeLinear saturates at -128, and fake quantization must compute what
  the graph computes. For weights the choice is invisible (|w| <= amax never reaches -128).
- asymmetric: unsigned range q in [0, 2^b - 1] (uint8 at 8 bits), scale = (amax - amin) / (2^b - 1), integer
  zero point round(-amin / scale). The range is first widened to contain 0 (amin <= 0 <= amax) so that zero
  (conv padding) is exact and the zero point fits the unsigned range.
- A range narrower than AMAX_FLOOR (an all-zero layer or channel) is widened to AMAX_FLOOR so that the scale is
  a positive normal float32 and nothing divides by zero; such a channel quantizes its zeros exactly.
"""
from dataclasses import dataclass

import torch

MIN_BITS, MAX_BITS = 2, 8
# Smallest range width used for a scale: 2^-24 keeps amax / 127 a normal float32 (no division by zero downstream).
AMAX_FLOOR = 2.0 ** -24


@dataclass(frozen=True)
class QuantDesc:
    """What grid a TensorQuantizer uses. `axis` None means per-tensor; an int means one scale per slice on it."""

    num_bits: int = 8
    symmetric: bool = True
    axis: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.num_bits, bool) or not isinstance(self.num_bits, int) \
                or not MIN_BITS <= self.num_bits <= MAX_BITS:
            raise ValueError(f"num_bits must be an integer in {MIN_BITS}..{MAX_BITS}, got {self.num_bits!r}")
        if not isinstance(self.symmetric, bool):
            raise ValueError(f"symmetric must be a bool, got {self.symmetric!r}")
        if self.axis is not None and (isinstance(self.axis, bool) or not isinstance(self.axis, int)):
            raise ValueError(f"axis must be None (per-tensor) or an int, got {self.axis!r}")

    @property
    def quant_min(self) -> int:
        return -(2 ** (self.num_bits - 1)) if self.symmetric else 0

    @property
    def quant_max(self) -> int:
        return 2 ** (self.num_bits - 1) - 1 if self.symmetric else 2 ** self.num_bits - 1

    @property
    def onnx_dtype(self) -> str:
        """The ONNX integer type that holds this grid (4-bit grids are emulated inside int8/uint8)."""
        return "int8" if self.symmetric else "uint8"


def scale_and_zero_point(desc: QuantDesc, amax: torch.Tensor,
                         amin: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Float32 scale and int32 zero point for a calibrated range, exactly as fake quantization and export use them.

    Arithmetic in float64, then the scale is rounded once to float32 (the value the ONNX graph stores) and the
    zero point is computed from that float32 scale, so torch and the exported graph agree bit for bit.
    """
    amax64 = amax.detach().double()
    if desc.symmetric:
        span = amax64.abs().clamp(min=AMAX_FLOOR)
        scale = (span / desc.quant_max).float()
        return scale, torch.zeros_like(scale, dtype=torch.int32)
    if amin is None:
        raise ValueError("an asymmetric quantizer needs amin as well as amax")
    low = amin.detach().double().clamp(max=0.0)
    high = amax64.clamp(min=0.0)
    span = (high - low).clamp(min=AMAX_FLOOR)
    scale = (span / desc.quant_max).float()
    zero_point = torch.round(-low / scale.double()).clamp(desc.quant_min, desc.quant_max).to(torch.int32)
    return scale, zero_point
