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


@dataclass(frozen=True)
class LayerPrecision:
    name: str
    layer_type: str       # TensorRT's kernel kind, e.g. CaskConvolution, Reformat, PointWiseV2
    parameter_type: str   # the layer's role, e.g. Convolution, Pooling, Resize ("" when absent)
    precision: str        # INT8, FP16, FP32, ... or "unknown"

    @property
    def is_convolution(self) -> bool:
        return "convolution" in self.parameter_type.lower() or "convolution" in self.layer_type.lower()


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
                                     precision=tensor_precision(first) if isinstance(first, dict) else "unknown"))
    return layers


def summarize_layers(layers: list[LayerPrecision] | None) -> dict:
    """Counts for the sidecar and the build report. The headline is `int8_convolution_ratio`, the share of
    convolutions reading INT8: 0 means quantization did not take."""
    if layers is None:
        return {"detail_available": False, "total_layers": None, "by_precision": {}, "convolutions": None,
                "int8_convolutions": None, "int8_convolution_ratio": None, "float_convolutions": []}
    by_precision = Counter(layer.precision for layer in layers)
    convs = [layer for layer in layers if layer.is_convolution]
    int8_convs = sum(1 for layer in convs if layer.precision == "INT8")
    return {
        "detail_available": True,
        "total_layers": len(layers),
        "by_precision": dict(sorted(by_precision.items())),
        "convolutions": len(convs),
        "int8_convolutions": int8_convs,
        "int8_convolution_ratio": int8_convs / len(convs) if convs else None,
        "float_convolutions": [layer.name for layer in convs if layer.precision in FLOAT_PRECISIONS],
    }


def format_precision_report(summary: dict, precision: str) -> str:
    """A few lines a user reads right after the build: did INT8 take, and where did float remain."""
    if not summary.get("detail_available"):
        return "layer precisions: not available (engine built without ProfilingVerbosity.DETAILED)"
    counts = ", ".join(f"{name} {count}" for name, count in summary["by_precision"].items())
    ratio = summary["int8_convolution_ratio"]
    lines = [f"convolutions in INT8: {summary['int8_convolutions']}/{summary['convolutions']}"
             + (f" ({ratio:.0%})" if ratio is not None else ""),
             f"layer input precisions ({summary['total_layers']} layers): {counts}"]
    if summary["float_convolutions"]:
        shown = summary["float_convolutions"][:8]
        more = len(summary["float_convolutions"]) - len(shown)
        lines.append("convolutions left in float: " + "; ".join(shown) + (f" (+{more} more)" if more > 0 else ""))
    if precision == "int8" and not summary["int8_convolutions"]:
        lines.append("WARNING: no convolution runs in INT8 in this engine: the Q/DQ nodes were not fused (check "
                     "`python -m export.lint`) or the ONNX has none")
    return "\n".join(lines)
