"""collect_and_compute: calibrate a quantized model on input batches, then switch it to quantization."""
from typing import Any, Iterable

import torch
from torch import nn
from tqdm import tqdm

from calib.modes import enable_quantization, quantizers
from calib.tensor_quantizer import Mode
from common.errors import QYoloError
from yolo.finite import all_finite, first_non_finite


def _model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    return torch.device("cpu")


def first_tensor(batch: Any) -> torch.Tensor:
    """A batch is an input tensor, or a tuple/list/dict whose first (or "img"/"image") entry is one."""
    if isinstance(batch, dict):
        batch = batch.get("img", batch.get("image"))
    elif isinstance(batch, (tuple, list)) and batch:
        batch = batch[0]
    if not isinstance(batch, torch.Tensor):
        raise QYoloError(f"calibration batches must be tensors (or tuples starting with one), got {type(batch)}")
    return batch


@torch.no_grad()
def collect_and_compute(model: nn.Module, batches: Iterable[Any], progress: bool = True) -> dict[str, dict]:
    """Run `model` in calibration mode over `batches`, compute every quantizer's range, switch to quantization.

    Activations: each input quantizer's calibrator sees every batch (the model computes in float meanwhile).
    Weights: each module with `calibrate_weight()` (QuantConv2d) gets per-channel absmax from its weights.
    Batches are moved to the model's device (preprocessing is the caller's: float NCHW as the model expects).
    Returns {quantizer name: quantizer.describe()} for artifact sidecars. The model is left in eval mode.
    """
    named = list(quantizers(model))
    if not named:
        raise QYoloError("the model has no quantizers; call calib.quantize_model(model, config) first")
    weight_owners = [m for m in model.modules() if hasattr(m, "calibrate_weight") and hasattr(m, "weight_quantizer")]
    weight_ids = {id(m.weight_quantizer) for m in weight_owners}
    activations = [quantizer for _, quantizer in named if id(quantizer) not in weight_ids]
    model.eval()
    device = _model_device(model)
    previous = [(quantizer, quantizer.mode) for _, quantizer in named]
    try:
        for quantizer in activations:
            if quantizer.calibrator is not None:
                quantizer.calibrator.reset()
            quantizer.mode = Mode.CALIBRATE
        for owner in weight_owners:  # weights need no per-batch statistics: their range comes from the weights
            owner.weight_quantizer.mode = Mode.DISABLED
        count = 0
        total = len(batches) if hasattr(batches, "__len__") else None
        for batch in tqdm(batches, total=total, desc="calibrating", unit="batch", disable=not progress):
            x = first_tensor(batch).to(device)
            if not all_finite(model(x)):  # ranges from NaN/Inf would be garbage: stop and say where it starts
                where = first_non_finite(model, x)
                raise QYoloError(f"the model's output holds NaN/Inf on calibration batch {count + 1}, first at "
                                 f"{where or 'an unknown module'}; the weights or the inputs are broken there "
                                 "(check the checkpoint)")
            count += 1
        if count == 0:
            raise QYoloError("no calibration batches were given; check the calibration image folder")
        for owner in weight_owners:
            owner.calibrate_weight()
        for quantizer in activations:
            quantizer.compute_range()
    except BaseException:
        for quantizer, mode in previous:
            quantizer.mode = mode
        raise
    enable_quantization(model)
    return {name: quantizer.describe() for name, quantizer in named}
