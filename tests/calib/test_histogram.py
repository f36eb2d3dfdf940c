"""The growing histogram: bin width kept across batches, counts exact beyond 2^24, zeros before any range."""
import math

import torch

from calib.calibrators.histogram import GrowingHistogram


def reference_counts(values: torch.Tensor, width: float, n_bins: int) -> torch.Tensor:
    """One histogram of all the data at the final range: right-closed bins (i*w, (i+1)*w], 0 in bin 0."""
    counts = torch.zeros(n_bins, dtype=torch.int64)
    index = (torch.ceil(values / width) - 1).clamp(0, n_bins - 1).long()
    for i, c in zip(*torch.unique(index, return_counts=True)):
        counts[i] += c
    return counts


def test_growth_keeps_bin_width_and_equals_one_histogram_of_all_data():
    generator = torch.Generator().manual_seed(1)
    batches = [torch.rand(5000, generator=generator) * top for top in (1.0, 3.0, 2.0, 7.5, 0.5)]
    hist = GrowingHistogram(num_bins=2048)
    for batch in batches:
        hist.add(batch)
    first_max = float(batches[0].max())
    assert hist.width == first_max / 2048
    everything = torch.cat(batches)
    assert hist.counts.numel() == math.ceil(float(everything.max()) / hist.width) > 2048
    assert torch.equal(hist.counts, reference_counts(everything, hist.width, hist.counts.numel()))
    assert hist.total == everything.numel() and hist.counts.dtype == torch.int64


def test_batch_maximum_lands_in_the_last_bin_without_moving_after_growth():
    hist = GrowingHistogram(num_bins=4)
    hist.add(torch.tensor([0.0, 0.5, 1.0, 2.0]))  # width 0.5: 0 -> bin 0, (0, .5] -> 0, (.5, 1] -> 1, 2.0 -> 3
    assert hist.counts.tolist() == [2, 1, 0, 1]
    hist.add(torch.tensor([2.0, 3.0]))  # grows to 6 bins; 2.0 stays in bin 3
    assert hist.counts.tolist() == [2, 1, 0, 2, 0, 1]
    assert hist.edges().tolist() == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    assert hist.centres().tolist() == [0.25, 0.75, 1.25, 1.75, 2.25, 2.75]


def test_zeros_before_any_positive_value_are_counted_in_bin_zero():
    hist = GrowingHistogram(num_bins=8)
    hist.add(torch.zeros(10))
    assert not hist.started and hist.total == 10
    hist.add(torch.tensor([0.0, 4.0]))
    assert hist.counts.tolist() == [11, 0, 0, 0, 0, 0, 0, 1]


def test_counts_beyond_two_to_the_24_stay_exact():
    hist = GrowingHistogram(num_bins=2048)
    per_batch = 6_000_000
    for first in (True, False, False):
        batch = torch.full((per_batch,), 0.5)
        if first:
            batch[0] = 1.0  # fixes the range: 0.5 sits in bin 1023
        hist.add(batch)
    expected = 3 * per_batch - 1  # 17_999_999: above 2^24 and not a float32 number
    assert expected > 2 ** 24 and float(torch.tensor(float(expected), dtype=torch.float32)) != expected
    assert int(hist.counts[1023]) == expected
    assert hist.total == 3 * per_batch
