"""Detection datasets in COCO layout (instances JSON + image folder) or YOLO layout (data yaml + labels/), both
exposed with a pycocotools ground truth, plus the seeded calibration image sampler.
"""
import contextlib
import io
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

import yaml
from PIL import Image
from pycocotools.coco import COCO
from tqdm import tqdm

from common.errors import QYoloError
from common.input_file import read_text
from common.log import get_logger
from yolo.classes import match_class_names
from yolo.coco_check import check_coco
from yolo.images import IMAGE_SUFFIXES, list_images

# COCO's 80 detection classes use 80 of the ids 1..90; these ten ids are unused.
_COCO_UNUSED_IDS = {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}
COCO80_TO_COCO91 = [i for i in range(1, 91) if i not in _COCO_UNUSED_IDS]
_EXIF_ORIENTATION = 0x0112


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

    def categories_for(self, model_names: list[str] | None, model_label: str) -> list[int]:
        """The category id of each class of a model with `model_names`: by name where both sides name their
        classes and the orders differ (yolo.classes), else by position."""
        mapping = match_class_names(model_names, self.names, model_label, str(self.source))
        if mapping is None:
            return list(self.class_to_category)
        return [self.class_to_category[j] for j in mapping]


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
    probes = file_names[:20]  # several: one missing image must not hide the folder holding the others
    for folder in candidates:
        if folder.is_dir() and (not probes or any((folder / name).exists() for name in probes)):
            return folder
    raise QYoloError(f"cannot find the images of {ann_path}: looked in {', '.join(map(str, candidates))}; "
                     f"put them in {candidates[0]}")


def _open_coco_json(ann_path: Path) -> DetectionDataset:
    text = read_text(ann_path, "annotation file", "give a COCO instances_*.json")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise QYoloError(f"cannot read annotation file {ann_path}: not valid JSON ({exc}); give a COCO "
                         "instances_*.json") from None
    check_coco(data, ann_path)
    folder = _image_folder_for(ann_path, [im["file_name"] for im in data["images"]])
    images = [_image_record(im, folder) for im in data["images"]]
    categories = sorted(data["categories"], key=lambda c: c["id"])
    data.setdefault("info", {})
    data.setdefault("licenses", [])
    return DetectionDataset(ann_path, images, _quiet_coco(data), [c["id"] for c in categories],
                            [c["name"] for c in categories])


def _image_record(entry: dict, folder: Path) -> ImageRecord:
    """An image entry as a record; a missing width/height is read from the file (and written into the entry)."""
    path = folder / entry["file_name"]
    if "width" not in entry or "height" not in entry:
        size = _image_size(path)
        if size is None:  # unreadable: scoring skips it with a warning, as for any image that does not decode
            size = (0, 0)
        entry["width"], entry["height"] = size
    return ImageRecord(int(entry["id"]), path, int(entry["width"]), int(entry["height"]))


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
    """yolov5's rule: the last 'images' folder in the path becomes 'labels', the suffix becomes .txt."""
    parts = list(image.parts)
    if "images" not in parts:
        return image.with_suffix(".txt")
    parts[len(parts) - 1 - parts[::-1].index("images")] = "labels"
    return Path(*parts).with_suffix(".txt")


def _split_images(entries: str | list[str], root: Path, yaml_path: Path) -> list[Path]:
    """Image paths of a split entry: folders (recursive) and/or .txt lists, like yolov5's data yaml."""
    paths: list[Path] = []
    for entry in [entries] if isinstance(entries, str) else list(entries):
        entry = root / str(entry)
        if entry.suffix == ".txt" and entry.is_file():
            # list lines are relative to the list's folder ('./images/val2017/x.jpg'), or absolute
            lines = [line.strip() for line in read_text(entry, "image list").splitlines() if line.strip()]
            paths += [(entry.parent / line).resolve() for line in lines]
        elif entry.is_dir():
            paths += list_images(entry)
        else:
            raise QYoloError(f"data yaml {yaml_path}: split entry {entry} is neither a folder nor a .txt list")
    return paths


def _image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) as decoded (EXIF rotation applied, as cv2.imread does), or None when unreadable."""
    try:
        with Image.open(path) as im:
            width, height = im.size
            if im.getexif().get(_EXIF_ORIENTATION) in (5, 6, 7, 8):  # rotated by 90 or 270 degrees
                width, height = height, width
    except (OSError, SyntaxError, ValueError):  # PIL raises these for missing, truncated or non-image files
        return None
    return width, height


def _label_boxes(label: Path, num_classes: int) -> list[tuple[int, list[float]]]:
    """(class, normalized x1 y1 x2 y2) per row of a yolov5 label file; polygon rows become their bounding box.
    Repeated rows are dropped with a warning, as yolov5's and ultralytics' dataset checks do."""
    boxes, rows = [], set()
    text = read_text(label, "label file")
    for line_no, row in enumerate(text.splitlines(), start=1):
        values = row.split()
        if not values:
            continue
        try:
            cls_value, coords = float(values[0]), [float(v) for v in values[1:]]
        except ValueError:
            raise QYoloError(f"label file {label} line {line_no} is not numbers: {row!r}; fix or delete it") from None
        if not cls_value.is_integer() or not 0 <= cls_value < num_classes or len(coords) < 4 or len(coords) % 2:
            raise QYoloError(f"label file {label} line {line_no}: expected 'class cx cy w h' with class in "
                             f"0..{num_classes - 1}, got {row!r}")
        if not all(math.isfinite(v) and -0.01 <= v <= 1.01 for v in coords):
            raise QYoloError(f"label file {label} line {line_no}: coordinates {coords[:4]} are not finite numbers "
                             "in [0, 1] (YOLO labels are normalized by the image size); fix or delete the row")
        if tuple(values) in rows:
            continue
        rows.add(tuple(values))
        cls = int(cls_value)
        if len(coords) == 4:
            cx, cy, w, h = coords
            boxes.append((cls, [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]))
        else:  # segmentation polygon x1 y1 x2 y2 ... (yolov5's segments2boxes)
            xs, ys = coords[0::2], coords[1::2]
            boxes.append((cls, [min(xs), min(ys), max(xs), max(ys)]))
    repeated = sum(1 for line in text.splitlines() if line.split()) - len(boxes)
    if repeated:
        get_logger().warning(f"label file {label}: {repeated} repeated row(s) dropped (an object is counted once)")
    return boxes


def _yaml_names(cfg: dict, yaml_path: Path) -> list[str]:
    """The data yaml's class names (a list, or {index: name} with indices 0..n-1), checked against its nc."""
    names = cfg["names"]
    if isinstance(names, dict):
        if sorted(names) != list(range(len(names))):
            raise QYoloError(f"data yaml {yaml_path}: names has keys {sorted(names, key=str)[:8]}, not the class "
                             "indices 0..n-1; number the classes from 0 without gaps")
        names = [names[k] for k in sorted(names)]
    if not isinstance(names, list) or not names or not all(isinstance(n, (str, int)) and not isinstance(n, bool)
                                                           for n in names):
        raise QYoloError(f"data yaml {yaml_path}: names is {str(cfg['names'])[:80]!r}, not a list of class names")
    nc = cfg.get("nc")
    if nc is not None and nc != len(names):
        raise QYoloError(f"data yaml {yaml_path} says nc {nc!r} but lists {len(names)} names; make them agree")
    return [str(n) for n in names]


def _open_yolo_yaml(yaml_path: Path, split: str = "val") -> DetectionDataset:
    try:
        cfg = yaml.safe_load(read_text(yaml_path, "data yaml"))
    except yaml.YAMLError as exc:
        raise QYoloError(f"cannot read data yaml {yaml_path}: {str(exc).splitlines()[0]}; fix the file") from None
    if not isinstance(cfg, dict) or split not in cfg or "names" not in cfg:
        raise QYoloError(f"data yaml {yaml_path} needs '{split}' and 'names' entries (like yolov5's coco.yaml)")
    names = _yaml_names(cfg, yaml_path)
    if not isinstance(cfg[split], (str, list)) or not cfg[split] or (
            isinstance(cfg[split], list) and not all(isinstance(e, str) for e in cfg[split])):
        raise QYoloError(f"data yaml {yaml_path}: '{split}' is {cfg[split]!r}, not a folder, a .txt list or a list "
                         "of them")
    if "path" in cfg and cfg["path"] is not None and not isinstance(cfg["path"], str):
        raise QYoloError(f"data yaml {yaml_path}: path is {cfg['path']!r}, not a folder")
    # yolov5 resolves a relative `path` against its repository root; here it is relative to the yaml's folder.
    root = Path(cfg.get("path") or yaml_path.parent)
    root = root if root.is_absolute() else (yaml_path.parent / root)
    image_paths = _split_images(cfg[split], root, yaml_path)
    if not image_paths:
        raise QYoloError(f"no images found for split '{split}' of {yaml_path} (looked under {root})")
    class_to_category = COCO80_TO_COCO91 if len(names) == 80 else list(range(1, len(names) + 1))
    images, annotations = [], []
    for path in tqdm(image_paths, desc=f"read {yaml_path.name}", unit="img", disable=len(image_paths) < 1000):
        size = _image_size(path)
        if size is None:
            get_logger().warning(f"skipping image {path}: cannot read it (corrupt or not an image)")
            continue
        width, height = size
        image_id = len(images) + 1
        images.append({"id": image_id, "file_name": str(path), "width": width, "height": height})
        label = _yolo_label_path(path)
        for cls, (x1, y1, x2, y2) in _label_boxes(label, len(names)) if label.exists() else []:
            box = [x1 * width, y1 * height, (x2 - x1) * width, (y2 - y1) * height]
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id":
                                class_to_category[cls], "bbox": box, "area": box[2] * box[3], "iscrowd": 0})
    if not images:
        raise QYoloError(f"none of the {len(image_paths)} images of {yaml_path} could be read; check the files")
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
