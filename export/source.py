"""What the exporter starts from: a calibrated artifact (calib.load_calibrated) or an FP32 checkpoint, and the
images the integer-ops pass takes its ranges from (drawn and letterboxed by calib.data, as calibration does)."""
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from torch import nn

from common.errors import QYoloError
from common.log import get_logger


def load_source(artifact: str | Path | None = None, weights: str | Path | None = None
                ) -> tuple[nn.Module, dict[str, Any]]:
    """(model in eval mode on the CPU, what is known about it): the artifact's metadata (method, scheme, bits,
    calibration) for an artifact; only the path for an FP32 checkpoint."""
    if (artifact is None) == (weights is None):
        raise ValueError("give exactly one of artifact (calibrated) or weights (FP32 checkpoint)")
    path = Path(artifact if artifact is not None else weights)
    if not path.is_file():
        kind = "calibrated artifact" if artifact is not None else "checkpoint"
        hint = "run `make calibrate` or `python -m calib` first" if artifact is not None else "check the path"
        raise QYoloError(f"{kind} {path} does not exist; {hint}")
    if artifact is not None:
        from calib import load_calibrated

        model, meta = load_calibrated(path)
        meta = {**meta, "source": str(path), "source_kind": "artifact"}
    else:
        from yolo.checkpoint import load_model

        model = load_model(path, fuse=True)
        meta = {"source": str(path), "source_kind": "weights"}
    return model.eval().float().cpu(), meta


def calibration_batches(meta: dict[str, Any], imgsz: int, num_images: int, seed: int = 0,
                        data: str | Path | None = None, batch_size: int = 8) -> Iterator[np.ndarray]:
    """Float32 NCHW batches in [0, 1], letterboxed to imgsz: `num_images` drawn from `data`, or by default the
    very images the artifact's calibration used (its sidecar's calibration.images, while they still exist)."""
    from calib.data import CalibrationImages, calibration_image_paths

    calibration = meta.get("calibration", {})
    used = [Path(p) for p in calibration.get("images", [])] if data is None else []
    if used and all(p.is_file() for p in used[:4]):
        paths = used[:num_images]
        if len(paths) < num_images:
            get_logger().warning(f"the calibration used {len(paths)} images, fewer than the {num_images} asked; "
                                 f"using them all")
    else:
        source = data if data is not None else calibration.get("data")
        if source is None:
            raise QYoloError("the cpu profile's integer ops need calibration images and the model does not say "
                             "which it was calibrated on: give --calib-data <folder or COCO json>, or "
                             "--no-integer-ops (exact artifact Q/DQ only: fast on OpenVINO, slow on ONNX Runtime)")
        paths = calibration_image_paths(source, num_images, seed)
    return (batch.numpy() for batch in CalibrationImages(paths, imgsz, batch_size))
