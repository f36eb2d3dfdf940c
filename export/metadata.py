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
    from yolo.family import head_layout_of

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


def read_metadata(path: str | Path) -> dict[str, str]:
    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


QUANT_KEYS = ("method", "scheme", "w_bits", "a_bits")


def quantization(meta: dict[str, str]) -> dict[str, Any]:
    """The calibration settings an exported graph records (method, scheme, w_bits, a_bits); {} for a float graph
    or one exported elsewhere. Readers use this instead of parsing file names."""
    if "qyolo.w_bits" not in meta:
        return {}
    found = {key: meta.get(f"qyolo.{key}") for key in QUANT_KEYS}
    return {**found, "w_bits": int(found["w_bits"]), "a_bits": int(found["a_bits"])}
