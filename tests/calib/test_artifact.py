"""The calibrated artifact: bit-identical reload, what it records, atomic sidecar, refusal of foreign/old files."""
import json

import pytest
import torch

from calib import (
    CalibConfig,
    QuantConfig,
    calibrate,
    collect_and_compute,
    load_calibrated,
    quantize_model,
    save_artifact,
)
from calib.artifact import FORMAT, FORMAT_VERSION, read_artifact
from calib.data import CalibrationImages
from calib.modes import quantizers
from common.errors import QYoloError
from common.provenance import file_sha256, sidecar_path
from common.pt_file import read_pt
from yolo.checkpoint import load_model
from yolo.fixture import FIXTURE_WEIGHTS
from yolo.synthetic import SyntheticConfig, generate_split


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder, _ = generate_split(tmp_path_factory.mktemp("artifact_data"), "calib", SyntheticConfig(n_images=4, seed=5),
                               progress=False)
    return folder


@pytest.fixture(scope="module")
def artifact(images, tmp_path_factory):
    out = tmp_path_factory.mktemp("artifact") / "uh-asym-w8a8.pt"
    return calibrate(CalibConfig(data=images, num_images=4, imgsz=64, batch_size=2, out=out, progress=False))


def test_reload_evaluates_bit_identically(images, tmp_path):
    """The in-memory calibrated model and the model rebuilt from its artifact give the same bits."""
    config = CalibConfig(quant=QuantConfig(method="uh", scheme="sym", w_bits=4, a_bits=6), data=images, num_images=4,
                         imgsz=64, progress=False)
    model = quantize_model(load_model(FIXTURE_WEIGHTS), config.quant)
    paths = sorted(images.iterdir())
    collect_and_compute(model, CalibrationImages(paths, 64, 2), progress=False)
    path = save_artifact(tmp_path / "m.pt", model, config.quant, {"imgsz": 64})
    loaded, meta = load_calibrated(path)
    x = next(iter(CalibrationImages(paths, 96, 4)))  # another size than calibrated: any input must agree
    with torch.no_grad():
        want, got = model(x)[0], loaded(x)[0]
    assert torch.equal(want, got)
    assert not loaded.training and all(q.mode.value == "quantize" for _, q in quantizers(loaded))
    with torch.no_grad():  # and it really quantizes: the float model differs
        assert not torch.equal(load_model(FIXTURE_WEIGHTS)(x)[0], got)
    assert meta["w_bits"] == 4 and meta["a_bits"] == 6 and meta["imgsz"] == 64


def test_artifact_records_what_made_it(artifact, images):
    payload = read_artifact(artifact)
    assert payload["format"] == FORMAT and payload["format_version"] == FORMAT_VERSION
    assert payload["names"] == load_model(FIXTURE_WEIGHTS).names and payload["ch"] == 3
    assert payload["quant_config"]["method"] == "uh" and payload["quant_config"]["scheme"] == "asym"
    assert payload["source"] == {"weights": str(FIXTURE_WEIGHTS), "sha256": file_sha256(FIXTURE_WEIGHTS)}
    assert sorted(payload["calibration"]["images"]) == sorted(str(p) for p in images.iterdir())
    assert set(payload["versions"]) >= {"python", "torch", "numpy"}
    assert all(not k.endswith("bn.weight") for k in payload["state_dict"])  # fused float weights
    sidecar = json.loads(sidecar_path(artifact).read_text())
    assert sidecar_path(artifact).name == "uh-asym-w8a8.pt.json"
    assert sidecar["artifact"] == artifact.name and "state_dict" not in sidecar
    assert sidecar["ranges"] == json.loads(json.dumps(payload["ranges"]))
    model, meta = load_calibrated(artifact)
    described = {name: q.describe() for name, q in quantizers(model)}
    for name, info in described.items():  # the ranges the model carries are the ones the sidecar reports
        assert info["amax"] == sidecar["ranges"][name]["amax"] and info["scale"] == sidecar["ranges"][name]["scale"]
    assert "state_dict" not in meta and meta["path"] == str(artifact)


def test_eval_torch_backend_runs_the_artifact(artifact, images):
    from eval.backends.base import create_backend

    backend = create_backend("torch", artifact)
    model, _ = load_calibrated(artifact)
    x = next(iter(CalibrationImages(sorted(images.iterdir()), 64, 2)))
    with torch.no_grad():
        assert torch.equal(torch.from_numpy(backend(x.numpy())), model(x)[0])
    assert backend.precision.startswith("fakequant") and "w8a8" in backend.precision
    backend.close()


@pytest.mark.parametrize("version", [0, 2, None])
def test_other_format_versions_ask_to_recalibrate(artifact, tmp_path, version):
    payload = read_pt(artifact)
    payload["format_version"] = version
    old = tmp_path / "old.pt"
    torch.save(payload, old)
    with pytest.raises(QYoloError, match=f"format_version {version!r}.*re-run calibration"):
        load_calibrated(old)


def test_foreign_missing_and_corrupt_files(artifact, tmp_path):
    with pytest.raises(QYoloError, match="not a calibrated artifact"):
        load_calibrated(FIXTURE_WEIGHTS)
    with pytest.raises(QYoloError, match="does not exist"):
        load_calibrated(tmp_path / "nothing.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(artifact.read_bytes()[:1000])
    with pytest.raises(QYoloError, match="cannot read calibrated artifact .*re-run calibration"):
        load_calibrated(truncated)
    payload = read_pt(artifact)
    payload["state_dict"].pop("model.1.conv.input_quantizer.amax")
    damaged = tmp_path / "damaged.pt"
    torch.save(payload, damaged)
    with pytest.raises(QYoloError, match="does not match .*missing .*model.1.conv.input_quantizer.amax"):
        load_calibrated(damaged)


def test_uncalibrated_model_is_not_saved(tmp_path):
    config = CalibConfig()
    model = quantize_model(load_model(FIXTURE_WEIGHTS), config.quant)
    with pytest.raises(QYoloError, match="not fully calibrated"):
        save_artifact(tmp_path / "x.pt", model, config.quant)
    assert not list(tmp_path.iterdir())
