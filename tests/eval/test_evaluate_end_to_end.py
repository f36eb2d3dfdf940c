"""Evaluation of end-to-end models (YOLOv10 / YOLO26 one-to-one heads): their rows are scored as detections,
without NMS, whether the layout comes from the model (torch) or from the exported graph's metadata."""
import json
from pathlib import Path

import numpy as np
import pytest
from square_images import write_squares

from eval.backends.base import BACKENDS, register_backend
from eval.stage import EvalConfig, evaluate
from export import ExportConfig, export_model
from yolo.checkpoint import load_model
from yolo.family import END_TO_END

DATA = Path(__file__).resolve().parents[1] / "yolo" / "data" / "ultralytics"


class EndToEndBackend:
    """Per image: the ground-truth square at 0.9 and a shifted copy of it at 0.8 (IoU 0.88 with it), same class.
    NMS at IoU 0.7 would keep one; an end-to-end head's rows are kept as they are."""
    name, precision, quantization, input_size = "e2e", "fp32", {}, None
    layout = END_TO_END

    def __init__(self, model_path, device="cpu", **options):
        pass

    def __call__(self, batch):
        rows = np.zeros((batch.shape[0], 3, 6), np.float32)
        rows[:, 0] = [16, 16, 48, 48, 0.9, 0]
        rows[:, 1] = [18, 16, 50, 48, 0.8, 0]
        rows[:, 2] = [0, 0, 8, 8, 0.0005, 1]  # below conf 0.001: not a detection
        return rows

    def close(self):
        pass


@pytest.fixture()
def squares(tmp_path):
    return write_squares(tmp_path, other_categories=7)  # 8 categories: the thin models' classes


def test_end_to_end_rows_are_scored_without_nms(squares, tmp_path):
    register_backend("e2e", f"{__name__}:EndToEndBackend")
    try:
        m = evaluate(EvalConfig(model="none", data=squares, backend="e2e", imgsz=64, out=tmp_path / "out",
                                progress=False))
    finally:
        BACKENDS.pop("e2e")
    assert m["head_layout"] == "end-to-end" and m["num_detections"] == 2 * 3
    assert m["AP"] == pytest.approx(1.0)  # the true box ranks first; its duplicate is a false positive after it
    dets = json.loads((tmp_path / "out" / "detections.json").read_text())
    assert sorted(d["bbox"][0] for d in dets) == pytest.approx([16, 16, 16, 18, 18, 18])
    assert {d["category_id"] for d in dets} == {3}


@pytest.mark.slow
def test_exported_end_to_end_graph_scores_as_the_checkpoint(squares, tmp_path):
    """The ONNX records its layout (qyolo.head_layout): ONNX Runtime's detections and AP equal the checkpoint's."""
    weights = DATA / "yolo26-thin.pt"
    onnx_path = tmp_path / "fp32.onnx"
    export_model(load_model(weights), ExportConfig(out=onnx_path, weights=str(weights), profile="fp32", imgsz=64), {})
    scored = {}
    for backend, model in (("torch", weights), ("ort", onnx_path)):
        scored[backend] = evaluate(EvalConfig(model=model, data=squares, backend=backend, imgsz=64, progress=False,
                                              backend_options={"threads": 1}))
    assert scored["ort"]["head_layout"] == scored["torch"]["head_layout"] == "end-to-end"
    assert scored["ort"]["num_detections"] == scored["torch"]["num_detections"] > 0
    assert scored["ort"]["AP"] == pytest.approx(scored["torch"]["AP"], abs=1e-6)
