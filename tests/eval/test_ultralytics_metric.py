"""eval.ultralytics_metric: `yolo val`'s AP on hand-computed cases (matching per threshold, interpolation, classes)."""
import numpy as np
import pytest
from pycocotools.coco import COCO

from eval.ultralytics_metric import IOU_THRESHOLDS, ap_per_class, average_precision, match_detections, ultralytics_ap


def test_perfect_curve_is_0_995_not_1():
    # recall 1 at precision 1, then precision drops to 0 at recall 1: the last trapezoid (0.99..1.0) is half
    assert average_precision(np.array([1.0]), np.array([1.0])) == pytest.approx(0.995)
    # half the ground truth found, all detections right: 0.49 + half of the 0.50 step
    assert average_precision(np.array([0.5]), np.array([1.0])) == pytest.approx(0.495)
    # the envelope: a later, higher precision lifts the earlier part of the curve
    assert average_precision(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])) == pytest.approx(
        0.5 * 1.0 + 0.5 * (2 / 3) - 0.005 * (2 / 3) - (1.0 - 2 / 3) * 0.005, abs=1e-9)


def test_each_threshold_keeps_its_own_claims():
    gt = np.array([[0, 0, 10, 10]], float)
    # a: IoU 0.62 with the ground truth, more confident; b: IoU 0.88, less confident
    dets = np.array([[0, 0, 6.2, 10], [0, 0, 8.8, 10]], float)
    correct = match_detections(gt, np.array([1]), dets, np.array([1, 1]))
    a_hits = IOU_THRESHOLDS < 0.62
    b_hits = (IOU_THRESHOLDS > 0.62) & (IOU_THRESHOLDS < 0.88)
    assert (correct[0] == a_hits).all()  # 0.50, 0.55, 0.60
    assert (correct[1] == b_hits).all()  # 0.65 .. 0.85: the box a could not claim there is still free
    # another class never matches
    assert not match_detections(gt, np.array([1]), dets, np.array([2, 2])).any()


def test_best_unclaimed_box_goes_to_the_most_confident_detection():
    gt = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], float)
    dets = np.array([[0, 0, 10, 10], [0, 0, 10, 9.5], [20, 0, 30, 10]], float)  # a duplicate of the first box
    correct = match_detections(gt, np.array([1, 1]), dets, np.array([1, 1, 1]))
    assert correct[0].all() and not correct[1].any() and correct[2].all()


def test_ap_averages_over_classes_that_have_ground_truth():
    # class 1: one box, found (0.995); class 2: one box, missed (0); class 3: detections but no ground truth (ignored)
    correct = np.array([[True] * 10, [False] * 10])
    ap = ap_per_class(correct, np.array([0.9, 0.8]), np.array([1, 3]), np.array([1, 2]))
    assert ap.shape == (2, 10) and ap[0] == pytest.approx(0.995) and (ap[1] == 0).all()


def _coco(anns, images=(1, 2)):
    coco = COCO()
    coco.dataset = {"images": [{"id": i, "width": 100, "height": 100} for i in images],
                    "annotations": [dict(a, id=k + 1, area=a["bbox"][2] * a["bbox"][3]) for k, a in enumerate(anns)],
                    "categories": [{"id": 1}, {"id": 2}]}
    coco.createIndex()
    return coco


def test_crowd_boxes_are_not_ground_truth_and_boxes_are_not_clipped():
    gt = _coco([{"image_id": 1, "category_id": 1, "bbox": [90, 10, 20, 20], "iscrowd": 0},
                {"image_id": 2, "category_id": 1, "bbox": [10, 10, 20, 20], "iscrowd": 1}])
    # image 1's box reaches past the border (x to 110) and so does the detection: unclipped, they match exactly
    dets = {1: np.array([[90, 10, 110, 30, 0.9, 1]]), 2: np.array([[10, 10, 30, 30, 0.8, 1]])}
    # the crowd box is no ground truth, so the image-2 detection is a false positive after the hit: AP 0.995
    assert ultralytics_ap(gt, dets, [1, 2]) == pytest.approx({"AP": 0.995, "AP50": 0.995, "AP75": 0.995})
    # scored on image 2 alone there is no ground truth at all
    assert ultralytics_ap(gt, dets, [2]) == {"AP": 0.0, "AP50": 0.0, "AP75": 0.0}
