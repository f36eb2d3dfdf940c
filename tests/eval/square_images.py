"""A tiny COCO dataset with a known answer: 64x64 images, each with one white 32x32 square (category 3) at 16..48."""
import json
from pathlib import Path

import cv2
import numpy as np


def write_squares(root: Path, other_categories: int = 1, images: int = 3) -> Path:
    """root/val/<i>.jpg and root/annotations/instances_val.json (category 3 "square", then other_categories more:
    ids 7, 8, ...); returns root."""
    (root / "val").mkdir()
    records, anns = [], []
    for i in range(1, images + 1):
        img = np.zeros((64, 64, 3), np.uint8)
        img[16:48, 16:48] = 255
        cv2.imwrite(str(root / "val" / f"{i}.jpg"), img)
        records.append({"id": i, "file_name": f"{i}.jpg", "width": 64, "height": 64})
        anns.append({"id": i, "image_id": i, "category_id": 3, "bbox": [16, 16, 32, 32], "area": 1024, "iscrowd": 0})
    categories = [{"id": 3, "name": "square"}] + [{"id": 7 + k, "name": f"other{k}" if k else "other"}
                                                  for k in range(other_categories)]
    (root / "annotations").mkdir()
    (root / "annotations" / "instances_val.json").write_text(json.dumps({"images": records, "annotations": anns,
                                                                         "categories": categories}))
    return root
