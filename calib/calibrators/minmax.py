"""MinMax calibration: running min and max, per-tensor or per-channel along the descriptor's axis."""
import torch

from calib.calibrators.base import CalibratedRange, Calibrator


class MinMaxCalibrator(Calibrator):
    """Symmetric: amax = max |x| (running). Asymmetric: amin = running min, amax = running max.

    Per-channel (desc.axis set): one value per slice along the axis, reduced over every other dimension; all
    collected tensors must have the same size on that axis.
    """

    method = "minmax"

    def _reset(self) -> None:
        self.running_min: torch.Tensor | None = None
        self.running_max: torch.Tensor | None = None

    def __init__(self, desc, name: str = "<unnamed>"):
        super().__init__(desc, name)
        self._reset()

    def _collect(self, x: torch.Tensor) -> None:
        if self.desc.axis is None:
            low, high = torch.aminmax(x)
        else:
            axis = self.desc.axis % x.dim()
            rows = x.movedim(axis, 0).reshape(x.shape[axis], -1)
            if self.running_max is not None and rows.shape[0] != self.running_max.numel():
                raise ValueError(f"layer {self.name}: per-channel input has {rows.shape[0]} channels on axis "
                                 f"{self.desc.axis}, earlier batches had {self.running_max.numel()}")
            low, high = torch.aminmax(rows, dim=1)
        if self.running_max is None:
            self.running_min, self.running_max = low, high
        else:
            self.running_min = torch.minimum(self.running_min, low)
            self.running_max = torch.maximum(self.running_max, high)

    def _compute(self) -> CalibratedRange:
        if self.desc.symmetric:
            return CalibratedRange(amax=torch.maximum(self.running_max.abs(), self.running_min.abs()))
        return CalibratedRange(amax=self.running_max.clone(), amin=self.running_min.clone())
