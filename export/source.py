"""What the exporter starts from: a calibrated artifact (calib.load_calibrated) or an FP32 checkpoint.

Also where the integer-ops pass gets its calibration images (yolo's dataset helpers), loaded lazily so that the
rest of export/ imports without them.
"""
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from torch import nn

from common.errors import QYoloError
from common.log import get_logger
from export.config import ExportConfig


def load_source(cfg: ExportConfig) -> tuple[nn.Module, dict[str, Any]]:
    """(model in eval mode on the CPU, what is known about it: method, scheme, bits, names, calibration data)."""
    path = Path(cfg.artifact if cfg.artifact is not None else cfg.weights)
    if not path.is_file():
        kind = "calibrated artifact" if cfg.artifact is not None else "checkpoint"
        hint = "run `make calibrate` or `python -m calib` first" if cfg.artifact is not None else "check the path"
        raise QYoloError(f"{kind} {path} does not exist; {hint}")
    if cfg.artifact is not None:
        try:
            from calib import load_calibrated
        except ImportError:
            raise QYoloError("this checkout's calib package has no load_calibrated(); update calib/ to read "
                             f"the artifact {path}") from None
        model, meta = load_calibrated(path)
        meta = dict(meta or {})
        meta.setdefault("source", str(path))
        meta["source_kind"] = "artifact"
    else:
        from yolo.checkpoint import load_model

        model = load_model(path, fuse=True)
        meta = {"source": str(path), "source_kind": "weights"}
    return model.eval().float().cpu(), meta


def _calibration_source(cfg: ExportConfig, meta: dict[str, Any]) -> str | None:
    if cfg.calib_data is not None:
        return str(cfg.calib_data)
    for key in ("calib_data", "data", "calibration_data", "images_source"):
        value = meta.get(key)
        if isinstance(value, str) and value:
            return value
    calibration = meta.get("calibration")
    if isinstance(calibration, dict):
        for key in ("data", "source", "images_source"):
            value = calibration.get(key)
            if isinstance(value, str) and value:
                return value
    return None


def calibration_batches(cfg: ExportConfig, meta: dict[str, Any], batch_size: int = 8) -> Iterator[np.ndarray]:
    """Float32 NCHW batches in [0, 1], letterboxed to cfg.imgsz, for the integer-ops ranges."""
    source = _calibration_source(cfg, meta)
    if source is None:
        raise QYoloError("the cpu profile's integer ops need calibration images and the artifact does not say "
                         "which it used: give --calib-data <folder or COCO json>, or --no-integer-ops (exact "
                         "artifact Q/DQ only: fast on OpenVINO, slow on ONNX Runtime)")
    try:
        from yolo.datasets import sample_calibration_images
        from yolo.letterbox import load_resized
    except ImportError:
        raise QYoloError("yolo.datasets / yolo.letterbox are not available in this checkout; they load the "
                         "calibration images for the integer ops") from None
    paths = list(sample_calibration_images(source, cfg.calib_images, cfg.calib_seed))
    if not paths:
        raise QYoloError(f"no calibration images found in {source}")
    if len(paths) < cfg.calib_images:
        get_logger().warning(f"{source} has {len(paths)} images, fewer than the {cfg.calib_images} asked; "
                             f"using them all")
    return _batches(paths, cfg.imgsz, batch_size, load_resized)


def _batches(paths: list, imgsz: int, batch_size: int, load_resized) -> Iterator[np.ndarray]:
    for start in range(0, len(paths), batch_size):
        images = [_as_chw(load_resized(path, imgsz)) for path in paths[start:start + batch_size]]
        yield np.stack(images).astype(np.float32)


def _as_chw(loaded) -> np.ndarray:
    """load_resized returns the letterboxed image (HWC uint8 RGB, or CHW float, maybe with extra info)."""
    image = loaded[0] if isinstance(loaded, tuple) else loaded
    image = image.numpy() if hasattr(image, "numpy") else np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 3 and image.shape[0] != 3:
        image = image.transpose(2, 0, 1)
    image = image.astype(np.float32)
    return image / 255.0 if image.max() > 1.0 else image
