"""Validator preprocessing: long side resized to imgsz, then letterboxed (pad 114) to a square or to a rectangle.

`preprocess` is the one entry every backend's input comes from, so all backends see identical pixels. The square
imgsz x imgsz input is what fixed-shape deployed models take. `rect_batches` gives the per-batch rectangles that
YOLOv5/YOLOv7 val.py and the ultralytics validator score with, so a model's AP can be compared with theirs.
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
    style: str = "area-down"  # the validator whose resize and back-mapping this follows (RESIZE_STYLES)
    border: tuple[int, int] = (0, 0)  # (left, top) padding pixels actually added

    @property
    def ratio_pad(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """scale_boxes' ((gain_y, gain_x), (pad_x, pad_y)) as the validator of `style` passes it: yolov5/v7 val.py
        one gain from the heights and the fractional half padding; ultralytics per-axis gains and the whole
        pixels of padding added (the exact geometry, within half a pixel of val.py's)."""
        if self.style == "linear":
            h0, w0 = self.original_shape
            letterbox_ratio = self.ratio * h0 / self.resized_shape[0]
            gains = (self.resized_shape[0] / h0 * letterbox_ratio, self.resized_shape[1] / w0 * letterbox_ratio)
            return gains, (float(self.border[0]), float(self.border[1]))
        return (self.ratio, self.ratio), self.pad


# How each validator resizes: yolov5/yolov7 load_image (INTER_AREA to shrink, sides rounded up) or the
# ultralytics package's (INTER_LINEAR both ways, sides rounded up but capped at imgsz).
RESIZE_STYLES = ("area-down", "linear")


def load_resized(img_bgr: np.ndarray, imgsz: int, style: str = "area-down") -> np.ndarray:
    """Resize so the long side equals imgsz, as the validator of `style` loads images (augment off).

    Sides are rounded up (math.ceil), as yolov5 v6.2+ does: a 427x640 image at 320 becomes 214x320, not 213x320.
    """
    if style not in RESIZE_STYLES:
        raise ValueError(f"resize style {style!r}: expected one of {RESIZE_STYLES}")
    h0, w0 = img_bgr.shape[:2]
    r = imgsz / max(h0, w0)
    if r != 1:
        w, h = math.ceil(w0 * r), math.ceil(h0 * r)
        if style == "linear":
            w, h, interp = min(w, imgsz), min(h, imgsz), cv2.INTER_LINEAR
        else:
            interp = cv2.INTER_LINEAR if r > 1 else cv2.INTER_AREA
        img_bgr = cv2.resize(img_bgr, (w, h), interpolation=interp)
    return img_bgr


def rect_batches(sizes_hw, imgsz: int, batch: int, stride: int = 32,
                 pad: float = 0.5) -> list[tuple[np.ndarray, tuple[int, int]]]:
    """Validator batches: (image indices, (h, w) input shape) per batch of `batch` images.

    Images are ordered by aspect ratio (h / w, numpy's default argsort as the validators use, so ties fall the same
    way) and each batch gets the smallest shape that holds its images at long side imgsz, plus `pad` strides,
    rounded up to a multiple of `stride`. With val's pad of half a stride a square image at 256 runs at 288 x 288.
    """
    sizes = np.asarray(sizes_hw, dtype=np.float64).reshape(-1, 2)
    aspect = sizes[:, 0] / sizes[:, 1]
    order = aspect.argsort()
    plan = []
    for start in range(0, len(order), batch):
        chunk = aspect[order[start:start + batch]]
        low, high = chunk.min(), chunk.max()
        relative = (high, 1.0) if high < 1 else (1.0, 1 / low) if low > 1 else (1.0, 1.0)
        h, w = (int(np.ceil(side * imgsz / stride + pad)) * stride for side in relative)
        plan.append((order[start:start + batch], (h, w)))
    return plan


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


def preprocess(img_bgr: np.ndarray, imgsz: int, shape: tuple[int, int] | None = None,
               style: str = "area-down") -> tuple[np.ndarray, LetterboxMeta]:
    """Original BGR image -> float32 CHW RGB in [0, 1] of shape (3, imgsz, imgsz), or (3, *shape) for a validator
    rectangle, plus the mapping back. `style`: how the long side is resized (RESIZE_STYLES)."""
    resized = load_resized(img_bgr, imgsz, style)
    boxed, (ratio, _), pad = letterbox(resized, shape or imgsz, auto=False, scaleup=False)
    chw = np.ascontiguousarray(boxed[:, :, ::-1].transpose(2, 0, 1), dtype=np.float32) / 255.0
    h0, w0 = img_bgr.shape[:2]
    # val.py's gain is resized height / original height (its shapes[1][0][0]); the letterbox ratio is 1 here
    # except in float edge cases where the ceil overshoots imgsz, and then it must be folded in.
    total = resized.shape[0] / h0 * ratio
    border = int(round(pad[0] - 0.1)), int(round(pad[1] - 0.1))  # what letterbox put left and on top
    meta = LetterboxMeta((h0, w0), tuple(resized.shape[:2]), total, (float(pad[0]), float(pad[1])), style, border)
    return chw, meta


def clip_boxes(boxes: torch.Tensor, shape: tuple[int, int]) -> None:
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clamp(0, shape[1])
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clamp(0, shape[0])


def scale_boxes(img1_shape: tuple[int, int], boxes: torch.Tensor, img0_shape: tuple[int, int],
                ratio_pad=None, clip: bool = True) -> torch.Tensor:
    """Map xyxy boxes from the model input (img1_shape) back to the original image (img0_shape), clipped to it
    unless `clip` is False."""
    if ratio_pad is None:
        gain = min(img1_shape[0] / img0_shape[0], img1_shape[1] / img0_shape[1])
        pad = (img1_shape[1] - img0_shape[1] * gain) / 2, (img1_shape[0] - img0_shape[0] * gain) / 2
        gain_y = gain_x = gain
    else:
        (gain_y, gain_x), pad = ratio_pad
    boxes[:, [0, 2]] -= pad[0]
    boxes[:, [1, 3]] -= pad[1]
    boxes[:, [0, 2]] /= gain_x
    boxes[:, [1, 3]] /= gain_y
    if clip:
        clip_boxes(boxes, img0_shape)
    return boxes
