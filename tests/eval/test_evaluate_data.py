"""Evaluation on datasets whose class order differs from the model's, YOLO data yamls with bad labels, and the
output set (detections, report, metrics) written as one unit."""
import json

import cv2
import numpy as np
import pytest

from common.errors import QYoloError
from common.output_set import check_output_set
from eval.backends.base import BACKENDS, register_backend
from eval.stage import EvalConfig, evaluate


class NamedBackend:
    """Predicts the white square of each 64x64 image (x, y 16..48) as class 0, which it names 'square'."""
    name, precision, quantization, input_size = "named", "fp32", {}, None
    metadata = {"qyolo.names": json.dumps(["square", "other"])}

    def __init__(self, model_path, device="cpu", **options):
        pass

    def __call__(self, batch):
        pred = np.zeros((batch.shape[0], 1, 7), np.float32)
        pred[:, 0] = [32, 32, 32, 32, 0.9, 1.0, 0.0]
        return pred

    def close(self):
        pass


@pytest.fixture(autouse=True)
def named_backend():
    register_backend("named", f"{__name__}:NamedBackend")
    yield
    BACKENDS.pop("named", None)


def _ap(data, out=None):
    return evaluate(EvalConfig(model="m", data=data, backend="named", imgsz=64, batch=2, progress=False, out=out))


def test_a_dataset_listing_the_classes_in_another_order_scores_the_same(tmp_path, square_coco):
    same = square_coco(tmp_path / "a", [{"id": 3, "name": "square"}, {"id": 7, "name": "other"}], square_id=3)
    swapped = square_coco(tmp_path / "b", [{"id": 3, "name": "other"}, {"id": 7, "name": "square"}], square_id=7)
    assert _ap(same)["AP"] == pytest.approx(1.0)
    assert _ap(swapped)["AP"] == pytest.approx(1.0)  # by position it would be 0: every box of the wrong class


def test_a_dataset_without_the_models_classes_is_refused(tmp_path, square_coco):
    other = square_coco(tmp_path, [{"id": 3, "name": "circle"}, {"id": 7, "name": "other"}], square_id=3)
    with pytest.raises(QYoloError, match="has class 0 'square', which the dataset .* does not name"):
        _ap(other)


def _yolo(root, labels: str, names="[square, other]"):
    (root / "images" / "val").mkdir(parents=True)
    (root / "labels" / "val").mkdir(parents=True)
    img = np.zeros((64, 64, 3), np.uint8)
    img[16:48, 16:48] = 255
    cv2.imwrite(str(root / "images" / "val" / "1.jpg"), img)
    (root / "labels" / "val" / "1.txt").write_text(labels)
    (root / "data.yaml").write_text(f"path: .\nval: images/val\nnames: {names}\n")
    return root / "data.yaml"


@pytest.mark.parametrize("labels,message", [
    ("0 0.5 0.5 nan 0.5\n", "not finite numbers in \\[0, 1\\]"),
    ("0 0.5 0.5 0.5 -0.5\n", "not finite numbers in \\[0, 1\\]"),
    ("0 32 32 32 32\n", "normalized by the image size"),
    ("1.5 0.5 0.5 0.5 0.5\n", "expected 'class cx cy w h'"),
    ("0 0.5 0.5 0.5\n", "expected 'class cx cy w h'"),
])
def test_bad_yolo_labels_are_refused(tmp_path, labels, message):
    with pytest.raises(QYoloError, match=message):
        _ap(_yolo(tmp_path, labels))


@pytest.mark.parametrize("names,message", [
    ("{0: square, 2: other}", "not the class indices 0..n-1"),
    ("[square, [a, b]]", "not a list of class names"),
])
def test_bad_yolo_names_are_refused(tmp_path, names, message):
    with pytest.raises(QYoloError, match=message):
        _ap(_yolo(tmp_path, "0 0.5 0.5 0.5 0.5\n", names))


def test_repeated_label_rows_count_once(tmp_path):
    """A row written twice is one object (as yolov5/ultralytics drop duplicates): perfect detections score 1."""
    assert _ap(_yolo(tmp_path, "0 0.5 0.5 0.5 0.5\n0 0.5 0.5 0.5 0.5\n"))["AP"] == pytest.approx(1.0)


def test_outputs_are_one_set_with_the_record_written_last(tmp_path, square_coco):
    data = square_coco(tmp_path / "d", [{"id": 3, "name": "square"}, {"id": 7, "name": "other"}], square_id=3)
    out = tmp_path / "out"
    metrics = _ap(data, out)
    record = json.loads((out / "metrics.json").read_text())
    assert set(record["run"]["files"]) == {"detections.json", "metrics.md"} and record == json.loads(json.dumps(
        metrics))
    assert check_output_set(out / "metrics.json", record) == []
    (out / "detections.json").write_text("[]")  # another run's detections beside this record
    (problem,) = check_output_set(out / "metrics.json", record)
    assert "detections.json is not the file" in problem
