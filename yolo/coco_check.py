"""A COCO instances JSON checked before anything is run on it: scoring must never rest on a record it misreads.

pycocotools trusts its input: duplicated annotation ids silently replace each other in its index (AP 0.3 instead of
79.4 on the same images), and a missing `iscrowd`, a string image id or a bbox that is not four numbers ends in a
traceback after the whole inference. Each record is checked here; the first bad one is one line naming it and
what to fix. Two gaps have one correct filling, done with a warning line:
- `iscrowd` absent: 0 (a single object), the meaning every COCO tool gives an absent crowd flag;
- `area` absent: the area of the annotation's segmentation when it has one (what COCO's `area` is), else of its box
  (what YOLO-converted data and ultralytics' validator use). Only APs/APm/APl read it; AP/AP50/AP75 do not.
"""
import math
from pathlib import Path
from typing import Any

from common.errors import QYoloError
from common.log import get_logger


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _records(data: dict, key: str, path: Path) -> list[dict]:
    records = data.get(key)
    if not isinstance(records, list):
        raise QYoloError(f"{path} is not a COCO detection JSON: '{key}' is {type(records).__name__}, not a list; "
                         "give an instances_*.json file")
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise QYoloError(f"{path}: {key}[{index}] is {record!r}, not an object; fix or remove it")
    return records


def _unique_int_ids(records: list[dict], key: str, path: Path) -> dict:
    """{id: index} of the records; a missing, non-integer or repeated id is refused."""
    seen: dict[Any, int] = {}
    for index, record in enumerate(records):
        value = record.get("id")
        if value is None:
            raise QYoloError(f"{path}: {key}[{index}] has no 'id'; give every entry of '{key}' an integer id")
        if not _is_int(value):
            raise QYoloError(f"{path}: {key}[{index}] has id {value!r} ({type(value).__name__}); COCO ids are "
                             f"integers: renumber the {key} (and the references to them)")
        if value in seen:
            raise QYoloError(f"{path}: {key}[{seen[value]}] and {key}[{index}] share id {value}; scoring would keep "
                             f"one of them: give every entry of '{key}' a unique id")
        seen[value] = index
    return seen


def _check_images(images: list[dict], path: Path) -> None:
    if not images:
        raise QYoloError(f"{path} lists no images; the annotation file is empty")
    _unique_int_ids(images, "images", path)
    for index, image in enumerate(images):
        name = image.get("file_name")
        if not isinstance(name, str) or not name.strip():
            found = "no file_name" if name is None else f"file_name {name!r}"
            raise QYoloError(f"{path}: images[{index}] (id {image['id']}) has {found}; every image entry needs an "
                             "id and a file_name")
        for key in ("width", "height"):
            if key in image and (not _is_int(image[key]) or image[key] < 1):
                raise QYoloError(f"{path}: images[{index}] (id {image['id']}) has {key} {image[key]!r}, not a "
                                 f"positive integer; fix it or remove the {key} (it is then read from the file)")


def _check_categories(categories: list[dict], path: Path) -> None:
    if not categories:
        raise QYoloError(f"{path} lists no categories; a detection JSON names the classes it annotates")
    _unique_int_ids(categories, "categories", path)
    for index, category in enumerate(categories):
        if not isinstance(category.get("name"), str) or not category["name"].strip():
            raise QYoloError(f"{path}: categories[{index}] (id {category['id']}) has name "
                             f"{category.get('name')!r}; give every category its class name")


def _check_box(annotation: dict, where: str) -> list[float]:
    box = annotation.get("bbox")
    if not isinstance(box, (list, tuple)) or len(box) != 4 or not all(map(_is_number, box)):
        raise QYoloError(f"{where} has bbox {box!r}, not four finite numbers [x, y, width, height]; fix or remove it")
    if box[2] < 0 or box[3] < 0:
        raise QYoloError(f"{where} has bbox {list(box)} with a negative width or height; COCO boxes are "
                         "[x, y, width, height]: fix or remove it")
    return [float(v) for v in box]


def _segmentation_area(annotation: dict, image: dict) -> float | None:
    """The area of a polygon or RLE segmentation, as COCO computes its `area` (None without a usable one)."""
    segmentation = annotation.get("segmentation")
    if not segmentation or not _is_int(image.get("height")) or not _is_int(image.get("width")):
        return None
    from pycocotools import mask as mask_utils

    try:
        rles = mask_utils.frPyObjects(segmentation, image["height"], image["width"])
        return float(sum(mask_utils.area(rles if isinstance(rles, list) else [rles])))
    except (TypeError, ValueError, KeyError, IndexError, OverflowError):
        return None


def check_coco(data: Any, path: Path) -> dict:
    """`data` (a loaded instances JSON) checked record by record and completed where there is one correct filling
    (see the module docstring); QYoloError naming the first bad record otherwise. Returns `data`."""
    if not isinstance(data, dict):
        raise QYoloError(f"{path} is not a COCO detection JSON (a {type(data).__name__}, not an object); give an "
                         "instances_*.json file")
    missing = [key for key in ("images", "annotations", "categories") if key not in data]
    if missing:
        raise QYoloError(f"{path} is not a COCO detection JSON: missing key(s) {missing}; give an instances_*.json "
                         "file")
    images = _records(data, "images", path)
    categories = _records(data, "categories", path)
    annotations = _records(data, "annotations", path)
    _check_images(images, path)
    _check_categories(categories, path)
    image_by_id = {image["id"]: image for image in images}
    category_ids = {category["id"] for category in categories}
    _unique_int_ids(annotations, "annotations", path)
    filled = {"iscrowd": 0, "area": 0}
    for index, annotation in enumerate(annotations):
        where = f"{path}: annotations[{index}] (id {annotation['id']})"
        image_id = annotation.get("image_id")
        if not _is_int(image_id) or image_id not in image_by_id:
            raise QYoloError(f"{where} refers to image_id {image_id!r}, which no entry of 'images' has; fix the "
                             "annotation or add its image")
        if annotation.get("category_id") not in category_ids or not _is_int(annotation.get("category_id")):
            raise QYoloError(f"{where} has category_id {annotation.get('category_id')!r}, which no entry of "
                             "'categories' has; fix the annotation or add its category")
        box = _check_box(annotation, where)
        if "iscrowd" not in annotation:
            annotation["iscrowd"] = 0
            filled["iscrowd"] += 1
        crowd = annotation["iscrowd"]
        if not isinstance(crowd, int) or crowd not in (0, 1):
            raise QYoloError(f"{where} has iscrowd {crowd!r}; it is 0 (one object) or 1 (a crowd region)")
        if "area" not in annotation:
            area = _segmentation_area(annotation, image_by_id[image_id])
            annotation["area"] = box[2] * box[3] if area is None else area
            filled["area"] += 1
        elif not _is_number(annotation["area"]) or annotation["area"] < 0:
            raise QYoloError(f"{where} has area {annotation['area']!r}, not a finite number >= 0; fix it or remove "
                             "it (it is then computed from the segmentation or the box)")
    _report_filled(annotations, filled, path)
    return data


def _report_filled(annotations: list[dict], filled: dict, path: Path) -> None:
    if filled["iscrowd"]:
        get_logger().warning(f"{path}: {filled['iscrowd']} of {len(annotations)} annotations have no 'iscrowd'; "
                             "scored as single objects (iscrowd 0)")
    if filled["area"]:
        get_logger().warning(f"{path}: {filled['area']} of {len(annotations)} annotations have no 'area'; computed "
                             "from their segmentation, else their box (APs/APm/APl use it; AP, AP50, AP75 do not)")
