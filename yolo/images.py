"""Image decoding with errors that name the file."""
import os
from pathlib import Path

import cv2
import numpy as np

from common.errors import QYoloError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def read_image(path: str | Path) -> np.ndarray:
    """BGR uint8 image, or QYoloError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise QYoloError(f"image {path} does not exist; check the dataset folder")
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None and not os.access(path, os.R_OK):
        raise QYoloError(f"cannot read image {path}: permission denied; make it readable (chmod)")
    if img is None:
        raise QYoloError(f"cannot decode image {path}: the file is corrupt or not an image; replace or remove it")
    return img


def list_images(folder: str | Path) -> list[Path]:
    """Image files under `folder` (recursive), sorted for determinism."""
    folder = Path(folder)
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
