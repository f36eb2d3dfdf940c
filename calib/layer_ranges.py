"""Every calibration method's clipping range for a few chosen layers, from ONE pass over the calibration images.

The stage's calibration gives each quantizer one calibrator, so comparing five methods would take five passes.
Here the chosen layers' inputs are fed, in the same pass, to one calibrator per method: the very classes and
settings `quantize_model` builds (`make_calibrator` with the QuantConfig's num_bins / start_bin / percentile), on
the same images, batches and preprocessing as `calib.calibrate`. So each range equals what `python -m calib` with
that method, grid and bit width writes for the layer (tests/calib/test_plot.py checks this on a real model).
A range needs no second pass for another bit width either: only the range search reads the width.

The signed distribution a person wants to look at comes from the symmetric UH calibrator's two histograms (the
non-negative values and |x| of the negative ones, 2048 bins each), which it collects anyway.
"""
import dataclasses
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from calib.calibrators import Calibrator, UnilateralHistogramCalibrator, make_calibrator
from calib.collect import first_tensor
from calib.config import QuantConfig
from calib.modes import quant_mode
from calib.quant_desc import QuantDesc, scale_and_zero_point
from calib.tensor_quantizer import Mode, TensorQuantizer
from common.errors import QYoloError

# The method variants the reports compare, by label: (calibration method, activation grid).
VARIANTS: dict[str, tuple[str, str]] = {
    "minmax": ("minmax", "sym"), "percentile": ("percentile", "sym"), "mse": ("mse", "sym"),
    "entropy": ("entropy", "sym"), "uh-asym": ("uh", "asym"), "uh-sym": ("uh", "sym"),
    "minmax-asym": ("minmax", "asym"),
}
DISPLAY_VARIANT = ("uh", "sym")  # its two histograms hold the signed distribution


def input_quantizers(model: nn.Module) -> dict[str, TensorQuantizer]:
    """{quantizer name: quantizer} of every quantized module's input (the activations), in module order."""
    return {f"{name}.input_quantizer": module.input_quantizer for name, module in model.named_modules()
            if isinstance(getattr(module, "input_quantizer", None), TensorQuantizer)}


def representative_layers(names: Sequence[str], count: int) -> list[str]:
    """`count` names evenly spaced over `names` (module order), always the first and the last: an early, a middle
    and a late activation for count=3. In YOLOv5/v8 graphs every quantized activation is a SiLU output (or a
    concatenation / upsampling / pooling of SiLU outputs)."""
    if count >= len(names):
        return list(names)
    if count == 1:
        return [names[len(names) // 2]]
    return [names[round(i * (len(names) - 1) / (count - 1))] for i in range(count)]


def resolve_layers(available: Sequence[str], asked: Sequence[str], skipped: Sequence[str] = ()) -> list[str]:
    """Quantizer names for the layers asked: a quantizer name or its module's name (model.2.cv1.conv)."""
    resolved = []
    for name in asked:
        full = name if name.endswith(".input_quantizer") else f"{name}.input_quantizer"
        if full not in available:
            module = full.removesuffix(".input_quantizer")
            why = "is kept in float (not quantized)" if module in skipped else "is not a quantized layer of the model"
            examples = ", ".join(n.removesuffix(".input_quantizer") for n in representative_layers(available, 4))
            raise QYoloError(f"layer {name!r} {why}; name a quantized module, e.g. {examples}")
        if full not in resolved:
            resolved.append(full)
    return resolved


@dataclass
class LayerStatistics:
    """One layer's calibrators after the pass: {variant label: calibrator}, plus the signed-distribution source."""

    name: str
    calibrators: dict[str, Calibrator]
    display: UnilateralHistogramCalibrator


def make_layer_calibrators(name: str, variants: Sequence[str], quant: QuantConfig) -> LayerStatistics:
    """One calibrator per variant, built as `quantize_model` builds a layer's (settings from `quant`)."""
    calibrators = {}
    for label in variants:
        method, scheme = VARIANTS[label]
        variant_quant = dataclasses.replace(quant, method=method, scheme=scheme)  # validates the pair
        calibrators[label] = make_calibrator(method, variant_quant.activation_desc, name, num_bins=quant.num_bins,
                                             start_bin=quant.start_bin, percentile=quant.percentile)
    display = next((c for label, c in calibrators.items() if VARIANTS[label] == DISPLAY_VARIANT), None)
    if display is None:
        display = make_calibrator(DISPLAY_VARIANT[0], QuantDesc(num_bits=quant.a_bits, symmetric=True), name,
                                  num_bins=quant.num_bins, start_bin=quant.start_bin)
    return LayerStatistics(name, calibrators, display)


@torch.no_grad()
def collect_layers(model: nn.Module, layers: dict[str, LayerStatistics], batches: Iterable,
                   progress: bool = True) -> int:
    """Run the float model over `batches`, feeding each chosen quantizer's input to its layer's calibrators.

    Every quantizer of the model passes values through meanwhile (the modes are restored after).
    Returns the number of batches.
    """
    quantizers = input_quantizers(model)
    hooks = []
    device = next((p.device for p in model.parameters()), torch.device("cpu"))

    def feeder(stats: LayerStatistics):
        targets = list(stats.calibrators.values())
        if stats.display not in targets:
            targets.append(stats.display)

        def hook(_module, args):
            for calibrator in targets:
                calibrator.collect(args[0])
        return hook

    count = 0
    try:
        for name, stats in layers.items():
            hooks.append(quantizers[name].register_forward_pre_hook(feeder(stats)))
        with quant_mode(model, Mode.DISABLED):
            total = len(batches) if hasattr(batches, "__len__") else None
            for batch in tqdm(batches, total=total, desc="collecting ranges", unit="batch", disable=not progress):
                model(first_tensor(batch).to(device))
                count += 1
    finally:
        for hook in hooks:
            hook.remove()
    if count == 0:
        raise QYoloError("no calibration batches were given; check the calibration image folder")
    return count


def variant_range(calibrator: Calibrator, num_bits: int) -> dict:
    """The calibrator's range at `num_bits` (what a quantizer calibrated with it stores), with the grid it makes."""
    calibrator.desc = dataclasses.replace(calibrator.desc, num_bits=num_bits)
    found = calibrator.compute_amax()
    desc = calibrator.desc
    amax = float(found.amax)
    amin = None if desc.symmetric else float(found.amin)
    scale, zero_point = scale_and_zero_point(desc, found.amax, found.amin)
    return {"method": calibrator.method, "scheme": "sym" if desc.symmetric else "asym", "a_bits": num_bits,
            "amax": amax, "amin": amin, "clip_low": -amax if desc.symmetric else amin, "clip_high": amax,
            "scale": float(scale), "zero_point": int(zero_point)}


def signed_histogram(display: UnilateralHistogramCalibrator, max_bins: int) -> dict:
    """The signed distribution on display bins of one width d with 0 as an edge: bin k covers [k d, (k+1) d).

    The calibrator's fine bins (widths w+ and w- on the two sides) are assigned by their centres; d is a whole
    multiple of the wider fine width, at least (max - min) / max_bins, so no display bin falls between fine ones.
    """
    positive, negative = display.positive, display.negative
    pos_counts = positive.counts.double().cpu().numpy() if positive.started else np.zeros(0)
    neg_counts = negative.counts.double().cpu().numpy() if negative.started else np.zeros(0)
    pos_width, neg_width = positive.width or 0.0, negative.width or 0.0
    low, high = display.running_min, positive.max_seen
    zeros = 0 if positive.started else positive.total  # zeros seen before any positive value
    fine = max(pos_width, neg_width)
    if fine == 0.0:  # only zeros were seen
        return {"bin_width": 1.0, "first_edge": 0.0, "counts": [zeros], "min": 0.0, "max": 0.0, "total": zeros}
    width = fine * max(1, int(np.ceil((high - low) / max_bins / fine)))
    pos_index = np.floor((np.arange(pos_counts.size) + 0.5) * pos_width / width).astype(np.int64)
    neg_index = np.floor((np.arange(neg_counts.size) + 0.5) * neg_width / width).astype(np.int64)
    n_pos = int(pos_index.max()) + 1 if pos_index.size else int(zeros > 0)
    n_neg = int(neg_index.max()) + 1 if neg_index.size else 0
    pos = np.bincount(pos_index, weights=pos_counts, minlength=n_pos)
    neg = np.bincount(neg_index, weights=neg_counts, minlength=n_neg)
    pos[:1] += zeros
    counts = np.concatenate([neg[::-1], pos]).round().astype(np.int64)
    return {"bin_width": width, "first_edge": -n_neg * width, "counts": counts.tolist(), "min": low, "max": high,
            "total": int(counts.sum())}


def clipped_fraction(display: UnilateralHistogramCalibrator, clip_low: float, clip_high: float) -> float:
    """Share of the values in fine bins wholly outside [clip_low, clip_high]: a lower bound, exact where the clip is
    a bin edge (percentile, entropy) and never counting the bin that holds the maximum for minmax.

    From the calibrator's fine histograms, not the display bins: SiLU piles values up at its minimum -0.2785,
    where UH's lower bound sits, and a coarse bin there would blur what is clipped."""
    positive, negative = display.positive, display.negative
    total = positive.total + negative.total
    if total == 0:
        return 0.0
    outside = 0.0
    if positive.started:  # bin i holds (i w, (i+1) w]: wholly above the clip when i w >= clip_high
        outside += float(positive.counts[positive.edges()[:-1] >= clip_high].sum())
    if negative.started:  # the same on |x| of the negative values
        outside += float(negative.counts[negative.edges()[:-1] >= -clip_low].sum())
    return outside / total


def layer_report(stats: LayerStatistics, bit_widths: Sequence[int], max_bins: int) -> dict:
    """JSON-ready: the layer's signed histogram and every variant's range at every bit width."""
    histogram = signed_histogram(stats.display, max_bins)
    ranges = []
    for bits in bit_widths:
        for label, calibrator in stats.calibrators.items():
            found = variant_range(calibrator, bits)
            found["clipped_fraction"] = clipped_fraction(stats.display, found["clip_low"], found["clip_high"])
            ranges.append({"variant": label, **found})
    return {"layer": stats.name, "module": stats.name.removesuffix(".input_quantizer"), "histogram": histogram,
            "ranges": ranges}
