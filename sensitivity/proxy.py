"""How far a quantized detector's decoded output is from the float one's, and how well two rankings agree.

The proxy scores the decoded head output (boxes in input pixels, class confidences after the sigmoid) the way a
detector user sees it, so a layer is judged by the detections it moves, not by a tensor no one reads:
- confidence error: sum |s - s_ref| over every candidate and class, divided by sum s_ref (s = objectness x class
  probability for anchor heads, the class probability for anchor-free ones): relative, and dominated by the
  candidates that carry detections (the others are near 0 on both sides);
- box error: |box - box_ref|_1 / (w_ref + h_ref) per candidate, averaged with the reference's best confidence as
  weight, so boxes no one keeps do not count.
The proxy is their sum (both are relative errors, 0 for identical outputs).
"""
import numpy as np
import torch

from yolo.family import ANCHOR_OBJECTNESS, HeadLayout


def _confidences(rows: torch.Tensor, layout: HeadLayout) -> torch.Tensor:
    if layout.objectness:
        return rows[..., 4:5] * rows[..., 5:]
    return rows[..., 4:]


def decoded_output_error(reference: torch.Tensor, output: torch.Tensor,
                         layout: HeadLayout = ANCHOR_OBJECTNESS) -> float:
    """The proxy (module docstring) between two decoded head outputs of the same images."""
    ref, out = layout.rows(reference.double()), layout.rows(output.double())
    if ref.shape != out.shape:
        raise ValueError(f"outputs differ in shape: {tuple(ref.shape)} vs {tuple(out.shape)}")
    ref_conf, out_conf = _confidences(ref, layout), _confidences(out, layout)
    confidence_error = (out_conf - ref_conf).abs().sum() / ref_conf.sum().clamp(min=1e-12)
    weight = ref_conf.amax(-1)
    size = (ref[..., 2] + ref[..., 3]).clamp(min=1e-6)
    box_error = ((out[..., :4] - ref[..., :4]).abs().sum(-1) / size * weight).sum() / weight.sum().clamp(min=1e-12)
    return float(confidence_error + box_error)


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(1, len(values) + 1)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(a, b) -> float | None:
    """Spearman's rank correlation of two equally long sequences (None below 3 values or for a constant one)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"spearman needs two 1-D sequences of one length, got {a.shape} and {b.shape}")
    if len(a) < 3:
        return None
    ra, rb = _ranks(a), _ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = float(np.sqrt((ra ** 2).sum() * (rb ** 2).sum()))
    return float((ra * rb).sum() / denominator) if denominator > 0 else None
