"""Bad input gets a clear message: unwritable output, opset too old for per-channel Q/DQ, a profile that does not
fit the calibration, a float model for a quantized profile, missing files; the cpu profile from a symmetric
calibration is allowed and says what it means."""
import logging

import numpy as np
import onnx
import pytest
from export_helpers import IMGSZ, calibrated_fixture, float_fixture, numpy_batches, ort_run
from onnx import numpy_helper

from common.cli import run_cli
from common.errors import QYoloError
from export import ExportConfig, export_model, export_onnx
from export.__main__ import main


def test_unwritable_output_fails_before_any_work(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where a folder is needed")
    cfg = ExportConfig(out=blocker / "m.onnx", weights="w.pt", profile="fp32")
    with pytest.raises(QYoloError, match=r"cannot write --out .*not_a_folder is a file, not a folder\); choose a "
                                         r"writable path"):
        export_model(float_fixture(), cfg)


@pytest.mark.parametrize("opset", [10, 12])
def test_opset_too_old_for_per_channel_qdq(opset, capsys):
    with pytest.raises(ValueError, match="per-channel Q/DQ"):
        ExportConfig(out="m.onnx", artifact="a.pt", profile="trt", opset=opset)
    assert run_cli(main, ["--artifact", "a.pt", "--profile", "cpu", "--opset", str(opset), "--out", "m.onnx"]) == 2
    assert "opset 13" in capsys.readouterr().err


def test_trt_profile_from_asymmetric_calibration(tmp_path):
    cfg = ExportConfig(out=tmp_path / "m.onnx", profile="trt", imgsz=IMGSZ)
    with pytest.raises(QYoloError, match="asymmetric.*--scheme sym"):
        export_model(calibrated_fixture("asym", 8), cfg)


def test_quantized_profile_needs_quantizers(tmp_path):
    cfg = ExportConfig(out=tmp_path / "m.onnx", profile="cpu", imgsz=IMGSZ)
    with pytest.raises(QYoloError, match="no quantizers"):
        export_model(float_fixture(), cfg)
    with pytest.raises(ValueError, match="needs a calibrated artifact"):
        ExportConfig(out="m.onnx", weights="w.pt", profile="trt")


def test_export_onnx_needs_a_source_file(tmp_path):
    """A config without artifact or weights serves export_model (the model is given); export_onnx refuses it."""
    with pytest.raises(QYoloError, match="give --artifact .* or --weights"):
        export_onnx(ExportConfig(out=tmp_path / "m.onnx", profile="trt"))


def test_missing_source_files(tmp_path, capsys):
    with pytest.raises(QYoloError, match="does not exist"):
        export_onnx(ExportConfig(out=tmp_path / "m.onnx", artifact=tmp_path / "missing.pt", profile="trt"))
    assert run_cli(main, ["--weights", str(tmp_path / "nope.pt"), "--profile", "fp32", "--out",
                          str(tmp_path / "m.onnx")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_cpu_profile_from_symmetric_calibration(tmp_path, caplog):
    """Allowed: the symmetric grid is re-expressed as uint8 with zero point 128 (same values), with a warning
    that explains the coarser grid."""
    model = calibrated_fixture("sym", 8)
    common = dict(imgsz=IMGSZ, dynamic_batch=True, integer_ops=False)
    logger = logging.getLogger("qyolo")
    logger.addHandler(caplog.handler)
    try:
        cpu = export_model(model, ExportConfig(out=tmp_path / "cpu.onnx", profile="cpu", **common))
    finally:
        logger.removeHandler(caplog.handler)
    assert "symmetric calibration" in caplog.text and "--scheme asym" in caplog.text
    trt = export_model(model, ExportConfig(out=tmp_path / "trt.onnx", profile="trt", **common))
    inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(cpu)).graph.initializer}
    zero_points = {int(inits[n.input[2]]) for n in onnx.load(str(cpu)).graph.node if n.op_type == "QuantizeLinear"}
    assert zero_points == {128}
    x = np.random.default_rng(0).random((2, 3, IMGSZ, IMGSZ), dtype=np.float32)
    assert np.array_equal(ort_run(cpu, x), ort_run(trt, x))


@pytest.mark.slow
def test_cpu_integer_ops_need_calibration_images(tmp_path):
    cfg = ExportConfig(out=tmp_path / "m.onnx", profile="cpu", imgsz=IMGSZ)
    with pytest.raises(QYoloError, match="--calib-data"):
        export_model(calibrated_fixture("asym", 8), cfg, {"source": "a.pt"})
    # given images, it works (and says how many it used)
    path = export_model(calibrated_fixture("asym", 8), cfg, {}, numpy_batches())
    assert path.is_file()


def test_config_validation():
    with pytest.raises(ValueError, match="unknown profile"):
        ExportConfig(out="m.onnx", artifact="a.pt", profile="tensorrt")
    with pytest.raises(ValueError, match="multiple of 32"):
        ExportConfig(out="m.onnx", artifact="a.pt", imgsz=100)
    with pytest.raises(ValueError, match="integer_ops"):
        ExportConfig(out="m.onnx", artifact="a.pt", profile="trt", integer_ops=True)
    with pytest.raises(ValueError, match=".onnx"):
        ExportConfig(out="m.engine", artifact="a.pt")


def test_export_size_defaults_to_the_calibration_size(tmp_path):
    import torch

    artifact = tmp_path / "a.pt"
    torch.save({"imgsz": 224}, artifact)
    assert ExportConfig(out=tmp_path / "m.onnx", artifact=artifact).imgsz == 224
    assert ExportConfig(out=tmp_path / "m.onnx", artifact=artifact, imgsz=320).imgsz == 320
    assert ExportConfig(out=tmp_path / "m.onnx", artifact=tmp_path / "missing.pt").imgsz == 640
