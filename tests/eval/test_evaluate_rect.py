"""--rect: validator rectangles, each family's resize and back-mapping, checked with a detector that cannot miss."""
import json

import cv2
import numpy as np
import pytest

from common.errors import QYoloError
from eval.backends.base import BACKENDS, register_backend
from eval.stage import EvalConfig, evaluate
from yolo.family import ANCHOR_FREE, ANCHOR_OBJECTNESS

# (h, w) of each image and its white rectangle (x, y, w, h); every side halves exactly at imgsz 64.
IMAGES = {1: ((96, 128), (16, 8, 64, 48)), 2: ((128, 128), (32, 32, 48, 64)),
          3: ((128, 96), (8, 40, 80, 40)), 4: ((128, 80), (16, 16, 32, 96))}


class WhiteRegionBackend:
    """Finds the white rectangle in each input and predicts its box in input pixels; records the input shapes."""
    name, precision, quantization, input_size = "white", "fp32", {}, None
    layout = ANCHOR_OBJECTNESS
    shapes: list = []

    def __init__(self, model_path, device="cpu", **options):
        pass

    def _boxes(self, batch):
        type(self).shapes.append(tuple(batch.shape[2:]))
        boxes = []
        for img in batch:
            ys, xs = np.nonzero(img[0] > 0.5)
            x1, x2, y1, y2 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
            boxes.append([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1])
        return np.array(boxes, np.float32)

    def __call__(self, batch):
        boxes = self._boxes(batch)
        return np.concatenate([boxes, np.full((len(boxes), 2), 0.9, np.float32)], 1)[:, None]  # [B, 1, 4+1+1]

    def close(self):
        pass


class AnchorFreeWhiteRegionBackend(WhiteRegionBackend):
    layout = ANCHOR_FREE

    def __call__(self, batch):
        boxes = self._boxes(batch)
        return np.concatenate([boxes, np.full((len(boxes), 1), 0.9, np.float32)], 1)[:, :, None]  # [B, 4+1, 1]


class FixedWhiteRegionBackend(WhiteRegionBackend):
    input_size = 64


@pytest.fixture()
def shapes_coco(tmp_path):
    (tmp_path / "val").mkdir()
    images, anns = [], []
    for i, ((h, w), (x, y, bw, bh)) in IMAGES.items():
        img = np.zeros((h, w, 3), np.uint8)
        img[y:y + bh, x:x + bw] = 255
        cv2.imwrite(str(tmp_path / "val" / f"{i}.png"), img)
        images.append({"id": i, "file_name": f"{i}.png", "width": w, "height": h})
        anns.append({"id": i, "image_id": i, "category_id": 1, "bbox": [x, y, bw, bh], "area": bw * bh,
                     "iscrowd": 0})
    ann = tmp_path / "instances_val.json"
    ann.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "box"}]}))
    return ann


def _run(backend_class, data, out, **config):
    register_backend("white", f"{__name__}:{backend_class}")
    WhiteRegionBackend.shapes = []
    try:
        return evaluate(EvalConfig(model="m.pt", data=data, backend="white", imgsz=64, batch=2, out=out,
                                   progress=False, **config))
    finally:
        BACKENDS.pop("white")


@pytest.mark.parametrize("backend_class", ["WhiteRegionBackend", "AnchorFreeWhiteRegionBackend"])
def test_rect_batches_by_aspect_and_maps_boxes_back(shapes_coco, tmp_path, backend_class):
    metrics = _run(backend_class, shapes_coco, tmp_path / "m.json", rect=True)
    # aspects h/w 0.75, 1.0 | 1.33, 1.6: a square batch (2.5 -> 3 strides a side) and a tall one (3 x 2 strides)
    assert WhiteRegionBackend.shapes == [(96, 96), (96, 64)]
    assert metrics["AP"] == pytest.approx(1.0) and metrics["num_images"] == 4
    # yolo val's scorer on the same perfect detections: its interpolation gives 0.995, not 1
    assert metrics["ultralytics"] == pytest.approx({"AP": 0.995, "AP50": 0.995, "AP75": 0.995})
    for det in json.loads((tmp_path / "m_detections.json").read_text()):
        assert det["bbox"] == pytest.approx(IMAGES[det["image_id"]][1], abs=1.01)


def test_square_mode_keeps_dataset_order_and_imgsz(shapes_coco, tmp_path):
    metrics = _run("WhiteRegionBackend", shapes_coco, tmp_path / "m.json")
    assert WhiteRegionBackend.shapes == [(64, 64), (64, 64)] and metrics["AP"] == pytest.approx(1.0)


def test_rect_on_a_fixed_size_model_is_one_clear_error(shapes_coco, tmp_path):
    with pytest.raises(QYoloError, match=r"--rect needs a model that takes any input size, but m\.pt takes only 64"):
        _run("FixedWhiteRegionBackend", shapes_coco, tmp_path / "m.json", rect=True)
