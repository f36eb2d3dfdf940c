"""A histogram of non-negative values that grows by appending bins of the same width.

The first batch with a positive maximum m fixes the bin width w = m / num_bins. Later batches with a larger
maximum append bins (width kept, as NVIDIA's HistogramCalibrator does), so existing counts never move and the
result equals one histogram of all the data built at the final range with that width.

Bins are right-closed: bin i holds (i*w, (i+1)*w], and 0 goes to bin 0. With this convention a batch maximum m
lands in bin ceil(m/w) - 1 whatever the current number of bins, so growth needs no special case for the value
that defined the range (torch.histc puts it in the closed last bin instead, which would move after growth).
The width is a float32 number divided by num_bins; for a power-of-two num_bins it is exactly representable,
so the float32 division x / w used for binning is correctly rounded.

Counts are int64 (float32 counts stop counting at 2^24 per bin). Values <= 0 seen before any positive value
are kept as a pending count for bin 0.
"""
import math

import torch


class GrowingHistogram:
    def __init__(self, num_bins: int = 2048):
        if num_bins < 2:
            raise ValueError(f"num_bins must be >= 2, got {num_bins}")
        self.num_bins = num_bins
        self.reset()

    def reset(self) -> None:
        self.counts: torch.Tensor | None = None   # int64 [n_bins], n_bins >= num_bins
        self.width: float | None = None
        self.max_seen = 0.0
        self._pending_zeros = 0

    @property
    def total(self) -> int:
        return (int(self.counts.sum()) if self.counts is not None else 0) + self._pending_zeros

    @property
    def started(self) -> bool:
        return self.counts is not None

    def add(self, values: torch.Tensor) -> None:
        """Count `values` (all >= 0, finite; any shape; any device)."""
        values = values.reshape(-1)
        if values.numel() == 0:
            return
        batch_max = float(values.max())
        if self.counts is None:
            if batch_max <= 0.0:
                self._pending_zeros += values.numel()
                return
            self.width = float(torch.tensor(batch_max, dtype=torch.float32)) / self.num_bins
            self.counts = torch.zeros(self.num_bins, dtype=torch.int64, device=values.device)
            self.counts[0] += self._pending_zeros
            self._pending_zeros = 0
        needed = math.ceil(batch_max / self.width)
        if needed > self.counts.numel():
            grown = torch.zeros(needed, dtype=torch.int64, device=self.counts.device)
            grown[:self.counts.numel()] = self.counts
            self.counts = grown
        self.max_seen = max(self.max_seen, batch_max)
        index = bin_index(values, self.width, self.counts.numel())
        self.counts += torch.bincount(index, minlength=self.counts.numel()).to(self.counts.device)

    def edges(self) -> torch.Tensor:
        """float64 bin edges [n_bins + 1]: i * width."""
        return torch.arange(self.counts.numel() + 1, dtype=torch.float64, device=self.counts.device) * self.width

    def centres(self) -> torch.Tensor:
        """float64 bin centres [n_bins]: (i + 0.5) * width."""
        return (torch.arange(self.counts.numel(), dtype=torch.float64, device=self.counts.device) + 0.5) * self.width


def bin_index(values: torch.Tensor, width: float, n_bins: int) -> torch.Tensor:
    """int64 bin of each value for right-closed bins (i*w, (i+1)*w]; 0 -> bin 0, overflow -> last bin."""
    index = torch.div(values.float(), width).ceil_().sub_(1.0).clamp_(0, n_bins - 1)
    return index.long()
