"""Deterministic synthetic detection data in COCO format, so the demo and the tests run on real detection work.

Eight shape classes drawn with random colour, size (log-uniform, so COCO's small/medium/large buckets all fill),
rotation and some overlap, on textured, noisy backgrounds. Boxes are the tight boxes of the visible shape pixels;
`area` is the shape's pixel area, as COCO's segmentation area. Same seed -> byte-identical JPEGs and JSON.
"""
import json
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from common.atomic import write_json_atomic
from common.errors import QYoloError

CLASS_NAMES = ["circle", "square", "triangle", "star", "cross", "ring", "ellipse", "half-disc"]
IMAGE_SHAPES = [(256, 256), (256, 320), (240, 320), (320, 256), (288, 288), (320, 320)]  # (h, w)


@dataclass(frozen=True)
class SyntheticConfig:
    n_images: int
    seed: int = 0
    min_size: float = 12.0
    max_size: float = 190.0
    max_objects: int = 8
    max_overlap_iou: float = 0.25
    jpeg_quality: int = 92

    def __post_init__(self):
        if self.n_images < 1:
            raise ValueError(f"n_images must be >= 1, got {self.n_images}")
        if not 0 < self.min_size < self.max_size:
            raise ValueError(f"need 0 < min_size < max_size, got {self.min_size}, {self.max_size}")
        if self.max_objects < 1:
            raise ValueError(f"max_objects must be >= 1, got {self.max_objects}")


def _polygon(kind: str, size: float, angle: float, aspect: float) -> list[np.ndarray]:
    """Outline(s) of a shape centred at the origin, `size` across; a second outline is a hole."""
    r = size / 2

    def circle(radius: float, n: int = 72, start: float = 0.0, stop: float = 2 * math.pi) -> np.ndarray:
        t = np.linspace(start, stop, n, endpoint=stop - start < 2 * math.pi)
        return np.stack([radius * np.cos(t), radius * np.sin(t)], 1)

    if kind == "circle":
        outlines = [circle(r)]
    elif kind == "square":
        outlines = [np.array([[-r, -r], [r, -r], [r, r], [-r, r]]) * 0.8]
    elif kind == "triangle":
        outlines = [circle(r, 3, -math.pi / 2, 1.5 * math.pi)]
    elif kind == "star":
        t = np.arange(10) * math.pi / 5 - math.pi / 2
        rad = np.where(np.arange(10) % 2 == 0, r, r * 0.45)
        outlines = [np.stack([rad * np.cos(t), rad * np.sin(t)], 1)]
    elif kind == "cross":
        a, b = r, r * 0.33
        outlines = [np.array([[-b, -a], [b, -a], [b, -b], [a, -b], [a, b], [b, b], [b, a], [-b, a], [-b, b],
                              [-a, b], [-a, -b], [-b, -b]])]
    elif kind == "ring":
        outlines = [circle(r), circle(r * 0.55)]
    elif kind == "ellipse":
        outlines = [circle(r) * np.array([1.0, aspect])]
    elif kind == "half-disc":
        outlines = [circle(r, 40, 0, math.pi) - np.array([0, r / 2])]
    else:
        raise ValueError(f"unknown shape {kind!r}")
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    return [o @ rot.T for o in outlines]


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Low-frequency colour field + random lines + Gaussian noise: texture the detector must ignore."""
    low = rng.integers(0, 256, size=(rng.integers(2, 6), rng.integers(2, 6), 3)).astype(np.float32)
    img = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(rng.integers(3, 12)):
        p1 = tuple(int(v) for v in rng.integers(0, [w, h]))
        p2 = tuple(int(v) for v in rng.integers(0, [w, h]))
        color = tuple(float(v) for v in rng.integers(0, 256, 3))
        cv2.line(img, p1, p2, color, int(rng.integers(1, 3)), cv2.LINE_AA)
    img += rng.normal(0, rng.uniform(4, 14), img.shape).astype(np.float32)
    return img


def _contrasting_color(rng: np.random.Generator, local_mean: np.ndarray) -> np.ndarray:
    for _ in range(20):
        color = rng.integers(0, 256, 3).astype(np.float32)
        if np.abs(color - local_mean).max() > 80:
            return color
    return 255.0 - local_mean


def _iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter + 1e-9)


def render_image(rng: np.random.Generator, cfg: SyntheticConfig) -> tuple[np.ndarray, list[dict]]:
    """One image (BGR uint8) and its objects as dicts with category index, bbox (xywh), area."""
    h, w = IMAGE_SHAPES[rng.integers(len(IMAGE_SHAPES))]
    img = _background(rng, h, w)
    objects: list[dict] = []
    masks: list[np.ndarray] = []
    for _ in range(rng.integers(1, cfg.max_objects + 1)):
        kind_idx = int(rng.integers(len(CLASS_NAMES)))
        size = float(math.exp(rng.uniform(math.log(cfg.min_size), math.log(min(cfg.max_size, 0.8 * min(h, w))))))
        outlines = _polygon(CLASS_NAMES[kind_idx], size, rng.uniform(0, 2 * math.pi), rng.uniform(0.4, 0.65))
        centre = rng.uniform([size / 3, size / 3], [w - size / 3, h - size / 3])
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [np.round((outlines[0] + centre) * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
        for hole in outlines[1:]:
            cv2.fillPoly(mask, [np.round((hole + centre) * 16).astype(np.int32)], 0, cv2.LINE_8, shift=4)
        ys, xs = np.nonzero(mask)
        if len(xs) < 12:
            continue
        box = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
        if any(_iou(box, o["bbox"]) > cfg.max_overlap_iou for o in objects):
            continue
        local_mean = img[ys, xs].mean(0)
        color = _contrasting_color(rng, local_mean)
        shade = 1.0 + rng.uniform(-0.15, 0.15) * (xs - xs.mean()) / max(1.0, size)  # soft lighting gradient
        img[ys, xs] = np.clip(color[None] * shade[:, None], 0, 255)
        for prev_mask in masks:  # later shapes occlude earlier ones: keep boxes visible-only
            prev_mask &= (1 - mask).astype(np.uint8)
        objects.append({"category": kind_idx, "bbox": box, "area": float(len(xs))})
        masks.append(mask)
    kept = []
    for obj, mask in zip(objects, masks):
        ys, xs = np.nonzero(mask)
        if len(xs) < 0.5 * obj["area"]:  # mostly hidden: an ignore region (iscrowd) for COCOeval, not a target
            obj["ignore"] = True
        if len(xs):
            obj["bbox"] = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
                           float(ys.max() - ys.min() + 1)]
            obj["area"] = float(len(xs))
        kept.append(obj)
    img = cv2.GaussianBlur(img, (3, 3), 0.6)
    return np.clip(img, 0, 255).astype(np.uint8), kept


def generate_split(out_root: str | Path, split: str, cfg: SyntheticConfig, progress: bool = True) -> tuple[Path, Path]:
    """Write `<out_root>/<split>/*.jpg` and `<out_root>/annotations/instances_<split>.json`; return both paths."""
    out_root = Path(out_root)
    image_dir = out_root / split
    ann_path = out_root / "annotations" / f"instances_{split}.json"
    try:
        image_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise QYoloError(f"cannot create {image_dir}: {exc.strerror}; choose a writable data folder") from None
    rng = np.random.default_rng(cfg.seed)
    images, annotations = [], []
    for i in tqdm(range(cfg.n_images), desc=f"synthetic {split}", disable=not progress, unit="img"):
        img, objects = render_image(rng, cfg)
        name = f"{split}_{i:06d}.jpg"
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality])
        if not ok:  # OpenCV built without a JPEG codec returns False and an empty buffer
            raise QYoloError(f"OpenCV could not encode {name} as JPEG (cv2 {cv2.__version__} without a JPEG codec?); "
                             "install opencv-python-headless from the project's requirements")
        (image_dir / name).write_bytes(buf.tobytes())
        image_id = i + 1
        images.append({"id": image_id, "file_name": name, "height": img.shape[0], "width": img.shape[1]})
        for obj in objects:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": obj["category"] + 1,
                                "bbox": [round(v, 2) for v in obj["bbox"]], "area": obj["area"],
                                "iscrowd": 1 if obj.get("ignore") else 0})
    categories = [{"id": i + 1, "name": n, "supercategory": "shape"} for i, n in enumerate(CLASS_NAMES)]
    write_json_atomic(ann_path, {"info": {"description": f"q-yolo synthetic shapes, seed {cfg.seed}"},
                                 "images": images, "annotations": annotations, "categories": categories})
    return image_dir, ann_path


DEFAULT_ROOT = Path("data/synthetic")
DEFAULT_SPLITS = {"train": SyntheticConfig(n_images=4000, seed=1), "val": SyntheticConfig(n_images=500, seed=2),
                  "calib": SyntheticConfig(n_images=256, seed=3)}


def ensure_split(split: str, root: str | Path = DEFAULT_ROOT, progress: bool = True) -> tuple[Path, Path]:
    """The default synthetic split, generated on first use (deterministic, so regenerating gives the same data)."""
    root = Path(root)
    ann_path = root / "annotations" / f"instances_{split}.json"
    image_dir = root / split
    cfg = DEFAULT_SPLITS[split]
    if ann_path.exists():
        meta = json.loads(ann_path.read_text())
        if len(meta.get("images", [])) == cfg.n_images and all((image_dir / im["file_name"]).exists()
                                                               for im in meta["images"]):
            return image_dir, ann_path
    return generate_split(root, split, cfg, progress)
