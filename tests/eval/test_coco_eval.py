"""COCO scoring of hand-made cases with known AP."""
import pytest

from eval.coco_eval import detections_to_coco, score_detections
from yolo.datasets import _quiet_coco


def _gt(boxes_per_image):
    images, anns = [], []
    for image_id, boxes in enumerate(boxes_per_image, start=1):
        images.append({"id": image_id, "file_name": f"{image_id}.jpg", "width": 640, "height": 640})
        for box in boxes:
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": 1, "bbox": box,
                         "area": box[2] * box[3], "iscrowd": 0})
    return _quiet_coco({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "thing"}]})


def test_perfect_detections_score_one():
    gt = _gt([[[10, 10, 200, 200]], [[50, 60, 150, 150]]])  # both 'large' (area > 96^2)
    results = [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 200, 200], "score": 0.9},
               {"image_id": 2, "category_id": 1, "bbox": [50, 60, 150, 150], "score": 0.8}]
    m = score_detections(gt, results)
    assert m["AP"] == pytest.approx(1.0) and m["AP50"] == pytest.approx(1.0) and m["APl"] == pytest.approx(1.0)
    assert m["APs"] == -1.0  # no small objects: COCO reports -1


def test_one_of_two_found_gives_known_ap():
    # recall reaches 0.5 at precision 1 and never more: 101-point interpolation gives 51/101 at every IoU.
    gt = _gt([[[10, 10, 200, 200]], [[50, 60, 150, 150]]])
    results = [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 200, 200], "score": 0.9}]
    m = score_detections(gt, results)
    assert m["AP"] == pytest.approx(51 / 101) and m["AP50"] == pytest.approx(51 / 101)


def test_iou_between_thresholds():
    # a box shifted so that IoU = 0.6: counts for IoU thresholds 0.50, 0.55, 0.60 -> 3 of 10 -> AP = 0.3
    gt = _gt([[[0, 0, 200, 100]]])
    shift = 50  # overlap 150 x 100 over union 250 x 100 = 0.6
    results = [{"image_id": 1, "category_id": 1, "bbox": [shift, 0, 200, 100], "score": 0.9}]
    m = score_detections(gt, results)
    assert m["AP50"] == pytest.approx(1.0) and m["AP75"] == pytest.approx(0.0)
    assert m["AP"] == pytest.approx(0.3)


def test_no_detections_is_zero_not_a_crash():
    gt = _gt([[[10, 10, 20, 20]]])
    assert score_detections(gt, [])["AP"] == 0.0


def test_detections_to_coco_maps_categories_and_boxes():
    import numpy as np
    det = np.array([[10.0, 20.0, 110.0, 70.0, 0.123456789, 2.0]])
    (r,) = detections_to_coco(7, det, [1, 5, 90])
    assert r == {"image_id": 7, "category_id": 90, "bbox": [10.0, 20.0, 100.0, 50.0], "score": 0.12346}
