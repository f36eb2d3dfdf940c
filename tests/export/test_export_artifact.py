"""From a calibrated artifact file (calib.calibrate) through `python -m export`: the artifact's own calibration
images feed the cpu profile's integer ops, and an artifact of an older format version is refused clearly."""
import json

import pytest
import torch

from common.cli import run_cli
from common.errors import QYoloError
from common.pt_file import read_pt
from export import ExportConfig, export_onnx
from export.__main__ import main

calib = pytest.importorskip("calib")
if not hasattr(calib, "calibrate") or not hasattr(calib, "load_calibrated"):
    pytest.skip("this checkout's calib has no artifact API (calibrate / load_calibrated)", allow_module_level=True)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    """The fixture calibrated (uh asym W8A8) on 8 generated images at 64 px."""
    import cv2
    import numpy as np

    folder = tmp_path_factory.mktemp("calib_images")
    rng = np.random.default_rng(0)
    for i in range(8):
        image = np.full((64, 64, 3), 114, np.uint8)
        x, y = rng.integers(4, 40, 2)
        image[y:y + 20, x:x + 20] = rng.integers(0, 255, 3)
        cv2.imwrite(str(folder / f"img{i}.png"), image)
    out = tmp_path_factory.mktemp("artifact") / "uh-asym-w8a8.pt"
    return calib.calibrate(calib.CalibConfig(data=folder, num_images=8, batch_size=4, imgsz=64, out=out,
                                             progress=False))


@pytest.mark.slow
def test_cli_exports_an_artifact_with_its_calibration_images(tmp_path, artifact):
    out = tmp_path / "uh-asym-w8a8-cpu.onnx"
    assert run_cli(main, ["--artifact", str(artifact), "--profile", "cpu", "--imgsz", "64", "--out", str(out)]) == 0
    side = json.loads(out.with_name(out.name + ".json").read_text())
    assert side["passes"]["integer_ops"]["calibration_images"] == 8  # the images the artifact lists
    assert side["quantization"]["method"] == "uh" and side["metadata"]["qyolo.scheme"] == "asym"


def test_older_artifact_format_is_refused(tmp_path, artifact):
    payload = read_pt(artifact)
    payload["format_version"] = 0
    old = tmp_path / "old.pt"
    torch.save(payload, old)
    with pytest.raises(QYoloError, match="format_version 0.*re-run calibration"):
        export_onnx(ExportConfig(out=tmp_path / "m.onnx", artifact=old, profile="cpu", imgsz=64))
    not_an_artifact = tmp_path / "weights.pt"
    torch.save({"format": "something-else"}, not_an_artifact)
    with pytest.raises(QYoloError, match="not a calibrated artifact"):
        export_onnx(ExportConfig(out=tmp_path / "m.onnx", artifact=not_an_artifact, profile="trt", imgsz=64))
