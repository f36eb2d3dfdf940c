"""Read TensorRT's engine-inspector JSON and say which layers run in which precision, INT8 counted.

Format (IEngineInspector.get_engine_information(LayerInformationFormat.JSON), engine built with
ProfilingVerbosity.DETAILED): {"Layers": [{"Name", "LayerType", "ParameterType", "Inputs": [...], "Outputs": [...],
"Weights": {"Type", "Count"}, ...}], ...}. Each input/output tensor describes its type as
- TensorRT 10: "Format/Datatype": "Channel major INT8 format where channel % 16 == 0" (type inside the text),
- TensorRT 11: separate "DataType" (some builds spell it "Datatype") and "Format" fields ("Bindings" became
  "I/O Tensors"); field names are matched without regard to case.
With the default verbosity (LAYER_NAMES_ONLY) "Layers" is a list of names: no precisions to report.
A layer's precision is that of its first input (as NVIDIA's TREx does): a fused Q/DQ convolution reads INT8. That
also counts reformat and dequantize steps fed INT8, so the headline figure is the share of convolutions reading
INT8, not the number of "INT8 layers".

TensorRT's Myelin backend (LayerType "Myelin" in 10, "kgen" in 11, names like "{ForeignNode[first...last]}")
compiles whole subgraphs, convolutions included, into one layer that has no ParameterType and whose inputs say
nothing about the precision inside. Its "Metadata" lists the ONNX nodes it holds ("[ONNX Layer: <name>]" per
node); the convolutions among them are counted from the source ONNX (`conv_nodes`: node name -> whether its input
comes through a DequantizeLinear, i.e. whether explicit quantization makes it INT8), or, without the ONNX, by
their node names.
"""
import json
import re
from collections import Counter
from dataclasses import dataclass

# Order matters: uint8 before int8, bfloat16 before float.
_TYPE_PATTERNS = [
    ("UINT8", r"\buint8\b"), ("INT8", r"\bint8\b"), ("BF16", r"\bbfloat16\b|\bbf16\b"), ("FP8", r"\bfp8\b"),
    ("FP16", r"\bfp16\b|\bhalf\b"), ("FP32", r"\bfp32\b|\bfloat\b"), ("INT32", r"\bint32\b"),
    ("INT64", r"\bint64\b"), ("BOOL", r"\bbool\b"),
]
FLOAT_PRECISIONS = ("FP32", "FP16", "BF16")


_FUSED_LAYER_TYPES = ("myelin", "kgen", "foreignnode")
_ONNX_LAYER = re.compile(r"\[ONNX Layer: ([^\]]+)\]")
_FOREIGN_NODE = re.compile(r"^\{ForeignNode\[(.*)\]\}$")
_CONV_NODE_NAME = re.compile(r"(^|[/_.])Conv(_\d+)?$")


@dataclass(frozen=True)
class LayerPrecision:
    name: str
    layer_type: str       # TensorRT's kernel kind, e.g. CaskConvolution, Reformat, PointWiseV2, Myelin, kgen
    parameter_type: str   # the layer's role, e.g. Convolution, Pooling, Resize ("" when absent)
    precision: str        # INT8, FP16, FP32, ... or "unknown"
    onnx_nodes: tuple[str, ...] = ()   # the ONNX nodes the layer holds, from its Metadata (TensorRT 10+)

    @property
    def is_fused_subgraph(self) -> bool:
        """A Myelin/kgen layer: a compiled subgraph that may hold convolutions without saying so in its type."""
        return not self.parameter_type and (self.layer_type.lower() in _FUSED_LAYER_TYPES
                                            or bool(_FOREIGN_NODE.match(self.name)))

    @property
    def is_convolution(self) -> bool:
        return not self.is_fused_subgraph and ("convolution" in self.parameter_type.lower()
                                               or "convolution" in self.layer_type.lower())

    def held_convolutions(self, conv_nodes: dict[str, bool] | None) -> list[str]:
        """The convolutions a fused layer holds: its ONNX nodes that are convolutions in the source ONNX, or
        (without it) whose names end in Conv as exporters name them."""
        if not self.is_fused_subgraph:
            return []
        nodes = self.onnx_nodes or _foreign_node_endpoints(self.name)
        if conv_nodes is not None:
            return [node for node in nodes if node in conv_nodes]
        return [node for node in nodes if _CONV_NODE_NAME.search(node)]


def _foreign_node_endpoints(name: str) -> tuple[str, ...]:
    """'{ForeignNode[first...last]}' -> (first, last): all a Myelin layer's name says without its Metadata."""
    match = _FOREIGN_NODE.match(name)
    return tuple(part for part in match.group(1).split("...") if part) if match else ()


def _metadata_nodes(metadata) -> tuple[str, ...]:
    if isinstance(metadata, list):
        metadata = "\n".join(map(str, metadata))
    return tuple(_ONNX_LAYER.findall(metadata)) if isinstance(metadata, str) else ()


_TYPE_FIELDS = ("datatype", "format/datatype", "format")


def tensor_precision(tensor: dict) -> str:
    """The data type of one inspector tensor description, from either TensorRT generation's fields."""
    fields = {str(key).lower(): value for key, value in tensor.items()}
    for key in _TYPE_FIELDS:
        text = fields.get(key)
        if not isinstance(text, str):
            continue
        lowered = text.lower()
        for name, pattern in _TYPE_PATTERNS:
            if re.search(pattern, lowered):
                return name
    return "unknown"


def parse_layers(inspector_json: str | dict) -> list[LayerPrecision] | None:
    """Layers with their precision; None when the engine carries names only (built without DETAILED verbosity)."""
    data = json.loads(inspector_json) if isinstance(inspector_json, str) else inspector_json
    raw_layers = data.get("Layers") if isinstance(data, dict) else None
    if not isinstance(raw_layers, list):
        raise ValueError("engine inspector JSON has no 'Layers' list")
    if raw_layers and not all(isinstance(layer, dict) for layer in raw_layers):
        return None
    layers = []
    for raw in raw_layers:
        inputs = raw.get("Inputs") or []
        outputs = raw.get("Outputs") or []
        first = inputs[0] if inputs else (outputs[0] if outputs else {})
        layers.append(LayerPrecision(name=str(raw.get("Name", "")), layer_type=str(raw.get("LayerType", "")),
                                     parameter_type=str(raw.get("ParameterType", "")),
                                     precision=tensor_precision(first) if isinstance(first, dict) else "unknown",
                                     onnx_nodes=_metadata_nodes(raw.get("Metadata"))))
    return layers


def summarize_layers(layers: list[LayerPrecision] | None, conv_nodes: dict[str, bool] | None = None) -> dict:
    """Counts for the sidecar and the build report. The headline is `int8_convolution_ratio`, the share of
    convolutions reading INT8: 0 means quantization did not take. `conv_nodes` (ONNX Conv node name -> quantized
    by a DequantizeLinear on its input) lets the convolutions inside fused Myelin/kgen layers count: INT8 where
    explicit quantization makes them so, else the fused layer's own precision."""
    if layers is None:
        return {"detail_available": False, "total_layers": None, "by_precision": {}, "convolutions": None,
                "int8_convolutions": None, "int8_convolution_ratio": None, "float_convolutions": [],
                "fused_convolutions": None}
    by_precision = Counter(layer.precision for layer in layers)
    convs = [(layer.name, layer.precision) for layer in layers if layer.is_convolution]
    fused = []
    for layer in layers:
        for node in layer.held_convolutions(conv_nodes):
            quantized = bool(conv_nodes and conv_nodes.get(node))
            fused.append((node, "INT8" if quantized else layer.precision))
    convs += fused
    int8_convs = sum(1 for _, precision in convs if precision == "INT8")
    return {
        "detail_available": True,
        "total_layers": len(layers),
        "by_precision": dict(sorted(by_precision.items())),
        "convolutions": len(convs),
        "int8_convolutions": int8_convs,
        "int8_convolution_ratio": int8_convs / len(convs) if convs else None,
        "float_convolutions": [name for name, precision in convs if precision in FLOAT_PRECISIONS],
        "fused_convolutions": len(fused),
    }


def format_precision_report(summary: dict, precision: str) -> str:
    """A few lines a user reads right after the build: did INT8 take, and where did float remain."""
    if not summary.get("detail_available"):
        return "layer precisions: not available (engine built without ProfilingVerbosity.DETAILED)"
    counts = ", ".join(f"{name} {count}" for name, count in summary["by_precision"].items())
    ratio = summary["int8_convolution_ratio"]
    fused = summary.get("fused_convolutions") or 0
    lines = [f"convolutions in INT8: {summary['int8_convolutions']}/{summary['convolutions']}"
             + (f" ({ratio:.0%})" if ratio is not None else "")
             + (f"; {fused} of them inside fused Myelin layers (precision from their Q/DQ)" if fused else ""),
             f"layer input precisions ({summary['total_layers']} layers): {counts}"]
    if summary["float_convolutions"]:
        shown = summary["float_convolutions"][:8]
        more = len(summary["float_convolutions"]) - len(shown)
        lines.append("convolutions left in float: " + "; ".join(shown) + (f" (+{more} more)" if more > 0 else ""))
    if precision == "int8" and not summary["int8_convolutions"]:
        lines.append("WARNING: no convolution runs in INT8 in this engine: the Q/DQ nodes were not fused (check "
                     "`python -m export.lint`) or the ONNX has none")
    return "\n".join(lines)
