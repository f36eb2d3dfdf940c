"""COCO annotation files are checked record by record: refused with the first bad record named, or completed where
there is one correct filling (scored exactly as the complete file would be)."""
import copy
import json
import math

import pytest

from common.errors import QYoloError
from eval.coco_eval import score_detections
from yolo.coco_check import check_coco
from yolo.datasets import _quiet_coco


def _data():
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 64, "height": 64} for i in (1, 2)]
    anns = [{"id": 10, "image_id": 1, "category_id": 3, "bbox": [8, 8, 20, 20], "area": 400, "iscrowd": 0},
            {"id": 11, "image_id": 2, "category_id": 3, "bbox": [30, 30, 10, 16], "area": 160, "iscrowd": 0,
             "segmentation": [[30, 30, 40, 30, 30, 46]]},
            {"id": 12, "image_id": 2, "category_id": 7, "bbox": [2, 2, 50, 8], "area": 400, "iscrowd": 0}]
    return {"images": images, "annotations": anns, "categories": [{"id": 3, "name": "square"},
                                                                   {"id": 7, "name": "other"}]}


def _set(path, value):
    def edit(data):
        *keys, last = path
        target = data
        for key in keys:
            target = target[key]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
    return edit


_DELETE = object()
REFUSED = [
    ("duplicate annotation id", _set(["annotations", 1, "id"], 10),
     r"annotations\[0\] and annotations\[1\] share id 10"),
    ("duplicate image id", _set(["images", 1, "id"], 1), r"images\[0\] and images\[1\] share id 1"),
    ("string image id", _set(["images", 0, "id"], "1"), r"images\[0\] has id '1' \(str\); COCO ids are integers"),
    ("image without id", _set(["images", 0, "id"], _DELETE), r"images\[0\] has no 'id'"),
    ("category without id", _set(["categories", 1, "id"], _DELETE), r"categories\[1\] has no 'id'"),
    ("category without name", _set(["categories", 0, "name"], _DELETE), r"categories\[0\] \(id 3\) has name None"),
    ("annotation without image_id", _set(["annotations", 2, "image_id"], _DELETE),
     r"annotations\[2\] \(id 12\) refers to image_id None"),
    ("annotation of an unknown image", _set(["annotations", 0, "image_id"], 99), r"refers to image_id 99"),
    ("annotation of an unknown category", _set(["annotations", 0, "category_id"], 5), r"has category_id 5"),
    ("bbox with NaN", _set(["annotations", 1, "bbox"], [1, float("nan"), 2, 3]), r"annotations\[1\] .*bbox \[1, nan"),
    ("bbox with Infinity", _set(["annotations", 1, "bbox", 2], float("inf")), r"not four finite numbers"),
    ("bbox of three numbers", _set(["annotations", 0, "bbox"], [1, 2, 3]), r"not four finite numbers"),
    ("bbox of strings", _set(["annotations", 0, "bbox"], ["1", "2", "3", "4"]), r"not four finite numbers"),
    ("negative box width", _set(["annotations", 0, "bbox", 2], -5), r"negative width or height"),
    ("iscrowd 2", _set(["annotations", 0, "iscrowd"], 2), r"has iscrowd 2"),
    ("iscrowd text", _set(["annotations", 0, "iscrowd"], "no"), r"has iscrowd 'no'"),
    ("negative area", _set(["annotations", 0, "area"], -1), r"has area -1"),
    ("NaN area", _set(["annotations", 0, "area"], float("nan")), r"has area nan"),
    ("annotations not a list", _set(["annotations"], {"a": 1}), r"'annotations' is dict, not a list"),
    ("annotation not an object", _set(["annotations", 1], 7), r"annotations\[1\] is 7, not an object"),
    ("no categories", _set(["categories"], []), r"lists no categories"),
    ("zero image width", _set(["images", 0, "width"], 0), r"has width 0"),
]


@pytest.mark.parametrize("name,edit,message", REFUSED, ids=[case[0] for case in REFUSED])
def test_bad_records_are_refused_naming_the_first_one(tmp_path, name, edit, message):
    data = _data()
    edit(data)
    path = tmp_path / "instances_val.json"
    path.write_text(json.dumps(data))  # through JSON as a user's file is (NaN and Infinity included)
    with pytest.raises(QYoloError, match=message) as info:
        check_coco(json.loads(path.read_text()), path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def _perfect(data):
    return [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.9}
            for a in data["annotations"]]


def _ap(data):
    complete = check_coco(copy.deepcopy(data), "x.json")
    gt = _quiet_coco(complete)
    return score_detections(gt, _perfect(data), [1, 2])


def test_missing_iscrowd_is_scored_as_single_objects():
    """Known answer: the same AP (every bucket) as the file with iscrowd 0 written out."""
    data = _data()
    stripped = copy.deepcopy(data)
    for annotation in stripped["annotations"]:
        del annotation["iscrowd"]
    assert _ap(stripped) == _ap(data)
    assert _ap(data)["AP"] == pytest.approx(1.0)


def test_missing_area_comes_from_the_segmentation_else_the_box():
    data = _data()
    for annotation in data["annotations"]:
        del annotation["area"]
    checked = check_coco(data, "x.json")
    areas = [a["area"] for a in checked["annotations"]]
    assert areas[0] == 20 * 20 and areas[2] == 50 * 8  # no segmentation: the box
    assert 70 <= areas[1] <= 90  # a right triangle of legs 10 and 16 (80 px), rasterised as COCO does


def test_duplicated_ids_would_have_scored_wrong():
    """Why duplicates are refused, not scored: pycocotools keeps one annotation per id, so perfect detections of
    the two objects score below 1 (the silent wrong AP this check prevents)."""
    data = _data()
    data["annotations"][2]["id"] = 11
    scored = score_detections(_quiet_coco(copy.deepcopy(data)), _perfect(data), [1, 2])
    assert not math.isclose(scored["AP"], 1.0)
    with pytest.raises(QYoloError, match="share id 11"):
        check_coco(data, "x.json")
