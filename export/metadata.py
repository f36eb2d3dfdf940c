"""What an exported ONNX says about itself (metadata_props) and the JSON sidecar written beside it.

metadata_props keys (strings; JSON where marked), read by the engine builder, the eval backends and the lint:
  qyolo.format = "q-yolo-onnx", qyolo.format_version = "1"
  qyolo.profile = trt | cpu | fp32, qyolo.variant = the file stem, qyolo.precision = FP32 | INT8 | INT<b>-emulated
  qyolo.input = "images": float32 [batch, 3, H, W], RGB in [0, 1], letterboxed as YOLOv5 val
  qyolo.outputs (JSON list) = ["pred"]
  qyolo.head_layout = the output's yolo.family.HeadLayout name: anchor-objectness (YOLOv5/v7), anchor-free
      (YOLOv8/11) or end-to-end (YOLOv10/26: detections, no NMS); absent in graphs written before it existed, which
      are anchor-objectness
  qyolo.output_layout (JSON) = shape and field meaning of "pred": [batch, N, 5 + nc] with N = na * sum(h_i * w_i),
      fields cx, cy, w, h (input pixels), objectness, nc class probabilities (anchor-objectness), or [batch, 4 + nc,
      N] with N = sum(h_i * w_i), fields cx, cy, w, h, nc class probabilities (anchor-free); sigmoid applied, no NMS;
      or [batch, max_det, 6], fields x1, y1, x2, y2, score, class index, best first (end-to-end: the head's own
      detections, to be kept above a confidence threshold, not suppressed)
  qyolo.imgsz, qyolo.nc, qyolo.names (JSON), qyolo.strides (JSON), qyolo.dynamic_batch
  qyolo.w_bits, qyolo.a_bits, qyolo.method, qyolo.scheme, qyolo.activation_dtype (int8 | uint8); a graph with
      per-layer widths records its lowest ones there and every width in qyolo.mixed (JSON {"w_bits": [4, 8],
      "a_bits": [4, 8]}), precision MIXED-emulated W4/8A4/8
  qyolo.placement (on | off), qyolo.integer_ops (on | off)
  qyolo.artifact, qyolo.artifact_sha256: the calibrated artifact a quantized graph was exported from (absolute
      path, content hash), read by the deployment fidelity check (eval.fidelity)
"""
import json
from pathlib import Path
from typing import Any

import onnx

FORMAT = "q-yolo-onnx"
FORMAT_VERSION = "1"


def _detect_info(model) -> dict[str, Any]:
    info: dict[str, Any] = {}
    names = getattr(model, "names", None)
    if names:
        info["names"] = list(names)
        info["nc"] = len(names)
    stride = getattr(model, "stride", None)
    if stride is not None:
        info["strides"] = [float(s) for s in stride]
    detect = getattr(model, "detect", None)
    if detect is not None:
        info["na"] = int(getattr(detect, "na", 0))
        info["nc"] = int(getattr(detect, "nc", info.get("nc", 0)))
    return info


def precision_label(profile: str, w_bits: int | None, a_bits: int | None, mixed: dict | None = None) -> str:
    """FP32, INT8, INT<b>-emulated W<w>A<a>, or for per-layer widths MIXED-emulated W4/8A4/8 (the widths used)."""
    if profile == "fp32" or w_bits is None:
        return "FP32"
    if mixed:
        return "MIXED-emulated W{}A{}".format("/".join(map(str, mixed["w_bits"])), "/".join(map(str, mixed["a_bits"])))
    if (w_bits, a_bits) == (8, 8):
        return "INT8"
    return f"INT{min(w_bits, a_bits)}-emulated W{w_bits}A{a_bits}"


def build_metadata(model, profile: str, variant: str, imgsz: int, dynamic_batch: bool, num_preds: int | None,
                   quant: dict[str, Any], placement: bool, integer_ops: bool,
                   extra: dict | None = None) -> dict[str, str]:
    from yolo.registry import head_layout_of

    info = _detect_info(model)
    nc = info.get("nc")
    head = head_layout_of(model)
    layout = {"pred": {
        "shape": head.shape("batch" if dynamic_batch else "B", num_preds if num_preds else "N", nc),
        "fields": head.fields(nc or 0),
        "boxes": "centre x, centre y, width, height in input (letterboxed) pixels",
        "scores": ("objectness and " if head.objectness else "") + "class probabilities, sigmoid applied; no NMS",
        "anchors_per_cell": info.get("na"), "strides": info.get("strides"),
    }}
    if head.end_to_end:
        layout["pred"].update({
            "boxes": "x1, y1, x2, y2 corners in input (letterboxed) pixels",
            "scores": "the row's class probability (sigmoid); the class field is the class index",
            "detections": "the head's own: its top max_det (candidate, class) pairs, best first; no NMS needed, "
                          "keep the rows above a confidence threshold",
            "max_det": num_preds})
    meta = {
        "qyolo.format": FORMAT, "qyolo.format_version": FORMAT_VERSION,
        "qyolo.profile": profile, "qyolo.variant": variant,
        "qyolo.precision": precision_label(profile, quant.get("w_bits"), quant.get("a_bits"), quant.get("mixed")),
        "qyolo.input": "images: float32 [batch, 3, H, W], RGB in [0, 1], letterboxed as YOLOv5 val",
        "qyolo.outputs": json.dumps(["pred"]), "qyolo.output_layout": json.dumps(layout),
        "qyolo.head_layout": head.name,
        "qyolo.imgsz": str(imgsz), "qyolo.dynamic_batch": str(dynamic_batch).lower(),
        "qyolo.placement": "on" if placement else "off", "qyolo.integer_ops": "on" if integer_ops else "off",
    }
    if nc is not None:
        meta["qyolo.nc"] = str(nc)
    if info.get("names"):
        meta["qyolo.names"] = json.dumps(info["names"])
    if info.get("strides"):
        meta["qyolo.strides"] = json.dumps(info["strides"])
    for key in ("w_bits", "a_bits", "method", "scheme", "activation_dtype"):
        if quant.get(key) is not None:
            meta[f"qyolo.{key}"] = str(quant[key])
    if quant.get("mixed"):
        meta["qyolo.mixed"] = json.dumps(quant["mixed"])
    for key, value in (extra or {}).items():
        meta[key if key.startswith("qyolo.") else f"qyolo.{key}"] = value if isinstance(value, str) else \
            json.dumps(value)
    return meta


def set_metadata(model: onnx.ModelProto, meta: dict[str, str]) -> None:
    existing = {p.key: p for p in model.metadata_props}
    for key, value in meta.items():
        if key in existing:
            existing[key].value = value
        else:
            model.metadata_props.add(key=key, value=value)
    model.producer_name = "q-yolo export"


QUANT_KEYS = ("method", "scheme", "w_bits", "a_bits")


def quantization(meta: dict[str, str]) -> dict[str, Any]:
    """The calibration settings an exported graph records (method, scheme, w_bits, a_bits); {} for a float graph
    or one exported elsewhere. Readers use this instead of parsing file names (check_metadata has vetted them)."""
    if "qyolo.w_bits" not in meta:
        return {}
    found = {key: meta.get(f"qyolo.{key}") for key in QUANT_KEYS}
    return {**found, "w_bits": _int_value(found["w_bits"]), "a_bits": _int_value(found["a_bits"])}


def _int_value(text: Any) -> int | None:
    try:
        return int(str(text).strip())
    except ValueError:
        return None


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return _INVALID


_INVALID = object()


def metadata_names(text: str, label: str) -> list[str]:
    """qyolo.names (a JSON list of class names) as a list; a damaged value is one line."""
    from common.errors import QYoloError

    names = _json_value(text)
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise QYoloError(f"{label}: its metadata qyolo.names is {text[:80]!r}, not a JSON list of class names; the "
                         "file was damaged or edited: re-export it (python -m export)")
    return names


def _metadata_problem(meta: dict[str, str]) -> tuple[str, str] | None:
    """(key, what it should be) of the first qyolo.* entry a reader would misread, or None."""
    from yolo.family import HEAD_LAYOUTS

    def positive(key: str, upper: int) -> bool:
        value = _int_value(meta[key])
        return value is not None and 1 <= value <= upper

    checks = {
        "qyolo.imgsz": (lambda k: positive(k, 1 << 16) and int(meta[k]) % 32 == 0, "a multiple of 32"),
        "qyolo.nc": (lambda k: positive(k, 100_000), "a class count"),
        "qyolo.w_bits": (lambda k: positive(k, 16), "a bit width"),
        "qyolo.a_bits": (lambda k: positive(k, 16), "a bit width"),
        "qyolo.head_layout": (lambda k: meta[k] in HEAD_LAYOUTS, f"one of {sorted(HEAD_LAYOUTS)}"),
        "qyolo.dynamic_batch": (lambda k: meta[k] in ("true", "false"), "true or false"),
        "qyolo.names": (lambda k: isinstance(_json_value(meta[k]), list), "a JSON list of class names"),
        "qyolo.strides": (lambda k: isinstance(_json_value(meta[k]), list), "a JSON list of strides"),
        "qyolo.mixed": (lambda k: isinstance(_json_value(meta[k]), dict), "a JSON object of widths"),
        "qyolo.outputs": (lambda k: isinstance(_json_value(meta[k]), list), "a JSON list of output names"),
    }
    for key, (valid, expected) in checks.items():
        if key in meta and not valid(key):
            return key, expected
    if "qyolo.w_bits" in meta and "qyolo.a_bits" not in meta:
        return "qyolo.a_bits", "present beside qyolo.w_bits"
    names = _json_value(meta.get("qyolo.names", "null"))
    if isinstance(names, list) and ("qyolo.nc" in meta and len(names) != int(meta["qyolo.nc"])
                                    or not all(isinstance(n, str) for n in names)):
        return "qyolo.names", f"{meta.get('qyolo.nc', 'nc')} class names (strings)"
    return None


def check_metadata(meta: dict[str, str], path: str | Path) -> dict[str, str]:
    """`meta` (an ONNX's metadata_props) when every qyolo.* value the readers parse is well-formed; else one line
    naming the key. Graphs exported elsewhere carry none of them and pass."""
    from common.errors import QYoloError

    problem = _metadata_problem(meta)
    if problem is not None:
        key, expected = problem
        raise QYoloError(f"{path}: its metadata {key} is {str(meta.get(key))[:80]!r}, not {expected}; the file was "
                         "damaged or edited: re-export it (python -m export), or strip its qyolo.* metadata")
    return meta
