"""What the engine builder needs to know about an ONNX before TensorRT sees it: I/O, opset, and its Q/DQ nodes.

Catches, before a multi-minute build, the cases where the result would silently not be what the user asked:
an INT8 build from a graph without Q/DQ (TensorRT 10+ has no implicit calibration: it would be FP16/FP32),
uint8 or non-zero-point Q/DQ (the `cpu` profile; TensorRT runs symmetric int8 only), per-channel Q/DQ in an opset
older than 13. Those rules are export.lint's (`python -m export.lint` runs them all); the builder refuses a graph
that breaks these three, and leaves the lint's other findings (placement advice, shared scales) to it.
"""
from dataclasses import dataclass, field
from pathlib import Path

from common.errors import QYoloError
from common.log import get_logger
from common.onnx_file import load_onnx, opset_version
from export.lint import lint_model

# export.lint rules whose violation makes TensorRT reject the graph or build something else than it says
BUILD_BLOCKING_RULES = ("type", "zero-point", "opset")


@dataclass
class OnnxSummary:
    path: Path
    opset: int
    input_name: str
    input_shape: list            # ints for static dims, strings/None for dynamic ones
    output_names: list[str]
    n_quantize: int = 0
    n_dequantize: int = 0
    blocking: list[str] = field(default_factory=list)  # export.lint findings of BUILD_BLOCKING_RULES, as text
    metadata: dict[str, str] = field(default_factory=dict)
    conv_nodes: dict[str, bool] = field(default_factory=dict)  # Conv node name -> its input is dequantized

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


def conv_nodes(graph) -> dict[str, bool]:
    """Each Conv node's name -> whether its data input comes from a DequantizeLinear (explicit quantization: TensorRT
    runs it in INT8). The engine report counts the convolutions TensorRT fuses into Myelin layers from this."""
    producers = {out: node.op_type for node in graph.node for out in node.output}
    return {node.name: producers.get(node.input[0]) == "DequantizeLinear"
            for node in graph.node if node.op_type == "Conv" and node.name and node.input}


def summarize_onnx(path: str | Path) -> OnnxSummary:
    path = Path(path)
    model = load_onnx(path)
    graph = model.graph
    initializer_names = {init.name for init in graph.initializer}
    inputs = [vi for vi in graph.input if vi.name not in initializer_names]
    if len(inputs) != 1:
        raise QYoloError(f"{path} has {len(inputs)} graph inputs ({[vi.name for vi in inputs]}); "
                         f"the engine builder expects one image input")
    report = lint_model(model, str(path))
    return OnnxSummary(path=path, opset=opset_version(model), input_name=inputs[0].name,
                       input_shape=_dims(inputs[0]), output_names=[o.name for o in graph.output],
                       n_quantize=report.n_quantize, n_dequantize=report.n_dequantize,
                       blocking=[str(f) for f in report.errors if f.rule in BUILD_BLOCKING_RULES],
                       metadata={p.key: p.value for p in model.metadata_props}, conv_nodes=conv_nodes(graph))


def check_for_tensorrt(summary: OnnxSummary, precision: str) -> list[str]:
    """Errors for what TensorRT cannot run; returns warnings (also logged) for what would surprise the user."""
    if summary.blocking:
        shown = "\n  ".join(summary.blocking[:5])
        more = f"\n  ... {len(summary.blocking) - 5} more" if len(summary.blocking) > 5 else ""
        raise QYoloError(f"TensorRT cannot build {summary.path} as exported (symmetric int8 Q/DQ, zero point 0, "
                         f"opset >= 13):\n  {shown}{more}\nExport it with `--profile trt`; `python -m export.lint "
                         f"{summary.path}` lists every finding")
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
