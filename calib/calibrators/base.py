"""What every calibrator shares: `collect(x)`, `reset()`, `compute_amax()`, input checks naming the layer."""
from dataclasses import dataclass
from typing import Any

import torch

from calib.quant_desc import QuantDesc
from common.errors import QYoloError


@dataclass(frozen=True)
class CalibratedRange:
    """A calibrated range: `amax` always; `amin` only for asymmetric grids (None for symmetric ones).

    Shapes: [] per-tensor, [C] per-channel. float32, on the device the statistics were collected on.
    """

    amax: torch.Tensor
    amin: torch.Tensor | None = None


class Calibrator:
    """Base class. Subclasses implement `_collect(x)`, `_reset()`, `_compute()` and `method`.

    `name` is the quantizer's module name; it is set by the TensorQuantizer that owns the calibrator and appears
    in every error so the user knows which layer misbehaved.
    """

    method = "base"
    settings: tuple[str, ...] = ()  # the keyword settings its constructor takes (num_bins, start_bin, percentile)

    def __init__(self, desc: QuantDesc, name: str = "<unnamed>"):
        self.desc = desc
        self.name = name
        self.batches_seen = 0

    def collect(self, x: torch.Tensor) -> None:
        """Accumulate statistics of `x` (detached; any device; histograms live on x's device)."""
        x = x.detach()
        if not x.is_floating_point():
            raise QYoloError(f"layer {self.name}: calibration input has dtype {x.dtype}, expected a float tensor")
        if x.numel() == 0:
            return
        finite = torch.isfinite(x)
        if not bool(finite.all()):
            bad = int((~finite).sum())
            raise QYoloError(f"layer {self.name}: calibration input has {bad} NaN/Inf values out of {x.numel()}; "
                             "check the model weights and the calibration images")
        self._collect(x.float())
        self.batches_seen += 1

    def reset(self) -> None:
        self.batches_seen = 0
        self._reset()

    def compute_amax(self) -> CalibratedRange:
        if self.batches_seen == 0:
            raise QYoloError(f"layer {self.name} never received calibration data; check that the calibration "
                             "batches reach this layer, or skip it with a skip pattern")
        return self._compute()

    def describe(self) -> dict[str, Any]:
        """JSON-ready settings of this calibrator (for artifact sidecars)."""
        return {"method": self.method, **self._settings()}

    # --- subclass hooks -------------------------------------------------------------------------------------------
    def _collect(self, x: torch.Tensor) -> None:
        raise NotImplementedError

    def _reset(self) -> None:
        raise NotImplementedError

    def _compute(self) -> CalibratedRange:
        raise NotImplementedError

    def _settings(self) -> dict[str, Any]:
        return {}

    def _require_per_tensor(self) -> None:
        if self.desc.axis is not None:
            raise ValueError(f"{self.method} calibration is per-tensor only, got axis={self.desc.axis}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, {self.describe()})"
