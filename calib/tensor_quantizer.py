"""TensorQuantizer: fake quantization of one tensor, with its calibrator and calibrated range.

Modes:
- CALIBRATE: feed the calibrator, return the input unchanged;
- QUANTIZE (the default after construction): fake-quantize with the calibrated range, or raise if there is none;
- DISABLED: return the input unchanged.

The range is held in buffers `amax` (and `amin`, asymmetric only) so `state_dict()` carries it; an uncalibrated
quantizer has empty buffers. Fake quantization goes through torch.fake_quantize_per_tensor_affine /
torch.fake_quantize_per_channel_affine with the float32 scale and int32 zero point of `scale_and_zero_point()`:
round half to even and saturation to [quant_min, quant_max], what ONNX QuantizeLinear/DequantizeLinear compute.
(Torch multiplies by 1/scale where ONNX Runtime divides by scale: for a value within one float32 ulp of a rounding
tie the two can pick neighbouring levels; measured at about 1 element in 10^6 for random data, never at exact
ties of power-of-two scales.) num_bits < 8 ("int4 emulation") uses the same ops on the narrower grid.
Under torch.onnx.export the same numbers are traced in graph form: constant scale/zero point, and for num_bits < 8
a clip to the narrow grid's range before an int8/uint8 Q/DQ (see `_export_form`).
"""
import enum
from typing import Any

import torch
from torch import nn

from calib.calibrators import Calibrator
from calib.quant_desc import QuantDesc, scale_and_zero_point
from common.errors import QYoloError


class Mode(str, enum.Enum):
    CALIBRATE = "calibrate"
    QUANTIZE = "quantize"
    DISABLED = "disabled"


class TensorQuantizer(nn.Module):
    amax: torch.Tensor
    amin: torch.Tensor

    def __init__(self, desc: QuantDesc, calibrator: Calibrator | None = None, name: str = "<unnamed>"):
        super().__init__()
        self.calibrator = calibrator
        self.desc = desc
        self.mode = Mode.QUANTIZE
        self.register_buffer("amax", torch.empty(0))
        self.register_buffer("amin", torch.empty(0))
        self.name = name

    @property
    def mode(self) -> Mode:
        return self._mode

    @mode.setter
    def mode(self, value: Mode | str) -> None:
        self._mode = Mode(value)  # "quantize" and Mode.QUANTIZE alike; anything else raises ValueError

    # --- identity -------------------------------------------------------------------------------------------------
    @property
    def desc(self) -> QuantDesc:
        """The grid (bits, symmetric, axis). Held once: by the calibrator when there is one (its statistics and
        range search read it), else here; so changing a quantizer's bit width is one assignment."""
        return self.calibrator.desc if self.calibrator is not None else self._desc

    @desc.setter
    def desc(self, value: QuantDesc) -> None:
        if self.calibrator is not None:
            self.calibrator.desc = value
        else:
            self._desc = value

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = value
        if self.calibrator is not None:
            self.calibrator.name = value

    @property
    def num_bits(self) -> int:
        return self.desc.num_bits

    @property
    def axis(self) -> int | None:
        return self.desc.axis

    @property
    def symmetric(self) -> bool:
        return self.desc.symmetric

    @property
    def quant_min(self) -> int:
        return self.desc.quant_min

    @property
    def quant_max(self) -> int:
        return self.desc.quant_max

    @property
    def is_calibrated(self) -> bool:
        return self.amax.numel() > 0

    # --- range ----------------------------------------------------------------------------------------------------
    def set_range(self, amax: torch.Tensor, amin: torch.Tensor | None = None) -> None:
        """Store a range (float32, moved to this quantizer's buffer device)."""
        device = self.amax.device
        amax = torch.as_tensor(amax, dtype=torch.float32).detach().to(device)
        if self.desc.symmetric:
            self.amax, self.amin = amax.clone(), torch.empty(0, device=device)
            return
        if amin is None:
            raise ValueError(f"layer {self.name}: an asymmetric quantizer needs amin as well as amax")
        self.amax = amax.clone()
        self.amin = torch.as_tensor(amin, dtype=torch.float32).detach().to(device).clone()

    def compute_range(self) -> None:
        """Ask the calibrator for the range of what it collected and store it."""
        if self.calibrator is None:
            raise QYoloError(f"layer {self.name} has no calibrator; set its range with set_range()")
        found = self.calibrator.compute_amax()
        self.set_range(found.amax, found.amin)

    def calibrate_from(self, tensor: torch.Tensor) -> None:
        """Range from one tensor (weights): reset the calibrator, collect `tensor`, compute."""
        if self.calibrator is None:
            raise QYoloError(f"layer {self.name} has no calibrator; set its range with set_range()")
        self.calibrator.reset()
        self.calibrator.collect(tensor)
        self.compute_range()

    def scale_and_zero_point(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(float32 scale, int32 zero point), shape [] per-tensor or [C] per-channel: the exporter's numbers."""
        if not self.is_calibrated:
            raise QYoloError(f"layer {self.name} was never calibrated; run calibration (calib.collect_and_compute) "
                             "or load a calibrated artifact before quantizing or exporting")
        return scale_and_zero_point(self.desc, self.amax, self.amin if not self.desc.symmetric else None)

    # --- forward --------------------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode is Mode.DISABLED:
            return x
        if self.mode is Mode.CALIBRATE:
            if self.calibrator is None:
                raise QYoloError(f"layer {self.name} has no calibrator to collect statistics with")
            self.calibrator.collect(x)
            return x
        return self.fake_quantize(x)

    def fake_quantize(self, x: torch.Tensor) -> torch.Tensor:
        scale, zero_point = self.scale_and_zero_point()
        quant_min, quant_max = self.quant_min, self.quant_max
        source_dtype = x.dtype
        x = x.float()  # the fake-quant kernels and the ONNX Q/DQ work in float32
        if torch.onnx.is_in_onnx_export():
            x, scale, zero_point, quant_min, quant_max = self._export_form(x, scale, zero_point)
        if self.desc.axis is None:
            out = torch.fake_quantize_per_tensor_affine(x, scale.reshape(()), zero_point.reshape(()),
                                                        quant_min, quant_max)
        else:
            axis = self.desc.axis % x.dim()
            if scale.numel() != x.shape[axis]:
                raise QYoloError(f"layer {self.name}: calibrated for {scale.numel()} channels on axis "
                                 f"{self.desc.axis}, got a tensor with {x.shape[axis]}")
            out = torch.fake_quantize_per_channel_affine(x, scale, zero_point, axis, quant_min, quant_max)
        return out.to(source_dtype)

    def _export_form(self, x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor):
        """What torch.onnx.export traces: the same numbers in the form an ONNX/TensorRT graph needs.

        Scale and zero point become graph constants (TensorRT requires constant Q/DQ parameters), and a grid
        narrower than 8 bits is emulated: clip x to the b-bit grid's float range, then an
        int8/uint8 Q/DQ with the same scale and zero point (ONNX has no 2..7-bit types). Both give identical values.
        """
        scale = torch.tensor(scale.tolist(), dtype=torch.float32)
        zero_point = torch.tensor(zero_point.tolist(), dtype=torch.int32)
        if self.num_bits < 8:
            shape = [1] * x.dim()
            if self.desc.axis is not None:
                shape[self.desc.axis % x.dim()] = -1
            low = ((self.quant_min - zero_point) * scale).reshape(shape)
            high = ((self.quant_max - zero_point) * scale).reshape(shape)
            x = torch.minimum(torch.maximum(x, low), high)
        wide = QuantDesc(num_bits=8, symmetric=self.symmetric)
        return x, scale, zero_point, wide.quant_min, wide.quant_max

    # --- state ----------------------------------------------------------------------------------------------------
    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        # Calibrated shapes are unknown until calibration ([] or [C]): take the incoming shape before copying.
        for key in ("amax", "amin"):
            incoming = state_dict.get(prefix + key)
            if incoming is not None:
                setattr(self, key, torch.empty_like(incoming, device=getattr(self, key).device))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def describe(self) -> dict[str, Any]:
        """JSON-ready settings and range: what an artifact sidecar or the exporter needs to know."""
        info: dict[str, Any] = {
            "name": self.name, "num_bits": self.num_bits, "symmetric": self.symmetric, "axis": self.axis,
            "quant_min": self.quant_min, "quant_max": self.quant_max, "onnx_dtype": self.desc.onnx_dtype,
            "mode": self.mode.value, "calibrator": self.calibrator.describe() if self.calibrator else None,
            "calibrated": self.is_calibrated,
        }
        if self.is_calibrated:
            scale, zero_point = self.scale_and_zero_point()
            info["amax"] = self.amax.tolist()
            info["amin"] = self.amin.tolist() if not self.symmetric else None
            info["scale"] = scale.tolist()
            info["zero_point"] = zero_point.tolist()
        return info

    def extra_repr(self) -> str:
        grid = "sym" if self.symmetric else "asym"
        where = "per-tensor" if self.axis is None else f"axis={self.axis}"
        method = self.calibrator.method if self.calibrator else "none"
        return f"{self.num_bits}bit {grid} {where} {method} mode={self.mode.value} calibrated={self.is_calibrated}"
