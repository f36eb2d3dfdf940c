"""Entropy (KL divergence) calibration: TensorRT's legacy INT8 entropy method as NVIDIA's HistogramCalibrator
runs it on the |x| histogram, vectorized over all candidates.

For each candidate i (number of histogram bins kept, start_bin..n_bins):
- reference P: bins[:i] with every outlier count (bins[i:]) folded into the last kept bin;
- quantized Q: bins[:i] merged into 2^(b-1) groups (bin j -> group floor(j * 2^(b-1) / i)), each group's total
  spread evenly back over its NON-EMPTY bins (empty bins stay 0);
- score KL(P || Q) of the normalized distributions.
amax = edges[i*] for the LAST candidate with the minimum score. Like NVIDIA, bins[0] is replaced by bins[1] first
(the zero bin is dominated by exact zeros, e.g. after padding, and would swamp the KL).

Smoothing: where P > 0 but Q == 0 (the last kept bin is empty but outliers were folded into it), NVIDIA's KL is
infinite. We give those Q entries SMOOTHING_EPS (then renormalize) so every score is a finite number for reports,
but such "starved" candidates rank after every other one, as NVIDIA's infinite score does. Candidates NVIDIA
scores finite are computed unchanged, and one always exists (i = n_bins starves nothing), so the chosen amax
equals NVIDIA's.
"""
import torch

from calib.calibrators.abs_histogram import AbsHistogramCalibrator
from calib.calibrators.grid_error import row_blocks
from calib.quant_desc import QuantDesc

SMOOTHING_EPS = 1e-4


def entropy_divergences(counts: torch.Tensor, num_bits: int,
                        start_bin: int = 128) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(candidates i [K] int64, KL(P_i || Q_i) [K] float64, starved [K] bool) for i = start_bin..n_bins."""
    bins = counts.double().clone()
    bins[0] = bins[1]
    n_bins = bins.numel()
    if start_bin >= n_bins:
        raise ValueError(f"start_bin {start_bin} is beyond the histogram's {n_bins} bins")
    n_levels = 1 << (num_bits - 1)
    device = bins.device
    candidates = torch.arange(start_bin, n_bins + 1, device=device)
    # outliers[i] = sum(bins[i:]), for i in 0..n_bins
    outliers = torch.cat([bins.flip(0).cumsum(0).flip(0), bins.new_zeros(1)])
    bin_ids = torch.arange(n_bins, device=device)
    occupied = bins != 0
    divergences = torch.empty(candidates.numel(), dtype=torch.float64, device=device)
    starved_rows = torch.zeros(candidates.numel(), dtype=torch.bool, device=device)
    for rows in row_blocks(candidates.numel(), n_bins):
        kept = candidates[rows].unsqueeze(1)                                  # [k, 1]
        inside = bin_ids.unsqueeze(0) < kept                                  # [k, n]
        group = torch.div(bin_ids.unsqueeze(0) * n_levels, kept, rounding_mode="floor").clamp_(max=n_levels - 1)
        nonzero = inside & occupied
        mass = torch.where(nonzero, bins, 0.0)
        group_mass = mass.new_zeros(kept.shape[0], n_levels).scatter_add_(1, group, mass)
        group_size = mass.new_zeros(kept.shape[0], n_levels).scatter_add_(1, group, nonzero.double())
        expanded = torch.gather(group_mass / group_size.clamp(min=1.0), 1, group)
        quantized = torch.where(nonzero, expanded, 0.0)
        reference = torch.where(inside, bins, 0.0)
        reference.scatter_add_(1, kept - 1, outliers[kept])
        reference /= reference.sum(1, keepdim=True)
        quantized /= quantized.sum(1, keepdim=True).clamp(min=1e-300)  # all-empty rows stay 0, not NaN
        starved = (reference > 0) & (quantized == 0)
        starved_rows[rows] = starved.any(1)
        if bool(starved_rows[rows].any()):
            quantized = torch.where(starved, SMOOTHING_EPS, quantized)
            quantized /= quantized.sum(1, keepdim=True)
        terms = torch.where(reference > 0, reference * torch.log(reference / quantized), 0.0)
        divergences[rows] = terms.sum(1)
    return candidates, divergences, starved_rows


def entropy_amax(counts: torch.Tensor, edges: torch.Tensor, num_bits: int, start_bin: int = 128) -> float:
    candidates, divergences, starved = entropy_divergences(counts, num_bits, start_bin)
    ranked = torch.where(starved, torch.inf, divergences)
    last_best = int(torch.nonzero(ranked == ranked.min())[-1])
    return float(edges[int(candidates[last_best])])


class EntropyCalibrator(AbsHistogramCalibrator):
    method = "entropy"

    settings = ("num_bins", "start_bin")

    def __init__(self, desc: QuantDesc, name: str = "<unnamed>", num_bins: int = 2048, start_bin: int = 128):
        super().__init__(desc, name, num_bins)
        self.start_bin = start_bin

    def _search(self, counts: torch.Tensor, edges: torch.Tensor) -> float:
        return entropy_amax(counts, edges, self.desc.num_bits, self.start_bin)

    def _settings(self) -> dict:
        return {**super()._settings(), "start_bin": self.start_bin}
