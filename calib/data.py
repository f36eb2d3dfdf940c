"""Calibration batches: image paths drawn from a folder or dataset, preprocessed exactly as evaluation does.

Images go through `yolo.letterbox.preprocess` (YOLOv5 val.py: long side to imgsz, letterbox, RGB, [0, 1]), the same
function every eval backend's input comes from, so the calibrated ranges describe what the model sees at test time.
"""
import math
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from common.errors import QYoloError
from common.log import get_logger


def calibration_image_paths(source: str | Path, num_images: int, seed: int = 0) -> list[Path]:
    """`num_images` paths drawn with `seed` from an image folder (recursive) or a dataset (COCO JSON, its folder, a
    YOLO data yaml). Fewer available than asked: a warning, and all of them are used. None: QYoloError naming it."""
    from yolo.datasets import sample_calibration_images

    try:
        paths = list(sample_calibration_images(source, num_images, seed))
    except ValueError as exc:
        raise QYoloError(str(exc)) from None
    if not paths:
        raise QYoloError(f"no calibration images in {source}; give a folder of images or a dataset")
    return paths


class CalibrationImages:
    """Iterable of float32 NCHW batches [B, 3, imgsz, imgsz] (RGB in [0, 1]) over `paths`, decoded lazily.

    An image that cannot be decoded is skipped with a warning naming it (the run goes on with the others); `used`
    lists the images that reached the model, `skipped` the others, `load_seconds` the time spent decoding and
    letterboxing (so callers can split calibration time into input loading and model + statistics).
    """

    def __init__(self, paths: list[Path], imgsz: int, batch_size: int):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.paths = [Path(p) for p in paths]
        self.imgsz = imgsz
        self.batch_size = batch_size
        self.used: list[Path] = []
        self.skipped: list[Path] = []
        self.load_seconds = 0.0

    def __len__(self) -> int:
        return math.ceil(len(self.paths) / self.batch_size)

    def __iter__(self) -> Iterator[torch.Tensor]:
        from yolo.images import read_image
        from yolo.letterbox import preprocess

        self.used, self.skipped, self.load_seconds = [], [], 0.0
        log = get_logger()
        for start in range(0, len(self.paths), self.batch_size):
            started = time.perf_counter()
            arrays = []
            for path in self.paths[start:start + self.batch_size]:
                try:
                    arrays.append(preprocess(read_image(path), self.imgsz)[0])
                except QYoloError as exc:
                    log.warning(f"calibration: skipping {exc}")
                    self.skipped.append(path)
                    continue
                self.used.append(path)
            self.load_seconds += time.perf_counter() - started
            if arrays:
                yield torch.from_numpy(np.stack(arrays))
