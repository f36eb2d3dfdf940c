"""Detection datasets in COCO layout (instances JSON + image folder) or YOLO layout (data yaml + labels/), both
exposed with a pycocotools ground truth, plus the seeded calibration image sampler.
"""
import contextlib
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path

import yaml
from PIL import Image
from pycocotools.coco import COCO

from common.errors import QYoloError
from common.log import get_logger
from yolo.images import IMAGE_SUFFIXES, list_images

# COCO's 80 detection classes use 80 of the ids 1..90; these ten ids are unused.
_COCO_UNUSED_IDS = {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}
COCO80_TO_COCO91 = [i for i in range(1, 91) if i not in _COCO_UNUSED_IDS]


@dataclass(frozen=True)
class ImageRecord:
    id: int
    path: Path
    width: int
    height: int


@dataclass
class DetectionDataset:
    source: Path
    images: list[ImageRecord]
    coco: COCO
    class_to_category: list[int]  # model class index -> COCO category id
    names: list[str]

    def __len__(self) -> int:
        return len(self.images)


def _quiet_coco(dataset: dict) -> COCO:
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _image_folder_for(ann_path: Path, file_names: list[str]) -> Path:
    """Where the JSON's images live: <root>/<split>, <root>/images/<split>, <root>/images or beside the JSON."""
    split = ann_path.stem.split("_", 1)[-1]
    root = ann_path.parent.parent if ann_path.parent.name == "annotations" else ann_path.parent
    candidates = [root / split, root / "images" / split, root / "images", ann_path.parent]
    probe = file_names[0] if file_names else None
    for folder in candidates:
        if folder.is_dir() and (probe is None or (folder / probe).exists()):
            return folder
    raise QYoloError(f"cannot find the images of {ann_path}: looked in {', '.join(map(str, candidates))}; "
                     f"put them in {candidates[0]}")


def _open_coco_json(ann_path: Path) -> DetectionDataset:
    try:
        data = json.loads(ann_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise QYoloError(f"cannot read annotation file {ann_path}: {exc}; give a COCO instances_*.json") from None
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(data, dict) or k not in data]
    if missing:
        raise QYoloError(f"{ann_path} is not a COCO detection JSON: missing key(s) {missing}; "
                         "give an instances_*.json file")
    if not data["images"]:
        raise QYoloError(f"{ann_path} lists no images; the annotation file is empty")
    folder = _image_folder_for(ann_path, [im["file_name"] for im in data["images"]])
    images = [ImageRecord(int(im["id"]), folder / im["file_name"], int(im["width"]), int(im["height"]))
              for im in data["images"]]
    categories = sorted(data["categories"], key=lambda c: c["id"])
    data.setdefault("info", {})
    data.setdefault("licenses", [])
    return DetectionDataset(ann_path, images, _quiet_coco(data), [c["id"] for c in categories],
                            [c["name"] for c in categories])


def _find_annotation(folder: Path) -> Path:
    found = sorted((folder / "annotations").glob("instances_*.json")) + sorted(folder.glob("instances_*.json"))
    if not found:
        raise QYoloError(f"no annotations/instances_*.json under {folder}; give the JSON path or a data yaml")
    val = [p for p in found if "val" in p.stem]
    if len(found) > 1 and len(val) != 1:
        raise QYoloError(f"several annotation files under {folder} ({', '.join(p.name for p in found)}); "
                         "pass the one to use")
    return val[0] if len(found) > 1 else found[0]


def _yolo_label_path(image: Path) -> Path:
    parts = list(image.parts)
    idx = len(parts) - 1 - parts[::-1].index("images") if "images" in parts else None
    if idx is None:
        return image.with_suffix(".txt")
    parts[idx] = "labels"
    return Path(*parts).with_suffix(".txt")


def _open_yolo_yaml(yaml_path: Path, split: str = "val") -> DetectionDataset:
    try:
        cfg = yaml.safe_load(yaml_path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise QYoloError(f"cannot read data yaml {yaml_path}: {exc}") from None
    if not isinstance(cfg, dict) or split not in cfg or "names" not in cfg:
        raise QYoloError(f"data yaml {yaml_path} needs '{split}' and 'names' entries (like yolov5's coco.yaml)")
    names = cfg["names"]
    names = [names[k] for k in sorted(names)] if isinstance(names, dict) else list(names)
    root = Path(cfg.get("path", yaml_path.parent))
    root = root if root.is_absolute() else (yaml_path.parent / root)
    entry = root / cfg[split]
    if entry.suffix == ".txt":
        image_paths = [(root / line.strip()).resolve() for line in entry.read_text().splitlines() if line.strip()]
    else:
        image_paths = list_images(entry) if entry.is_dir() else []
    if not image_paths:
        raise QYoloError(f"no images found for split '{split}' of {yaml_path} (looked at {entry})")
    class_to_category = COCO80_TO_COCO91 if len(names) == 80 else list(range(1, len(names) + 1))
    images, annotations = [], []
    for image_id, path in enumerate(image_paths, start=1):
        with Image.open(path) as im:
            width, height = im.size
        images.append({"id": image_id, "file_name": str(path), "width": width, "height": height})
        label = _yolo_label_path(path)
        rows = label.read_text().split("\n") if label.exists() else []
        for row in filter(None, (r.split() for r in rows)):
            cls, cx, cy, w, h = int(row[0]), *map(float, row[1:5])
            box = [(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height]
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id":
                                class_to_category[cls], "bbox": box, "area": box[2] * box[3], "iscrowd": 0})
    categories = [{"id": c, "name": n} for c, n in zip(class_to_category, names)]
    coco = _quiet_coco({"images": images, "annotations": annotations, "categories": categories})
    records = [ImageRecord(im["id"], Path(im["file_name"]), im["width"], im["height"]) for im in images]
    return DetectionDataset(yaml_path, records, coco, class_to_category, names)


def open_dataset(path: str | Path) -> DetectionDataset:
    """A COCO instances JSON, a folder holding annotations/instances_*.json, or a YOLO data yaml."""
    path = Path(path)
    if not path.exists():
        raise QYoloError(f"dataset {path} does not exist; give a COCO instances JSON, its folder, or a data yaml")
    if path.is_dir():
        return _open_coco_json(_find_annotation(path))
    if path.suffix in (".yaml", ".yml"):
        return _open_yolo_yaml(path)
    if path.suffix == ".json":
        return _open_coco_json(path)
    raise QYoloError(f"dataset {path} is neither a .json, a .yaml nor a folder")


def sample_calibration_images(source: str | Path, n: int, seed: int = 0) -> list[Path]:
    """N image paths drawn with a fixed seed from a folder (recursive) or a dataset (JSON/yaml/COCO folder)."""
    source = Path(source)
    if n < 1:
        raise ValueError(f"number of calibration images must be >= 1, got {n}")
    if source.is_dir() and not (source / "annotations").is_dir():
        pool = list_images(source)
    elif source.exists():
        pool = sorted(r.path for r in open_dataset(source).images)
    else:
        raise QYoloError(f"calibration source {source} does not exist; give an image folder or a dataset")
    if not pool:
        raise QYoloError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {source}; give a folder of images")
    if len(pool) < n:
        get_logger().warning(f"{source} has {len(pool)} images, fewer than the {n} asked; using all of them")
        return pool
    return sorted(random.Random(seed).sample(pool, n))
