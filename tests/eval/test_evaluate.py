"""End-to-end evaluation through the backend interface with a fake model of known output, and bad input."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from square_images import write_squares

from common.cli import run_cli
from common.errors import QYoloError
from eval.__main__ import main as eval_main
from eval.backends.base import BACKENDS, create_backend, register_backend
from eval.stage import EvalConfig, evaluate

ROOT = Path(__file__).resolve().parents[2]


class PerfectBackend:
    """Predicts the ground-truth box of each 64x64 test image exactly (known answer: AP 1.0)."""
    name, precision, quantization, input_size = "perfect", "fp32", {}, None

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


class ShiftedBackend(PerfectBackend):
    """Object at x 8..40, y 40..88 of a 64x128 image -> x 4+16..20+16, y 20..44 on the 64x64 letterboxed input."""

    def __call__(self, batch):
        pred = np.zeros((batch.shape[0], 1, 6), np.float32)
        pred[:, 0] = [28, 32, 16, 24, 0.9, 1.0]
        return pred


class FixedBackend(PerfectBackend):
    input_size = 320


@pytest.fixture()
def tiny_coco(tmp_path):
    return write_squares(tmp_path)


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


def test_bad_image_is_skipped_not_fatal(tiny_coco, capsys):
    (tiny_coco / "val" / "2.jpg").write_bytes(b"not a jpeg")
    register_backend("perfect", f"{__name__}:PerfectBackend")
    try:
        m = evaluate(EvalConfig(model="none", data=tiny_coco, backend="perfect", imgsz=64, progress=False))
    finally:
        BACKENDS.pop("perfect")
    assert m["num_images"] == 2 and m["skipped_images"] == 1
    assert m["AP"] == pytest.approx(1.0)  # scored on the two readable images only
    assert "skipping: cannot decode image" in capsys.readouterr().err


def test_boxes_map_back_through_resize_and_padding(tmp_path):
    """A 128x64 (h x w) image at imgsz 64: ratio 0.5, 16 px of padding left/right; the fake model predicts the
    object where it lands in the letterboxed input, and evaluation must find it at its original place."""
    (tmp_path / "val").mkdir()
    cv2.imwrite(str(tmp_path / "val" / "1.jpg"), np.zeros((128, 64, 3), np.uint8))
    ann = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [8, 40, 32, 48], "area": 1536, "iscrowd": 0}
    (tmp_path / "instances_val.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "1.jpg", "width": 64, "height": 128}], "annotations": [ann],
        "categories": [{"id": 1, "name": "thing"}]}))
    register_backend("shifted", f"{__name__}:ShiftedBackend")
    try:
        m = evaluate(EvalConfig(model="none", data=tmp_path / "instances_val.json", backend="shifted", imgsz=64,
                                out=tmp_path / "m.json", progress=False))
    finally:
        BACKENDS.pop("shifted")
    assert m["AP"] == pytest.approx(1.0)
    (det,) = json.loads((tmp_path / "m_detections.json").read_text())
    assert det["bbox"] == pytest.approx([8, 40, 32, 48])


def test_fixed_input_size_mismatch_is_a_user_error(tiny_coco):
    register_backend("fixed", f"{__name__}:FixedBackend")
    try:
        with pytest.raises(QYoloError, match="takes 320x320 inputs but --imgsz is 64"):
            evaluate(EvalConfig(model="none", data=tiny_coco, backend="fixed", imgsz=64, progress=False))
    finally:
        BACKENDS.pop("fixed")


@pytest.mark.parametrize("field,value", [("imgsz", 100), ("imgsz", 0), ("batch", 0), ("conf_thres", 1.5),
                                         ("max_images", 0), ("max_det", 0)])
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field.split("_")[0]):
        EvalConfig(model="m.pt", data="d", **{field: value})


def test_unknown_backend():
    with pytest.raises(QYoloError, match="unknown backend"):
        create_backend("nope", "x")


def test_cli_missing_weights_is_one_line_without_traceback(tiny_coco, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "eval", "--weights", str(tmp_path / "missing.pt"), "--data",
                           str(tiny_coco), "--imgsz", "64", "--out", str(tmp_path / "out")],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert "missing.pt does not exist" in line


@pytest.mark.parametrize("name,content,needle", [
    ("corrupt.pt", b"\x80\x02 truncated pickle", "cannot read checkpoint"),
    ("model.txt", b"just some text", "not a PyTorch checkpoint"),
])
def test_cli_corrupt_or_unknown_model_file(tiny_coco, tmp_path, capsys, name, content, needle):
    model = tmp_path / name
    model.write_bytes(content)
    code = run_cli(eval_main, ["--weights", str(model), "--data", str(tiny_coco), "--imgsz", "64",
                               "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and needle in err and name in err


def test_cli_unknown_backend_and_bad_dataset(tiny_coco, tmp_path, capsys):
    assert run_cli(eval_main, ["--weights", "m.pt", "--data", str(tiny_coco), "--backend", "nope"]) == 2
    assert "unknown backend 'nope'" in capsys.readouterr().err
    assert run_cli(eval_main, ["--weights", "m.pt", "--data", str(tmp_path / "nowhere")]) == 2
    assert "nowhere does not exist" in capsys.readouterr().err


def test_cli_writes_metrics_and_markdown(tiny_coco, tmp_path, capsys):
    register_backend("perfect", f"{__name__}:PerfectBackend")
    try:
        code = run_cli(eval_main, ["--model", "none", "--data", str(tiny_coco), "--backend", "perfect",
                                   "--imgsz", "64", "--out", str(tmp_path / "run"), "--no-progress"])
    finally:
        BACKENDS.pop("perfect")
    assert code == 0
    printed = capsys.readouterr().out
    assert "100.0" in printed and "scored as yolo val scores (" in printed and "AP 99.50, AP50 99.50" in printed
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["num_images"] == 3
    assert (tmp_path / "run" / "metrics.md").read_text().startswith("| backend | precision | AP |")


class NanBackend(PerfectBackend):
    """The perfect predictions, except NaN boxes for the second image of each batch."""

    def __call__(self, batch):
        pred = super().__call__(batch)
        pred[1:2, 0, :4] = np.nan
        return pred


def _evaluate_with(backend_class, **config):
    register_backend("probe", f"{__name__}:{backend_class}")
    try:
        return evaluate(EvalConfig(model="m.onnx", backend="probe", imgsz=64, progress=False, **config))
    finally:
        BACKENDS.pop("probe")


def test_non_finite_predictions_stop_the_evaluation_naming_the_images(tiny_coco):
    with pytest.raises(QYoloError, match=r"^perfect/fp32 produced NaN/Inf predictions for 1 image\(s\) \(2\.jpg\); the "
                                         r"model m\.onnx is broken"):
        _evaluate_with("NanBackend", data=tiny_coco, batch=2)


def test_fewer_categories_than_model_classes_is_one_line(tiny_coco):
    ann = tiny_coco / "annotations" / "instances_val.json"
    data = json.loads(ann.read_text())
    data["categories"] = data["categories"][:1]
    ann.write_text(json.dumps(data))
    with pytest.raises(QYoloError, match=rf"^m\.onnx predicts 2 classes but {tiny_coco} lists only 1 categories; "
                                         r"evaluate on a dataset whose category list covers every class"):
        _evaluate_with("PerfectBackend", data=tiny_coco)


def test_unwritable_output_is_refused_before_the_work(tiny_coco, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(QYoloError, match=r"cannot write into --out .*/file/out \(.*/file is a file, not a folder\)"):
        _evaluate_with("NanBackend", data=tiny_coco, out=tmp_path / "file" / "out")
    with pytest.raises(QYoloError, match=r"--out .*/file/m\.json \(.*/file is a file, not a folder\)"):
        _evaluate_with("NanBackend", data=tiny_coco, out=tmp_path / "file" / "m.json")


@pytest.mark.parametrize("device", ["tpu", "gpu", "cuda:x"])
def test_config_rejects_unknown_devices(device):
    with pytest.raises(ValueError, match=rf"device '{device}' is not supported; use cpu, cuda or cuda:<index>"):
        EvalConfig(model="m.pt", data="d", device=device)


def test_default_imgsz_is_what_the_model_records(tmp_path):
    from types import SimpleNamespace

    import torch

    from eval.stage import model_imgsz

    free = SimpleNamespace(input_size=None, metadata={})
    assert model_imgsz("m.onnx", SimpleNamespace(input_size=416, metadata={})) == 416  # a fixed input decides
    assert model_imgsz("m.onnx", SimpleNamespace(input_size=None, metadata={"qyolo.imgsz": "320"})) == 320
    checkpoint = tmp_path / "m.pt"
    torch.save({"train_args": {"imgsz": 288}}, checkpoint)
    assert model_imgsz(checkpoint, free) == 288  # the size it was trained (or calibrated) at
    assert model_imgsz(tmp_path / "missing.pt", free) == 640 and model_imgsz("m.onnx", free) == 640


def test_evaluation_without_imgsz_runs_at_the_recorded_size(tiny_coco, tmp_path):
    import torch

    checkpoint = tmp_path / "m.pt"
    torch.save({"imgsz": 64}, checkpoint)  # the PerfectBackend's answer holds at 64 px only
    register_backend("perfect", f"{__name__}:PerfectBackend")
    try:
        metrics = evaluate(EvalConfig(model=checkpoint, data=tiny_coco, backend="perfect", progress=False))
    finally:
        BACKENDS.pop("perfect")
    assert metrics["imgsz"] == 64 and metrics["AP"] == pytest.approx(1.0)
