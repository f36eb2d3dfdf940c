"""End-to-end evaluation through the backend interface with a fake model of known output, and bad input."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from common.errors import QYoloError
from eval.backends.base import BACKENDS, create_backend, register_backend
from eval.evaluate import EvalConfig, evaluate
from yolo.datasets import open_dataset, sample_calibration_images

ROOT = Path(__file__).resolve().parents[2]


class PerfectBackend:
    """Predicts the ground-truth box of each 64x64 test image exactly (known answer: AP 1.0)."""
    name, precision, input_size = "perfect", "fp32", None

    def __init__(self, model_path, device="cpu", **options):
        pass

    def __call__(self, batch):
        n = batch.shape[0]
        pred = np.zeros((n, 1, 7), np.float32)
        # the white square sits at x 16..48, y 16..48 of a 64x64 image; imgsz 64 means no resize, no padding
        pred[:, 0, :4] = [32, 32, 32, 32]
        pred[:, 0, 4] = 0.9
        pred[:, 0, 5] = 1.0
        return pred

    def close(self):
        pass


@pytest.fixture()
def tiny_coco(tmp_path):
    (tmp_path / "val").mkdir()
    images, anns = [], []
    for i in range(1, 4):
        img = np.zeros((64, 64, 3), np.uint8)
        img[16:48, 16:48] = 255
        cv2.imwrite(str(tmp_path / "val" / f"{i}.jpg"), img)
        images.append({"id": i, "file_name": f"{i}.jpg", "width": 64, "height": 64})
        anns.append({"id": i, "image_id": i, "category_id": 3, "bbox": [16, 16, 32, 32], "area": 1024, "iscrowd": 0})
    (tmp_path / "annotations").mkdir()
    ann = tmp_path / "annotations" / "instances_val.json"
    ann.write_text(json.dumps({"images": images, "annotations": anns,
                               "categories": [{"id": 3, "name": "square"}, {"id": 7, "name": "other"}]}))
    return tmp_path


def test_perfect_backend_scores_one_and_writes_outputs(tiny_coco, tmp_path):
    register_backend("perfect", f"{__name__}:PerfectBackend")
    try:
        m = evaluate(EvalConfig(model="none", data=tiny_coco, backend="perfect", imgsz=64, batch=2,
                                out=tmp_path / "out", progress=False))
    finally:
        BACKENDS.pop("perfect")
    assert m["AP"] == pytest.approx(1.0) and m["num_images"] == 3
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["AP"] == pytest.approx(1.0)
    dets = json.loads((tmp_path / "out" / "detections.json").read_text())
    assert {d["category_id"] for d in dets} == {3}


def test_bad_image_is_skipped_not_fatal(tiny_coco, caplog):
    (tiny_coco / "val" / "2.jpg").write_bytes(b"not a jpeg")
    register_backend("perfect", f"{__name__}:PerfectBackend")
    try:
        m = evaluate(EvalConfig(model="none", data=tiny_coco, backend="perfect", imgsz=64, progress=False))
    finally:
        BACKENDS.pop("perfect")
    assert m["num_images"] == 2 and m["skipped_images"] == 1


def test_not_coco_json_and_empty_folder(tmp_path):
    bad = tmp_path / "instances_val.json"
    bad.write_text(json.dumps({"images": []}))
    with pytest.raises(QYoloError, match="not a COCO detection JSON"):
        open_dataset(bad)
    (tmp_path / "empty").mkdir()
    with pytest.raises(QYoloError, match="no images"):
        sample_calibration_images(tmp_path / "empty", 10)


def test_yolo_layout_maps_80_classes_to_coco_ids(tmp_path):
    (tmp_path / "images" / "val").mkdir(parents=True)
    (tmp_path / "labels" / "val").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "images" / "val" / "a.jpg"), np.zeros((100, 200, 3), np.uint8))
    (tmp_path / "labels" / "val" / "a.txt").write_text("11 0.5 0.5 0.1 0.2\n")
    names = "[" + ", ".join(f"c{i}" for i in range(80)) + "]"
    (tmp_path / "data.yaml").write_text(f"path: {tmp_path}\nval: images/val\nnames: {names}\n")
    ds = open_dataset(tmp_path / "data.yaml")
    (ann,) = ds.coco.dataset["annotations"]
    assert ann["category_id"] == 13  # class 11 (stop sign) is COCO id 13: id 12 is unused
    assert ann["bbox"] == pytest.approx([90, 40, 20, 20])
    assert ds.class_to_category[79] == 90


def test_sampler_is_seeded_and_warns_when_short(tmp_path, caplog):
    for i in range(5):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.zeros((8, 8, 3), np.uint8))
    a = sample_calibration_images(tmp_path, 3, seed=1)
    assert a == sample_calibration_images(tmp_path, 3, seed=1) and len(a) == 3
    assert len(sample_calibration_images(tmp_path, 50)) == 5


def test_unknown_backend():
    with pytest.raises(QYoloError, match="unknown backend"):
        create_backend("nope", "x")


@pytest.mark.parametrize("args,needle", [
    (["--weights", "missing.pt", "--data", "missing_dir"], "does not exist"),
    (["--weights", "README.md", "--data", "."], "annotations"),
])
def test_cli_bad_input_is_one_line(args, needle):
    proc = subprocess.run([sys.executable, "-m", "eval", *args], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0
    assert needle in proc.stderr and "Traceback" not in proc.stderr
