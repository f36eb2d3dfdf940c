"""The |x| histogram shared by NVIDIA-style percentile, mse and entropy calibration (symmetric, per-tensor)."""
from typing import Any

import torch

from calib.calibrators.base import CalibratedRange, Calibrator
from calib.calibrators.histogram import GrowingHistogram
from calib.quant_desc import AMAX_FLOOR, QuantDesc


class AbsHistogramCalibrator(Calibrator):
    """Collects a growing histogram of |x| (2048 bins over [0, max|x|] at first, NVIDIA HistogramCalibrator style).

    Subclasses implement `_search(counts, edges) -> amax` on float64 counts and edges.
    """

    def __init__(self, desc: QuantDesc, name: str = "<unnamed>", num_bins: int = 2048):
        super().__init__(desc, name)
        self._require_per_tensor()
        if not desc.symmetric:
            raise ValueError(f"{self.method} calibration folds |x| and is symmetric only; use method 'minmax' or "
                             "'uh' for an asymmetric grid")
        self.histogram = GrowingHistogram(num_bins)

    def _collect(self, x: torch.Tensor) -> None:
        self.histogram.add(x.abs())

    def _reset(self) -> None:
        self.histogram.reset()

    def _compute(self) -> CalibratedRange:
        hist = self.histogram
        if not hist.started:  # only zeros were seen
            return CalibratedRange(amax=torch.tensor(AMAX_FLOOR))
        amax = self._search(hist.counts.double(), hist.edges())
        return CalibratedRange(amax=torch.as_tensor(max(float(amax), AMAX_FLOOR), dtype=torch.float32))

    def _search(self, counts: torch.Tensor, edges: torch.Tensor) -> float:
        raise NotImplementedError

    def _settings(self) -> dict[str, Any]:
        return {"num_bins": self.histogram.num_bins}
