"""What the exporter starts from: a calibrated artifact (calib.load_calibrated) or an FP32 checkpoint.

Also where the integer-ops pass gets its calibration images (yolo's dataset helpers), loaded lazily so that the
rest of export/ imports without them.
"""
import random
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
    if path.is_dir():
        raise QYoloError(f"{'--artifact' if cfg.artifact is not None else '--weights'} {path} is a folder; give the "
                         ".pt file")
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
    used = _images_the_calibration_used(meta) if cfg.calib_data is None else []
    if not used and cfg.calib_data is None and not Path(source).exists():
        raise QYoloError(f"the cpu profile's integer ops re-read the artifact's calibration images, but neither "
                         f"they nor {source} are found from {Path.cwd()}; give --calib-data <image folder or "
                         "dataset>, or --no-integer-ops (exact artifact Q/DQ only: fast on OpenVINO, slow on ONNX "
                         "Runtime)")
    paths = used[:cfg.calib_images] if used else _image_paths(source, cfg.calib_images, cfg.calib_seed)
    if not paths:
        raise QYoloError(f"no calibration images found in {source}; give --calib-data <image folder>")
    if len(paths) < cfg.calib_images:
        get_logger().warning(f"{source} has {len(paths)} images, fewer than the {cfg.calib_images} asked; "
                             f"using them all")
    return _batches(paths, cfg.imgsz, batch_size)


def _images_the_calibration_used(meta: dict[str, Any]) -> list[Path]:
    """The image paths the artifact's sidecar lists under calibration.images, when they are still there."""
    calibration = meta.get("calibration")
    images = calibration.get("images") if isinstance(calibration, dict) else None
    if not isinstance(images, list) or not images:
        return []
    paths = [Path(p) for p in images if isinstance(p, str)]
    return paths if paths and all(p.is_file() for p in paths[:4]) else []


def _image_paths(source: str, n: int, seed: int) -> list:
    """`n` images of `source` (a folder; or whatever yolo.datasets.sample_calibration_images accepts)."""
    try:
        from yolo.datasets import sample_calibration_images
    except ImportError:
        sample_calibration_images = None
    if sample_calibration_images is not None:
        return list(sample_calibration_images(source, n, seed))
    from yolo.images import list_images

    folder = Path(source)
    if not folder.is_dir():
        raise QYoloError(f"calibration data {folder} is not an image folder; give --calib-data <image folder>")
    paths = list_images(folder)
    return sorted(random.Random(seed).sample(paths, n)) if len(paths) > n else paths


def _batches(paths: list, imgsz: int, batch_size: int) -> Iterator[np.ndarray]:
    from yolo.images import read_image
    from yolo.letterbox import preprocess

    for start in range(0, len(paths), batch_size):
        yield np.stack([preprocess(read_image(path), imgsz)[0] for path in paths[start:start + batch_size]])
