"""torch -> raw ONNX with the TorchScript exporter; the graph passes (cleanup, placement, ...) work on its output.

Why the TorchScript exporter (`dynamo=False`) and not torch 2.13's default dynamo exporter:
- It exports `torch.fake_quantize_per_tensor_affine` / `fake_quantize_per_channel_affine` as
  QuantizeLinear/DequantizeLinear with the exact scale and zero point the fake-quant model uses
  (calib.TensorQuantizer puts them into the graph as constants during export), so the Q/DQ positions and numbers
  come from the very code that computes the torch fake-quant outputs: nothing is re-derived by hand.
- Its node names follow the module path ("/model.2/cv1/conv/input_quantizer/QuantizeLinear"), which lets the
  later passes, the lint and the sidecar name every Q/DQ after the quantizer it came from.
Inserting Q/DQ afterwards with graphsurgeon from a table of ranges was the alternative; it would duplicate the
grid arithmetic of calib/ and the knowledge of which tensor each quantizer sees.

The model must return its prediction tensor first (YOLOv5 eval mode returns `(pred, raw maps)`): only that first
output is kept, named "pred"; the input is named "images".
"""
import warnings
from pathlib import Path

import torch
from torch import nn

from common.errors import QYoloError

INPUT_NAME = "images"
OUTPUT_NAME = "pred"


def _count_outputs(output) -> int:
    if isinstance(output, torch.Tensor):
        return 1
    if isinstance(output, (tuple, list)):
        return sum(_count_outputs(item) for item in output)
    raise QYoloError(f"the model returns a {type(output).__name__}; export needs tensors (prediction first)")


def export_torch(model: nn.Module, path: str | Path, imgsz: int, batch: int = 1, dynamic_batch: bool = False,
                 opset: int = 17) -> Path:
    """Write the raw TorchScript-exporter ONNX of `model` (eval mode, CPU, float32) to `path`.

    A forward pass at the export size runs first so that size-dependent caches (YOLOv5's Detect grids) hold
    constants rather than traced arange/meshgrid ops.
    """
    model = model.eval().float().cpu()
    example = torch.zeros(batch, 3, imgsz, imgsz)
    with torch.no_grad():
        output = model(example)
    n_out = _count_outputs(output)
    output_names = [OUTPUT_NAME] + [f"unused_output_{i}" for i in range(1, n_out)]
    dynamic_axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings about Python-level shape checks: expected, shapes are fixed
        try:
            torch.onnx.export(model, (example,), str(path), input_names=[INPUT_NAME], output_names=output_names,
                              opset_version=opset, dynamic_axes=dynamic_axes, do_constant_folding=True,
                              dynamo=False)
        except torch.onnx.errors.UnsupportedOperatorError as exc:
            raise QYoloError(f"torch.onnx cannot export this model at opset {opset}: {exc}; "
                             f"try the default --opset 17") from None
    return Path(path)
