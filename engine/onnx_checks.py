"""What the engine builder needs to know about an ONNX before TensorRT sees it: I/O, opset, and its Q/DQ nodes.

Catches, before a multi-minute build, the cases where the result would silently not be what the user asked:
an INT8 build from a graph without Q/DQ (TensorRT 10+ has no implicit calibration: it would be FP16/FP32),
uint8 or non-zero-point Q/DQ (the `cpu` profile; TensorRT runs symmetric int8 only).
"""
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from common.errors import QYoloError
from common.log import get_logger
from common.onnx_file import load_onnx

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


@dataclass
class OnnxSummary:
    path: Path
    opset: int
    input_name: str
    input_shape: list            # ints for static dims, strings/None for dynamic ones
    output_names: list[str]
    n_quantize: int = 0
    n_dequantize: int = 0
    zero_point_types: set[str] = field(default_factory=set)   # e.g. {"int8"} or {"uint8"}
    nonzero_zero_points: list[str] = field(default_factory=list)  # node names
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def has_qdq(self) -> bool:
        return self.n_quantize > 0 and self.n_dequantize > 0

    @property
    def dynamic_batch(self) -> bool:
        return not (isinstance(self.input_shape[0], int) and self.input_shape[0] > 0)


def _dims(value_info) -> list:
    dims = []
    for d in value_info.type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        else:
            dims.append(d.dim_param or None)
    return dims


def summarize_onnx(path: str | Path) -> OnnxSummary:
    path = Path(path)
    model = load_onnx(path)
    graph = model.graph
    initializer_names = {init.name for init in graph.initializer}
    inputs = [vi for vi in graph.input if vi.name not in initializer_names]
    if len(inputs) != 1:
        raise QYoloError(f"{path} has {len(inputs)} graph inputs ({[vi.name for vi in inputs]}); "
                         f"the engine builder expects one image input")
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    summary = OnnxSummary(path=path, opset=opset, input_name=inputs[0].name, input_shape=_dims(inputs[0]),
                          output_names=[o.name for o in graph.output],
                          metadata={p.key: p.value for p in model.metadata_props})
    _count_qdq(graph, summary)
    return summary


def _count_qdq(graph, summary: OnnxSummary) -> None:
    constants = {init.name: init for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = node.attribute[0].t
    for node in graph.node:
        if node.op_type not in QDQ_OPS:
            continue
        if node.op_type == "QuantizeLinear":
            summary.n_quantize += 1
        else:
            summary.n_dequantize += 1
        if len(node.input) < 3 or not node.input[2]:
            summary.zero_point_types.add("uint8")  # ONNX's default zero point is uint8 0
            continue
        zp = constants.get(node.input[2])
        if zp is None:
            continue  # computed zero point: the export lint reports those
        if zp.data_location == onnx.TensorProto.EXTERNAL:
            summary.zero_point_types.add(onnx.helper.tensor_dtype_to_np_dtype(zp.data_type).name)
            continue
        values = numpy_helper.to_array(zp)
        summary.zero_point_types.add(values.dtype.name)
        if np.any(values != 0):
            summary.nonzero_zero_points.append(node.name or node.output[0])


def check_for_tensorrt(summary: OnnxSummary, precision: str) -> list[str]:
    """Errors for what TensorRT cannot run; returns warnings (also logged) for what would surprise the user."""
    if summary.opset < 13 and summary.has_qdq:
        raise QYoloError(f"{summary.path} uses opset {summary.opset}; per-channel Q/DQ needs opset 13 or newer: "
                         f"re-export (the export stage writes opset 17)")
    if summary.has_qdq and summary.zero_point_types - {"int8"}:
        raise QYoloError(
            f"{summary.path} has {'/'.join(sorted(summary.zero_point_types))} Q/DQ: TensorRT runs int8 only. "
            f"This looks like the `cpu` profile; export with `--profile trt` (symmetric int8, zero point 0)")
    if summary.nonzero_zero_points:
        names = ", ".join(summary.nonzero_zero_points[:5])
        raise QYoloError(f"{summary.path}: non-zero zero points at {names}"
                         f"{' ...' if len(summary.nonzero_zero_points) > 5 else ''}; TensorRT needs symmetric "
                         f"quantization. Export with `--profile trt`; `python -m export.lint` lists every node")
    warnings = []
    if precision == "int8" and not summary.has_qdq:
        warnings.append(
            f"{summary.path} has no Q/DQ nodes: TensorRT 10+ has no implicit INT8 calibration, so this 'int8' "
            f"engine will be built as FP16. Export a calibrated artifact with `--profile trt` for INT8")
    if precision != "int8" and summary.has_qdq:
        warnings.append(f"{summary.path} has {summary.n_quantize} Q/DQ pairs: the layers they wrap will run in INT8 "
                        f"even though precision is {precision!r} (Q/DQ nodes are explicit)")
    for text in warnings:
        get_logger().warning(text)
    return warnings
