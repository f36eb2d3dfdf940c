"""recompute_ranges: new bit widths for a calibrated model without running the calibration data again.

What the calibrators collect does not depend on the bit width: the histograms (|x|, or UH's non-negative side and
running minimum) and the running min/max are the same whether the grid has 16 or 256 levels; only the search in
`compute_amax` reads `num_bits`. So one pass over the calibration images serves W8A8, W6A6 and W4A4 alike, and
the ranges equal those of a separate calibration at each width (tests/calib/test_calibrate.py checks that).
"""
import dataclasses

from torch import nn

from calib.config import QuantConfig
from calib.modes import quantizers
from calib.replace import check_layer_bits
from common.errors import QYoloError


def recompute_ranges(model: nn.Module, config: QuantConfig) -> dict[str, dict]:
    """Set every quantizer of the calibrated `model` to its widths in `config` (config.w_bits / config.a_bits, or
    the layer's config.layer_bits entry) and recompute its range from the statistics its calibrator still holds.
    config.method and config.scheme must be those the model was calibrated with (a different method or grid needs
    different statistics). Returns {name: describe()}."""
    named = list(quantizers(model))
    if not named:
        raise QYoloError("the model has no quantizers; call calib.quantize_model and calibrate it first")
    check_layer_bits(config, sorted({name.rpartition(".")[0] for name, _ in named}))
    owner_names = {id(m): name for name, m in model.named_modules()}
    weight_owners = [m for m in model.modules() if hasattr(m, "calibrate_weight") and hasattr(m, "weight_quantizer")]
    weight_ids = {id(m.weight_quantizer) for m in weight_owners}
    activations = [(name, q) for name, q in named if id(q) not in weight_ids]
    symmetric = config.scheme == "sym"
    for name, quantizer in activations:
        calibrator = quantizer.calibrator
        if calibrator is None or calibrator.batches_seen == 0:
            raise QYoloError(f"layer {name} holds no calibration statistics (a loaded artifact keeps only the "
                             "ranges); run calibration on images to change its bit width")
        if calibrator.method != config.method or quantizer.symmetric != symmetric:
            raise ValueError(f"layer {name} was calibrated with {calibrator.method}/"
                             f"{'sym' if quantizer.symmetric else 'asym'}; recompute_ranges changes bit widths "
                             f"only, not to {config.method}/{config.scheme}")
    for name, quantizer in activations:
        a_bits = config.bits_for(name.rpartition(".")[0])[1]
        if quantizer.num_bits != a_bits or not quantizer.is_calibrated:
            quantizer.desc = dataclasses.replace(quantizer.desc, num_bits=a_bits)
            quantizer.compute_range()
    for owner in weight_owners:
        w_bits = config.bits_for(owner_names[id(owner)])[0]
        if owner.weight_quantizer.num_bits != w_bits or not owner.weight_quantizer.is_calibrated:
            owner.weight_quantizer.desc = dataclasses.replace(owner.weight_quantizer.desc, num_bits=w_bits)
            owner.calibrate_weight()
    return {name: quantizer.describe() for name, quantizer in named}
