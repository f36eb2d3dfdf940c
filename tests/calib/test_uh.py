"""Unilateral Histogram calibration against brute force: a plain loop over candidates and bins."""
import numpy as np
import pytest
import torch

from calib import QuantDesc
from calib.calibrators import MinMaxCalibrator, UnilateralHistogramCalibrator
from calib.calibrators.uh import uh_asymmetric_search, uh_symmetric_search


def brute_force_asymmetric(counts, width, lower, num_bits, start_bin):
    """Score of every candidate u = centre of bin k >= start_bin, as calib/calibrators/uh.py's docstring states it."""
    qmax = 2 ** num_bits - 1
    centres = [(j + 0.5) * width for j in range(len(counts))]
    scores = []
    for k in range(start_bin, len(counts)):
        step = (centres[k] - lower) / qmax
        zero_point = min(max(round(-lower / step), 0), qmax)
        total = 0.0
        for n, c in zip(counts, centres):
            q = min(max(round(c / step) + zero_point, 0), qmax)
            total += n * ((q - zero_point) * step - c) ** 2
        scores.append(total / sum(counts))
    return start_bin + int(np.argmin(scores)), scores


def brute_force_symmetric(positive, width, negative, negative_width, num_bits, start_bin):
    """Signed grid, zero point 0: squared error over both sides of the real distribution, per total count."""
    qmax, qmin = 2 ** (num_bits - 1) - 1, -(2 ** (num_bits - 1))
    points = [((j + 0.5) * width, n) for j, n in enumerate(positive)]
    points += [(-(j + 0.5) * negative_width, n) for j, n in enumerate(negative)]
    last = max(len(positive), int(np.ceil((len(negative) - 0.5) * negative_width / width)))
    best, best_amax = float("inf"), None
    for k in range(start_bin, last):
        amax = (k + 0.5) * width
        step = amax / qmax
        err = sum(n * (min(max(round(x / step), qmin), qmax) * step - x) ** 2 for x, n in points)
        score = err / (sum(positive) + sum(negative))
        if score < best:
            best, best_amax = score, amax
    return best_amax, best


def skewed_histogram(n_bins=240, seed=0):
    rng = np.random.default_rng(seed)
    counts = np.floor(8000 * np.exp(-np.arange(n_bins) / 25.0) * rng.uniform(0.3, 1.7, n_bins)) + 1
    counts[-3:] = [2, 0, 1]
    return counts


@pytest.mark.parametrize("num_bits,lower", [(8, -0.2785), (4, -0.2785), (4, 0.0), (2, -1.5)])
def test_asymmetric_search_equals_brute_force(num_bits, lower):
    counts, width = skewed_histogram(), 0.05
    best, scores = uh_asymmetric_search(torch.tensor(counts), width, lower, num_bits, start_bin=16)
    expected_best, expected_scores = brute_force_asymmetric(counts, width, lower, num_bits, 16)
    assert best == expected_best
    assert np.allclose(scores.numpy(), expected_scores, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("num_bits", [8, 4, 3])
def test_symmetric_search_equals_brute_force_over_both_sides(num_bits):
    positive, width = skewed_histogram(), 0.05
    negative, negative_width = skewed_histogram(40, seed=1)[:40], 0.2785 / 40
    amax, scores = uh_symmetric_search(torch.tensor(positive), width, torch.tensor(negative), negative_width,
                                       num_bits, start_bin=16)
    expected_amax, expected_score = brute_force_symmetric(positive, width, negative, negative_width, num_bits, 16)
    assert amax == pytest.approx(expected_amax, abs=1e-12)
    assert float(scores.min()) == pytest.approx(expected_score, rel=1e-10)


def test_symmetric_candidates_reach_a_dominant_negative_side():
    positive, negative = np.array([50.0] * 20), np.array([10.0] * 60)  # negative side 3x longer
    amax, scores = uh_symmetric_search(torch.tensor(positive), 1.0, torch.tensor(negative), 1.0, 4, start_bin=2)
    expected_amax, _ = brute_force_symmetric(positive, 1.0, negative, 1.0, 4, 2)
    assert scores.numel() == 58 and amax == pytest.approx(expected_amax)


def silu_batches(seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.nn.functional.silu(torch.randn(20_000, generator=generator) * s) for s in (1.0, 2.5, 1.5)]


def test_calibrator_histograms_only_non_negative_values_and_tracks_the_minimum():
    calibrator = UnilateralHistogramCalibrator(QuantDesc(8, False), "layer", num_bins=256, start_bin=32)
    batches = silu_batches()
    for batch in batches:
        calibrator.collect(batch)
    everything = torch.cat(batches)
    assert calibrator.positive.total == int((everything >= 0).sum())  # negatives are not in the histogram
    assert not calibrator.negative.started  # the asymmetric search never needs the negative side
    assert calibrator.running_min == pytest.approx(float(everything.min())) and -0.2785 < calibrator.running_min
    found = calibrator.compute_amax()
    best, _ = brute_force_asymmetric(calibrator.positive.counts.tolist(), calibrator.positive.width,
                                     calibrator.running_min, 8, 32)
    assert float(found.amax) == pytest.approx((best + 0.5) * calibrator.positive.width, rel=1e-6)
    assert float(found.amin) == pytest.approx(float(everything.min()))


def test_symmetric_calibrator_uses_both_sides():
    calibrator = UnilateralHistogramCalibrator(QuantDesc(4, True), "layer", num_bins=128, start_bin=16)
    for batch in silu_batches():
        calibrator.collect(batch)
    assert calibrator.negative.started
    found = calibrator.compute_amax()
    assert found.amin is None
    expected, _ = brute_force_symmetric(calibrator.positive.counts.tolist(), calibrator.positive.width,
                                        calibrator.negative.counts.tolist(), calibrator.negative.width, 4, 16)
    assert float(found.amax) == pytest.approx(expected, rel=1e-6)


def test_uh_asymmetric_beats_minmax_error_at_4_bits_on_silu_data():
    """Not a proof of the method, a sanity check that the search optimizes what it says on real-looking data."""
    batches = silu_batches()
    data = torch.cat(batches)
    results = {}
    for name, calibrator in [("uh", UnilateralHistogramCalibrator(QuantDesc(4, False), "l")),
                             ("minmax", MinMaxCalibrator(QuantDesc(4, False), "l"))]:
        for batch in batches:
            calibrator.collect(batch)
        found = calibrator.compute_amax()
        scale = float(found.amax - found.amin) / 15
        zero_point = round(-float(found.amin) / scale)
        fq = torch.fake_quantize_per_tensor_affine(data, scale, zero_point, 0, 15)
        results[name] = float(((fq - data) ** 2).mean())
    assert results["uh"] < results["minmax"]
