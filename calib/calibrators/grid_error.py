"""Vectorized quantization error of histogram bin centres, for many candidate ranges at once.

Each function returns, for every candidate k, sum_j counts[j] * (fq_k(centres[j]) - centres[j])^2 where fq_k is
fake quantization on candidate k's grid (round half to even, saturation), the arithmetic of
torch.fake_quantize_per_tensor_affine. Work is a [candidates x bins] float64 matrix processed in row blocks
of about CHUNK_ELEMENTS so that the in-place passes stay in cache and memory stays bounded when histograms grow.
"""
from typing import Iterator

import torch

CHUNK_ELEMENTS = 1 << 17


def row_blocks(n_rows: int, n_cols: int) -> Iterator[slice]:
    rows = max(1, CHUNK_ELEMENTS // max(n_cols, 1))
    for start in range(0, n_rows, rows):
        yield slice(start, min(n_rows, start + rows))


def symmetric_errors(amax: torch.Tensor, centres: torch.Tensor, counts: torch.Tensor, num_bits: int) -> torch.Tensor:
    """Candidates `amax` [K] on the signed grid: step = amax / (2^(b-1) - 1), q in [-2^(b-1), 2^(b-1) - 1]."""
    qmax, qmin = 2 ** (num_bits - 1) - 1, -(2 ** (num_bits - 1))
    errors = torch.empty(amax.numel(), dtype=torch.float64, device=amax.device)
    for rows in row_blocks(amax.numel(), centres.numel()):
        step = (amax[rows].double() / qmax).unsqueeze(1)
        work = centres.unsqueeze(0) / step
        work.round_().clamp_(qmin, qmax).mul_(step).sub_(centres).square_()
        errors[rows] = work @ counts
    return errors


def asymmetric_errors(upper: torch.Tensor, lower: float, centres: torch.Tensor, counts: torch.Tensor,
                      num_bits: int) -> torch.Tensor:
    """Candidates `upper` [K] with one lower bound (<= 0) on the unsigned grid: step = (u - l) / (2^b - 1),
    zero point z = round(-l / step) in [0, 2^b - 1]; fq(c) = (clamp(round(c / step) + z, 0, 2^b - 1) - z) * step,
    computed as clamp(round(c / step), -z, 2^b - 1 - z) * step (z is an integer, so this is the same number)."""
    qmax = 2 ** num_bits - 1
    errors = torch.empty(upper.numel(), dtype=torch.float64, device=upper.device)
    for rows in row_blocks(upper.numel(), centres.numel()):
        step = ((upper[rows].double() - lower) / qmax).unsqueeze(1)
        zero_point = torch.round(-lower / step).clamp_(0, qmax)
        work = centres.unsqueeze(0) / step
        work.round_().clamp_(min=-zero_point, max=qmax - zero_point).mul_(step).sub_(centres).square_()
        errors[rows] = work @ counts
    return errors
