"""AP as the ultralytics package's validator (`yolo val`, 8.4) computes it, for comparing with the numbers it prints.

It scores the same detections differently from pycocotools (what `python -m eval` reports):
- matching: each detection, in descending confidence, takes the unclaimed ground-truth box of its class with the
  highest IoU, per IoU threshold (0.50:0.05:0.95); crowd boxes are not ground truth (YOLO labels cannot mark them);
- boxes are matched as the model predicted them, not clipped to the image;
- per class, precision is made monotone, sampled at 101 recall points by linear interpolation (precision falls to 0
  right after the last recall reached) and integrated with the trapezoid rule; AP is the mean over the classes that
  have ground truth and over the thresholds.
"""
import numpy as np
import torch
from pycocotools.coco import COCO

from yolo.nms import box_iou

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
_RECALL_POINTS = np.linspace(0.0, 1.0, 101)
_EPS = 1e-16


def match_detections(gt_boxes: np.ndarray, gt_classes: np.ndarray, det_boxes: np.ndarray,
                     det_classes: np.ndarray) -> np.ndarray:
    """[n_det, 10] bool: detection i (given in descending confidence) is a true positive at threshold t."""
    correct = np.zeros((len(det_boxes), len(IOU_THRESHOLDS)), bool)
    if not len(gt_boxes) or not len(det_boxes):
        return correct
    iou = box_iou(torch.from_numpy(gt_boxes), torch.from_numpy(det_boxes), eps=1e-7).numpy()  # the validator's eps
    iou = iou * (gt_classes[:, None] == det_classes[None, :])
    claimed = np.zeros((len(gt_boxes), len(IOU_THRESHOLDS)), bool)
    columns = np.arange(len(IOU_THRESHOLDS))
    for j in np.flatnonzero((iou >= IOU_THRESHOLDS[0]).any(0)):
        available = np.where(claimed, 0.0, iou[:, j, None])  # each threshold keeps its own claims
        best = available.argmax(0)
        correct[j] = available[best, columns] >= IOU_THRESHOLDS
        claimed[best, columns] |= correct[j]
    return correct


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under one precision-recall curve: monotone envelope, 101-point linear interpolation, trapezoid rule."""
    last = recall[-1] if len(recall) else 1.0
    mrec = np.concatenate(([0.0], recall, [last], [1.0]))
    mpre = np.concatenate(([1.0], precision, [0.0], [0.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    return float(np.trapezoid(np.interp(_RECALL_POINTS, mrec, mpre), _RECALL_POINTS))


def ap_per_class(correct: np.ndarray, conf: np.ndarray, det_classes: np.ndarray,
                 gt_classes: np.ndarray) -> np.ndarray:
    """[classes with ground truth, 10] AP; a class with ground truth but no detection scores 0."""
    order = np.argsort(-conf)  # numpy's default sort, as the validator's: ties fall the same way
    correct, det_classes = correct[order], det_classes[order]
    classes, counts = np.unique(gt_classes, return_counts=True)
    ap = np.zeros((len(classes), len(IOU_THRESHOLDS)))
    for ci, (cls, n_gt) in enumerate(zip(classes, counts)):
        mine = det_classes == cls
        if not mine.any():
            continue
        tp = correct[mine].cumsum(0)
        fp = (1 - correct[mine]).cumsum(0)
        recall, precision = tp / (n_gt + _EPS), tp / (tp + fp)
        ap[ci] = [average_precision(recall[:, t], precision[:, t]) for t in range(len(IOU_THRESHOLDS))]
    return ap


def ultralytics_ap(gt: COCO, detections: dict[int, np.ndarray], image_ids: list[int]) -> dict[str, float]:
    """{AP, AP50, AP75} in [0, 1] of `detections` ({image id: [n, 6] x1, y1, x2, y2, score, category id, boxes in
    original-image pixels, not clipped}) on `image_ids`, scored as `yolo val` does. Matching on the original image
    gives the validator's IoUs: it matches on the letterboxed input, and a per-axis scale and shift of both boxes
    leaves their IoU unchanged."""
    all_correct, all_conf, all_classes, gt_classes_all = [], [], [], []
    for image_id in image_ids:
        anns = [a for a in gt.imgToAnns.get(image_id, []) if not a.get("iscrowd", 0)]
        gt_boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)], float).reshape(-1, 4)
        gt_classes = np.array([a["category_id"] for a in anns], int)
        det = np.asarray(detections.get(image_id, np.zeros((0, 6))), float).reshape(-1, 6)
        det = det[np.argsort(-det[:, 4], kind="stable")]
        all_correct.append(match_detections(gt_boxes, gt_classes, det[:, :4], det[:, 5].astype(int)))
        all_conf.append(det[:, 4])
        all_classes.append(det[:, 5].astype(int))
        gt_classes_all.append(gt_classes)
    gt_classes = np.concatenate(gt_classes_all) if gt_classes_all else np.zeros(0, int)
    if not len(gt_classes):
        return {"AP": 0.0, "AP50": 0.0, "AP75": 0.0}
    ap = ap_per_class(np.concatenate(all_correct), np.concatenate(all_conf), np.concatenate(all_classes), gt_classes)
    return {"AP": float(ap.mean()), "AP50": float(ap[:, 0].mean()), "AP75": float(ap[:, 5].mean())}
