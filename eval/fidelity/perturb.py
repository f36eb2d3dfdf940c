"""Deliberately wrong copies of a QDQ graph: the known-bad inputs the fidelity check must fail (and the graded
errors its thresholds were chosen from).

`scale_activation` multiplies the dequantization scale of one activation quantizer by `factor`: the runtime then
computes `factor` times the true values at that point, as a kernel that misreads a data type or a zero point
would. Only that DequantizeLinear changes (it gets its own scale tensor), so the rest of the graph is untouched.
"""
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from common.atomic import write_bytes_atomic
from common.errors import QYoloError
from common.onnx_file import load_onnx


def activation_dequantizers(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    """DequantizeLinear nodes of activations (per-tensor scale, fed by a QuantizeLinear), in graph order."""
    inits = {i.name: i for i in model.graph.initializer}
    produced_by_q = {n.output[0] for n in model.graph.node if n.op_type == "QuantizeLinear"}
    found = []
    for node in model.graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in produced_by_q:
            continue
        scale = inits.get(node.input[1])
        if scale is not None and numpy_helper.to_array(scale).size == 1:
            found.append(node)
    return found


def scale_activation(onnx_in: str | Path, onnx_out: str | Path, factor: float, index: int | None = None) -> str:
    """Write a copy of `onnx_in` whose `index`-th activation DQ (default: the middle one) is off by `factor`;
    returns that node's name."""
    model = load_onnx(onnx_in, "export it first (python -m export)")
    targets = activation_dequantizers(model)
    if not targets:
        raise QYoloError(f"{onnx_in} has no activation DequantizeLinear with a per-tensor scale to perturb")
    index = len(targets) // 2 if index is None else index
    if not -len(targets) <= index < len(targets):
        raise QYoloError(f"{onnx_in} has {len(targets)} activation dequantizers; index {index} is out of range")
    node = targets[index]
    inits = {i.name: i for i in model.graph.initializer}
    scale = numpy_helper.to_array(inits[node.input[1]]) * np.float32(factor)
    name = f"{node.input[1]}_perturbed_x{factor:g}"
    model.graph.initializer.append(numpy_helper.from_array(scale.astype(np.float32), name))
    node.input[1] = name
    write_bytes_atomic(Path(onnx_out), lambda tmp: onnx.save(model, str(tmp)))
    return node.name
