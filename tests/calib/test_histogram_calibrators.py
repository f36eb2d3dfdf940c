"""NVIDIA-style percentile, mse and entropy against plain loop references written from NVIDIA's algorithm."""
from collections import Counter

import numpy as np
import pytest
import torch

from calib import QuantDesc
from calib.calibrators import EntropyCalibrator, MseCalibrator, PercentileCalibrator
from calib.calibrators.entropy import entropy_amax, entropy_divergences
from calib.calibrators.mse import mse_amax
from calib.calibrators.percentile import percentile_amax


def silu_sample(n=200_000, seed=0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.nn.functional.silu(torch.randn(n, generator=generator) * 2.0)


def small_histogram(n_bins=300, seed=3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    counts = np.floor(5000 * np.exp(-np.arange(n_bins) / 40.0) * rng.uniform(0.5, 1.5, n_bins))
    counts[rng.integers(0, n_bins, 25)] = 0  # some empty bins, as real histograms have
    counts[-1] = 3  # a far outlier keeps the range long
    return counts, np.arange(n_bins + 1) * 0.01


# --- references: one candidate at a time, the arithmetic spelled out ------------------------------------------
def reference_percentile(counts, edges, percentile):
    total, running = counts.sum(), 0.0
    for i, c in enumerate(counts):
        running += c / total
        if running >= percentile / 100:
            return edges[i]
    return edges[len(counts)]


def reference_mse(counts, edges, num_bits, start_bin):
    centres = (edges[1:] + edges[:-1]) / 2
    qmax = 2 ** (num_bits - 1) - 1
    best, best_amax = float("inf"), None
    for i in range(start_bin, len(centres)):
        scale = centres[i] / qmax
        err = sum(n * (min(max(round(c / scale), -qmax - 1), qmax) * scale - c) ** 2 for n, c in zip(counts, centres))
        if err / len(centres) < best:
            best, best_amax = err / len(centres), centres[i]
    return best_amax


def reference_entropy(counts, num_bits, start_bin):
    """NVIDIA HistogramCalibrator._compute_amax_entropy, loop for loop (KL = inf where Q is 0 and P is not)."""
    bins = counts.astype(np.float64).copy()
    bins[0] = bins[1]
    n_levels = 1 << (num_bits - 1)
    divergences = []
    for i in range(start_bin, len(bins) + 1):
        space = np.linspace(0, i, num=n_levels + 1)
        digitized = np.digitize(range(i), space) - 1
        digitized[bins[:i] == 0] = -1
        group = np.zeros(n_levels)
        for j, d in enumerate(digitized):
            if d != -1:
                group[d] += bins[j]
        for key, size in Counter(digitized).items():
            if key != -1:
                group[key] /= size
        q = np.array([group[d] if d != -1 else 0.0 for d in digitized])
        p = bins[:i].copy()
        p[-1] += bins[i:].sum()
        p, q = p / p.sum(), q / q.sum()
        kl = 0.0
        for pj, qj in zip(p, q):
            if pj > 0:
                kl += np.inf if qj == 0 else pj * np.log(pj / qj)
        divergences.append(kl)
    divergences = np.array(divergences)
    last_argmin = len(divergences) - 1 - np.argmin(divergences[::-1])
    return last_argmin + start_bin, divergences


# --- tests ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("percentile", [99.99, 99.9, 90.0, 100.0])
def test_percentile_matches_reference(percentile):
    counts, edges = small_histogram()
    got = percentile_amax(torch.tensor(counts), torch.tensor(edges), percentile)
    assert got == pytest.approx(reference_percentile(counts, edges, percentile), abs=1e-12)


@pytest.mark.parametrize("num_bits", [8, 4])
def test_mse_matches_reference(num_bits):
    counts, edges = small_histogram()
    got = mse_amax(torch.tensor(counts), torch.tensor(edges), num_bits, start_bin=16)
    assert got == pytest.approx(reference_mse(counts, edges, num_bits, 16), abs=1e-12)


@pytest.mark.parametrize("num_bits,start_bin", [(4, 16), (8, 128), (6, 40)])
def test_entropy_matches_reference(num_bits, start_bin):
    counts, edges = small_histogram()
    counts[200] = 0  # candidate 201 then has outliers folded into an empty bin: infinite for NVIDIA
    best, reference = reference_entropy(counts, num_bits, start_bin)
    candidates, divergences, starved = entropy_divergences(torch.tensor(counts), num_bits, start_bin)
    assert candidates.tolist() == list(range(start_bin, len(counts) + 1))
    finite = np.isfinite(reference)
    assert starved.numpy().tolist() == (~finite).tolist() and (~finite).any()
    assert np.allclose(divergences.numpy()[finite], reference[finite], rtol=1e-9, atol=1e-12)
    assert torch.isfinite(divergences).all()
    assert entropy_amax(torch.tensor(counts), torch.tensor(edges), num_bits, start_bin) == edges[best]


def test_calibrators_search_their_own_abs_histogram():
    x = silu_sample()
    desc = QuantDesc(4, True)
    bins = dict(num_bins=256, start_bin=32)  # small enough for the plain-Python references
    for calibrator, search in [
        (PercentileCalibrator(desc, "p", num_bins=256, percentile=99.9), lambda c, e: reference_percentile(c, e, 99.9)),
        (MseCalibrator(desc, "m", **bins), lambda c, e: reference_mse(c, e, 4, 32)),
        (EntropyCalibrator(desc, "e", **bins), lambda c, e: e[reference_entropy(c, 4, 32)[0]]),
    ]:
        for chunk in x.chunk(3):
            calibrator.collect(chunk)
        hist = calibrator.histogram
        assert hist.total == x.numel()  # |x|: negatives are folded in, not dropped
        expected = search(hist.counts.double().numpy(), hist.edges().numpy())
        assert float(calibrator.compute_amax().amax) == pytest.approx(expected, rel=1e-6)
        assert calibrator.compute_amax().amin is None


def test_histogram_calibrators_refuse_asymmetric_and_per_channel():
    for cls in (PercentileCalibrator, MseCalibrator, EntropyCalibrator):
        with pytest.raises(ValueError, match="symmetric only"):
            cls(QuantDesc(8, False))
        with pytest.raises(ValueError, match="per-tensor only"):
            cls(QuantDesc(8, True, axis=0))
