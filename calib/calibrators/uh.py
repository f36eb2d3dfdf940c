"""Unilateral Histogram (UH) calibration of Q-YOLO (arXiv 2307.04816), as the authors' code runs it.

Collection (both modes): a growing histogram of the NON-NEGATIVE values only (2048 bins over [0, running max],
bins appended at the same width when the max grows) and the running minimum, tracked separately. Negative
values are deliberately NOT in that histogram: after SiLU they all lie in [-0.2785, 0], a sliver that the lower
bound l = running min already covers; histogramming them would spend the search on the wrong side.

Asymmetric (the published method): l = min(running min, 0); candidates u = centres of bins start_bin..last; grid
step (u - l) / (2^b - 1) with integer zero point round(-l / step); score(u) = sum(count * (fq(c) - c)^2) /
sum(count) over the non-negative bin centres c; amax = argmin u, amin = l.

Symmetric (for TensorRT, zero point 0): a second growing histogram holds |x| of the NEGATIVE values (its own
2048 bins over [0, |running min|]). Candidates amax are the positive histogram's bin centres from start_bin up to
the larger of max and |min|; for each the signed grid step = amax / (2^(b-1) - 1), q in [-2^(b-1), 2^(b-1) - 1],
and the score minimized is the mean squared quantization error over BOTH sides of the real distribution:
    [ sum_pos count * (fq(c) - c)^2 + sum_neg count * (fq(-d) + d)^2 ] / (total count)
with c the positive-side and d the negative-side bin centres. So the few negative values weigh exactly as much
as they occur, unlike |x| folding, which mixes them into the positive tail.
"""
from typing import Any

import torch

from calib.calibrators.base import CalibratedRange, Calibrator
from calib.calibrators.grid_error import asymmetric_errors, symmetric_errors
from calib.calibrators.histogram import GrowingHistogram
from calib.quant_desc import AMAX_FLOOR, QuantDesc


def uh_asymmetric_search(counts: torch.Tensor, width: float, lower: float, num_bits: int,
                         start_bin: int = 128) -> tuple[int, torch.Tensor]:
    """(index of the winning bin, scores [n_bins - start_bin]) for the published asymmetric UH search.

    counts: the non-negative histogram (bin i centre (i + 0.5) * width); lower: the lower bound l (<= 0).
    """
    counts = counts.double()
    centres = (torch.arange(counts.numel(), dtype=torch.float64, device=counts.device) + 0.5) * width
    candidates = centres[start_bin:]
    if candidates.numel() == 0:
        raise ValueError(f"start_bin {start_bin} is beyond the histogram's {counts.numel()} bins")
    scores = asymmetric_errors(candidates, min(lower, 0.0), centres, counts, num_bits) / counts.sum()
    return start_bin + int(torch.argmin(scores)), scores


def uh_symmetric_search(positive: torch.Tensor, width: float, negative: torch.Tensor | None, negative_width: float,
                        num_bits: int, start_bin: int = 128) -> tuple[float, torch.Tensor]:
    """(amax, scores) for symmetric UH: candidates (k + 0.5) * width for k = start_bin..K-1, K covering the larger
    side; score = both-sides weighted squared error / total count (see the module docstring)."""
    positive = positive.double()
    centres = (torch.arange(positive.numel(), dtype=torch.float64, device=positive.device) + 0.5) * width
    counts = positive
    n_candidates = positive.numel()
    if negative is not None and negative.numel():
        neg_centres = (torch.arange(negative.numel(), dtype=torch.float64, device=negative.device) + 0.5)
        neg_centres *= negative_width
        centres = torch.cat([centres, -neg_centres])
        counts = torch.cat([positive, negative.double()])
        n_candidates = max(n_candidates, int(torch.ceil(neg_centres[-1] / width)))
    candidates = (torch.arange(start_bin, n_candidates, dtype=torch.float64, device=positive.device) + 0.5) * width
    if candidates.numel() == 0:
        raise ValueError(f"start_bin {start_bin} is beyond the histogram's {n_candidates} bins")
    scores = symmetric_errors(candidates, centres, counts, num_bits) / counts.sum()
    return float(candidates[int(torch.argmin(scores))]), scores


class UnilateralHistogramCalibrator(Calibrator):
    method = "uh"

    settings = ("num_bins", "start_bin")

    def __init__(self, desc: QuantDesc, name: str = "<unnamed>", num_bins: int = 2048, start_bin: int = 128):
        super().__init__(desc, name)
        self._require_per_tensor()
        self.num_bins, self.start_bin = num_bins, start_bin
        self.positive = GrowingHistogram(num_bins)
        self.negative = GrowingHistogram(num_bins)
        self.running_min = 0.0

    def _collect(self, x: torch.Tensor) -> None:
        self.running_min = min(self.running_min, float(x.min()))
        self.positive.add(x[x >= 0])
        if self.desc.symmetric:  # the asymmetric search never reads the negative side: do not pay for it
            self.negative.add(x[x < 0].neg_())

    def _reset(self) -> None:
        self.positive.reset()
        self.negative.reset()
        self.running_min = 0.0

    def _compute(self) -> CalibratedRange:
        lower = self.running_min  # <= 0 by construction (starts at 0)
        if self.desc.symmetric:
            return CalibratedRange(amax=torch.tensor(self._symmetric_amax(), dtype=torch.float32))
        if not self.positive.started:  # no positive value seen: the range is [l, 0]
            amax = AMAX_FLOOR
        else:
            best, _ = uh_asymmetric_search(self.positive.counts, self.positive.width, lower,
                                           self.desc.num_bits, self.start_bin)
            amax = (best + 0.5) * self.positive.width
        return CalibratedRange(amax=torch.tensor(amax, dtype=torch.float32),
                               amin=torch.tensor(lower, dtype=torch.float32))

    def _symmetric_amax(self) -> float:
        if not self.positive.started:
            # Nothing positive: a symmetric grid has to reach the negative side alone.
            return max(-self.running_min, AMAX_FLOOR)
        negative = self.negative.counts if self.negative.started else None
        amax, _ = uh_symmetric_search(self.positive.counts, self.positive.width, negative,
                                      self.negative.width or 0.0, self.desc.num_bits, self.start_bin)
        return amax

    def _settings(self) -> dict[str, Any]:
        return {"num_bins": self.num_bins, "start_bin": self.start_bin,
                "variant": "symmetric-both-sides-mse" if self.desc.symmetric else "asymmetric"}
