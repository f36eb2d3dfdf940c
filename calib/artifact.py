"""The calibrated artifact: one torch.save'd dict (written atomically) plus a JSON sidecar `<artifact>.json`.

Artifact keys (format_version 1):
    format            "q-yolo-calibrated"
    format_version    1
    yaml, ch, names   the model's own yaml dict, input channels and class names (rebuilds the graph)
    state_dict        the FUSED float weights (Conv+BN folded) and every quantizer's amax/amin buffers
    quant_config      QuantConfig.to_dict(): method, scheme, w_bits, a_bits, skip rules ...
    method, scheme, w_bits, a_bits, imgsz, data   repeated at the top level for readers that only want those
    ranges            {quantizer name: TensorQuantizer.describe()}: bits, grid, amax/amin, scale, zero point
    calibration       images used (paths), images asked, seed, batch size, device, threads
    source            the weights file and its sha256
    timings, versions, created
The sidecar holds everything but the state_dict, as JSON, plus the artifact's sha256: it is derived from the
artifact, checked against it on every load and rewritten from it when stale (common.paired). Only plain
containers, strings, numbers and tensors are stored, and loading goes through common.pt_file's allow-list: an
artifact cannot run code when read.
"""
import datetime
import io
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from calib.config import QuantConfig
from calib.modes import enable_quantization, quantizers
from common.errors import QYoloError
from common.input_file import read_bytes
from common.log import get_logger
from common.paired import verify_sidecar, write_pair
from common.provenance import ARTIFACT_FORMAT, versions
from common.pt_file import read_pt

FORMAT = ARTIFACT_FORMAT
FORMAT_VERSION = 1


def _plain(obj: Any) -> Any:
    """Only builtin containers, str, numbers, bools and None: what the allow-list reader and JSON accept."""
    if isinstance(obj, dict):
        return {str(key): _plain(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(value) for value in obj]
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    if isinstance(obj, bool):
        return bool(obj)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    return str(obj)  # Path, str subclasses (torch's TorchVersion), enums


def _input_channels(model: nn.Module) -> int:
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return int(module.in_channels)
    raise QYoloError("the model has no Conv2d; it is not a detection model this artifact format can hold")


def build_payload(model: nn.Module, quant_config: QuantConfig, meta: dict[str, Any]) -> dict[str, Any]:
    """The artifact dict for a calibrated quantized YOLO `model` (a DetectionModel: it needs `.yaml`, `.names`)."""
    if not isinstance(getattr(model, "yaml", None), dict):
        raise QYoloError("only models built from a YOLO yaml (yolo.model.DetectionModel) can be saved as artifacts")
    named = list(quantizers(model))
    uncalibrated = [name for name, q in named if not q.is_calibrated]
    if not named or uncalibrated:
        raise QYoloError(f"the model is not fully calibrated (uncalibrated: {uncalibrated[:4] or 'no quantizers'}); "
                         "run calibration before saving an artifact")
    config = quant_config.to_dict()
    payload: dict[str, Any] = _plain({
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "method": config["method"], "scheme": config["scheme"], "w_bits": config["w_bits"],
        "a_bits": config["a_bits"], "quant_config": config,
        "yaml": model.yaml, "ch": _input_channels(model), "names": [str(n) for n in model.names],
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": versions("torch", "numpy"),
        **meta,
        "ranges": {name: q.describe() for name, q in named},
    })
    payload["state_dict"] = {key: value.detach().cpu().clone() for key, value in model.state_dict().items()}
    return payload


def save_artifact(path: str | Path, model: nn.Module, quant_config: QuantConfig,
                  meta: dict[str, Any] | None = None) -> Path:
    """Write the artifact atomically, then its sidecar (derived from it); returns the artifact path.

    `meta` adds keys (imgsz, data, calibration, source, timings ...) to both files.
    """
    path = Path(path)
    payload = build_payload(model, quant_config, dict(meta or {}))
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return write_pair(path, buffer.getvalue(), _sidecar_record(payload, path))


def _sidecar_record(payload: dict[str, Any], path: Path) -> dict[str, Any]:
    record = {key: value for key, value in payload.items() if key != "state_dict"}
    record["artifact"] = path.name
    return record


def read_artifact(path: str | Path) -> dict[str, Any]:
    """The artifact dict, checked for format and version (QYoloError with what to do otherwise).

    Its sidecar is checked against it on the way (and rewritten from it when stale).
    """
    path = Path(path)
    data = read_bytes(path, "calibrated artifact", "run `python -m calib` (make calibrate) first")
    payload = read_pt(path, "calibrated artifact", data=data,
                      remedy="the file is not an artifact of this project: re-run calibration (python -m calib)")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise QYoloError(f"{path} is not a calibrated artifact (format {found!r}, expected {FORMAT!r}); give the .pt "
                         "written by `python -m calib`, or an FP32 checkpoint to the stage that takes one")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise QYoloError(f"calibrated artifact {path} has format_version {version!r}, this code reads version "
                         f"{FORMAT_VERSION}; re-run calibration (python -m calib) to rebuild it")
    missing = [key for key in ("yaml", "state_dict", "quant_config") if key not in payload]
    if missing:
        raise QYoloError(f"calibrated artifact {path} lacks {missing}; it is damaged: re-run calibration")
    state = payload["state_dict"]
    channels = payload.get("ch", 3)
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise QYoloError(f"calibrated artifact {path}: its state_dict is not a mapping of names to tensors; it is "
                         "damaged: re-run calibration")
    if not isinstance(channels, int) or isinstance(channels, bool) or not 1 <= channels <= 16:
        raise QYoloError(f"calibrated artifact {path}: ch is {channels!r}, not an input channel count; it is "
                         "damaged: re-run calibration")
    verify_sidecar(path, data, lambda: _sidecar_record(payload, path))
    return payload


def load_calibrated(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """(model, meta): the fused YOLO model with its quantizers restored, in eval and quantization mode, on `device`.

    The model computes exactly what the calibrated model computed when the artifact was written (same fused float
    weights, same ranges). `meta` is the artifact dict without the state_dict (method, bits, ranges, images ...).
    """
    from calib.replace import quantize_model
    from yolo.checkpoint import class_names_of, load_weights
    from yolo.registry import build_model, fuse_model

    path = Path(path)
    payload = read_artifact(path)
    try:
        quant_config = QuantConfig.from_dict(payload["quant_config"])
    except (TypeError, ValueError) as exc:
        raise QYoloError(f"calibrated artifact {path} holds an invalid quant_config ({exc}); re-run calibration") \
            from None
    names = class_names_of(payload.get("names"), f"calibrated artifact {path}")
    model = build_model(payload["yaml"], ch=payload.get("ch", 3), names=names)
    fuse_model(model)
    log = get_logger()
    level = log.level
    log.setLevel(max(level, logging.WARNING))  # the replacement summary was logged when the artifact was made
    try:
        quantize_model(model, quant_config)
    except ValueError as exc:  # a per-layer width naming a layer this model does not quantize
        raise QYoloError(f"calibrated artifact {path}: {exc}; it is damaged or was edited: re-run calibration") \
            from None
    finally:
        log.setLevel(level)
    load_weights(model, payload["state_dict"], f"calibrated artifact {path}",
                 "it is damaged or was edited: re-run calibration (python -m calib)")
    enable_quantization(model)
    model = model.float().eval().to(device)
    meta = {key: value for key, value in payload.items() if key != "state_dict"}
    meta["path"] = str(path)
    return model, meta
