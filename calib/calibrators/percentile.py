"""Percentile calibration on the |x| histogram, NVIDIA HistogramCalibrator semantics."""
from typing import Any

import torch

from calib.calibrators.abs_histogram import AbsHistogramCalibrator
from calib.quant_desc import QuantDesc


def percentile_amax(counts: torch.Tensor, edges: torch.Tensor, percentile: float) -> float:
    """The LEFT edge of the first bin whose cumulative fraction reaches `percentile`% (NVIDIA's choice).

    cdf = cumsum(counts / total); idx = first i with cdf[i] >= p / 100 (searchsorted, side left); amax = edges[idx].
    """
    total = counts.sum()
    cdf = torch.cumsum(counts / total, dim=0)
    target = torch.tensor([percentile / 100.0], dtype=cdf.dtype, device=cdf.device)
    index = int(torch.searchsorted(cdf, target)[0].clamp(max=counts.numel()))
    return float(edges[index])


class PercentileCalibrator(AbsHistogramCalibrator):
    method = "percentile"

    settings = ("num_bins", "percentile")

    def __init__(self, desc: QuantDesc, name: str = "<unnamed>", num_bins: int = 2048, percentile: float = 99.99):
        if not 0.0 < percentile <= 100.0:
            raise ValueError(f"percentile must be in (0, 100], got {percentile!r}")
        super().__init__(desc, name, num_bins)
        self.percentile = percentile

    def _search(self, counts: torch.Tensor, edges: torch.Tensor) -> float:
        return percentile_amax(counts, edges, self.percentile)

    def _settings(self) -> dict[str, Any]:
        return {**super()._settings(), "percentile": self.percentile}
