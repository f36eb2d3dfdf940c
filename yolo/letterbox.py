"""YOLOv5 val.py preprocessing at a square size: long side resized to imgsz, then letterboxed (pad 114).

`preprocess` is the one entry every backend's input comes from, so all backends see identical pixels.
"""
import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch


@dataclass(frozen=True)
class LetterboxMeta:
    """What maps model-input coordinates back to the original image."""
    original_shape: tuple[int, int]  # (h, w) of the decoded image
    resized_shape: tuple[int, int]  # (h, w) after the long-side resize
    ratio: float  # total scale from original to model input
    pad: tuple[float, float]  # (dw, dh) left/top padding in model-input pixels

    @property
    def ratio_pad(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """scale_boxes' ratio_pad, as val.py passes it (gain from the resized height over the original one)."""
        return (self.ratio, self.ratio), self.pad


def load_resized(img_bgr: np.ndarray, imgsz: int) -> np.ndarray:
    """Resize so the long side equals imgsz, as yolov5's load_image with augment=False (INTER_AREA to shrink).

    Sides are rounded up (math.ceil), as yolov5 v6.2+ does: a 427x640 image at 320 becomes 214x320, not 213x320.
    """
    h0, w0 = img_bgr.shape[:2]
    r = imgsz / max(h0, w0)
    if r != 1:
        interp = cv2.INTER_LINEAR if r > 1 else cv2.INTER_AREA
        img_bgr = cv2.resize(img_bgr, (math.ceil(w0 * r), math.ceil(h0 * r)), interpolation=interp)
    return img_bgr


def letterbox(img: np.ndarray, new_shape: int | tuple[int, int] = 640, color=(114, 114, 114), auto: bool = False,
              scaleup: bool = False, stride: int = 32):
    """Resize-and-pad to new_shape keeping aspect ratio; returns (img, (rw, rh), (dw, dh)) as yolov5."""
    shape = img.shape[:2]
    if isinstance(new_shape, int):
        new_shape = (new_shape, new_shape)
    r = min(new_shape[0] / shape[0], new_shape[1] / shape[1])
    if not scaleup:
        r = min(r, 1.0)
    new_unpad = int(round(shape[1] * r)), int(round(shape[0] * r))
    dw, dh = new_shape[1] - new_unpad[0], new_shape[0] - new_unpad[1]
    if auto:
        dw, dh = np.mod(dw, stride), np.mod(dh, stride)
    dw, dh = dw / 2, dh / 2
    if shape[::-1] != new_unpad:
        img = cv2.resize(img, new_unpad, interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=color)
    return img, (r, r), (dw, dh)


def preprocess(img_bgr: np.ndarray, imgsz: int) -> tuple[np.ndarray, LetterboxMeta]:
    """Original BGR image -> float32 CHW RGB in [0, 1] of shape (3, imgsz, imgsz), plus the mapping back."""
    resized = load_resized(img_bgr, imgsz)
    boxed, (ratio, _), pad = letterbox(resized, imgsz, auto=False, scaleup=False)
    chw = np.ascontiguousarray(boxed[:, :, ::-1].transpose(2, 0, 1), dtype=np.float32) / 255.0
    h0, w0 = img_bgr.shape[:2]
    # val.py's gain is resized height / original height (its shapes[1][0][0]); the letterbox ratio is 1 here
    # except in float edge cases where the ceil overshoots imgsz, and then it must be folded in.
    total = resized.shape[0] / h0 * ratio
    meta = LetterboxMeta((h0, w0), tuple(resized.shape[:2]), total, (float(pad[0]), float(pad[1])))
    return chw, meta


def clip_boxes(boxes: torch.Tensor, shape: tuple[int, int]) -> None:
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clamp(0, shape[1])
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clamp(0, shape[0])


def scale_boxes(img1_shape: tuple[int, int], boxes: torch.Tensor, img0_shape: tuple[int, int],
                ratio_pad=None) -> torch.Tensor:
    """Map xyxy boxes from the model input (img1_shape) back to the original image (img0_shape), clipped."""
    if ratio_pad is None:
        gain = min(img1_shape[0] / img0_shape[0], img1_shape[1] / img0_shape[1])
        pad = (img1_shape[1] - img0_shape[1] * gain) / 2, (img1_shape[0] - img0_shape[0] * gain) / 2
    else:
        gain, pad = ratio_pad[0][0], ratio_pad[1]
    boxes[:, [0, 2]] -= pad[0]
    boxes[:, [1, 3]] -= pad[1]
    boxes[:, :4] /= gain
    clip_boxes(boxes, img0_shape)
    return boxes
