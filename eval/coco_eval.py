"""COCO bbox scoring with pycocotools: detections JSON in COCO results format, the six AP columns out."""
import contextlib
import io
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from common.atomic import write_json_atomic
from common.log import get_logger

METRIC_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def detections_to_coco(image_id: int, det: np.ndarray, class_to_category: list[int]) -> list[dict]:
    """[n, 6] (x1, y1, x2, y2, conf, cls) in original-image pixels -> COCO result dicts (xywh boxes)."""
    results = []
    for x1, y1, x2, y2, conf, cls in det.tolist():
        results.append({"image_id": int(image_id), "category_id": class_to_category[int(cls)],
                        "bbox": [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)],
                        "score": round(conf, 5)})
    return results


def score_detections(gt: COCO, results: list[dict], image_ids: list[int] | None = None,
                     results_path: str | Path | None = None) -> dict[str, float]:
    """pycocotools bbox evaluation -> {AP, AP50, AP75, APs, APm, APl}; no detections -> all 0 with a warning."""
    if results_path is not None:
        write_json_atomic(results_path, results)
    if not results:
        get_logger().warning("the model produced no detections: every AP is 0")
        return {k: 0.0 for k in METRIC_KEYS}
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(results)
        evaluator = COCOeval(gt, dt, "bbox")
        if image_ids is not None:
            evaluator.params.imgIds = list(image_ids)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    # stats: AP@[.5:.95], AP50, AP75, APs, APm, APl, then recalls; -1 means "no ground truth in that bucket".
    return {k: float(v) for k, v in zip(METRIC_KEYS, evaluator.stats[:6])}
