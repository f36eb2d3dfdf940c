"""calib.calibrate / CalibConfig / recompute_ranges: settings, one-pass bit widths, bad input.

Runs on the fixture model at 64 px with a handful of tiny synthetic images, so each calibration takes ~1 s.
"""
import copy
import json
import logging
from pathlib import Path

import pytest
import torch
from torch import nn

from calib import (
    CalibConfig,
    QuantConfig,
    calibrate,
    calibrate_bit_widths,
    collect_and_compute,
    load_calibrated,
    quantize_model,
    recompute_ranges,
)
from calib.artifact import read_artifact
from calib.stage import FIXTURE_NUM_IMAGES, PAPER_NUM_IMAGES
from common.errors import QYoloError
from common.provenance import sidecar_path
from common.pt_file import read_pt
from yolo.fixture import FIXTURE_WEIGHTS
from yolo.synthetic import SyntheticConfig, generate_split


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """A folder of 6 small synthetic shape images (real detection content, generated in ~0.1 s)."""
    root = tmp_path_factory.mktemp("calib_data")
    folder, _ = generate_split(root, "calib", SyntheticConfig(n_images=6, seed=3), progress=False)
    return folder


QUANT_FIELDS = ("method", "scheme", "w_bits", "a_bits", "skip")


def small(images, tmp_path, **overrides) -> CalibConfig:
    # minmax unless a test is about the method: no histogram searches, so each calibration takes ~1 s
    quant = {"method": "minmax", "scheme": "asym", **{k: overrides.pop(k) for k in QUANT_FIELDS if k in overrides}}
    settings = dict(data=images, num_images=4, imgsz=64, batch_size=2, out=tmp_path / "a.pt", progress=False)
    settings.update(overrides)
    return CalibConfig(quant=QuantConfig(**quant), **settings)


# --- CalibConfig ---------------------------------------------------------------------------------------------------
def test_defaults_run_on_the_fixture():
    config = CalibConfig()
    assert config.weights == FIXTURE_WEIGHTS and config.data is None and config.quant == QuantConfig()
    assert (config.quant.method, config.quant.scheme, config.quant.w_bits, config.quant.a_bits) == ("uh", "asym", 8, 8)
    assert config.num_images == FIXTURE_NUM_IMAGES and config.imgsz == 256
    assert str(config.out) == "runs/calib/uh-asym-w8a8.pt"
    minmax = CalibConfig(quant=QuantConfig(method="minmax", scheme="sym", w_bits=4, a_bits=6))
    assert str(minmax.out) == "runs/calib/minmax-sym-w4a6.pt"
    assert CalibConfig(data="somewhere").num_images == PAPER_NUM_IMAGES
    assert CalibConfig(weights="weights/yolov5s.pt").imgsz == 640
    assert CalibConfig().to_dict()["quant"] == QuantConfig().to_dict()


def test_the_cli_flags_lift_the_default_skips(tmp_path, monkeypatch):
    """--quantize-first-conv / --quantize-head / --skip become the QuantConfig the artifact is calibrated with."""
    import calib.__main__ as cli

    seen = []
    monkeypatch.setattr(cli, "calibrate", lambda config: seen.append(config) or tmp_path / "a.pt")
    assert cli.main(["--skip", "model.9.*", "--quantize-head", "--method", "minmax", "--scheme", "sym"]) == 0
    quant = seen[0].quant
    assert quant.skip == ("model.9.*",) and quant.float_head_classes == () and quant.skip_first_conv
    assert (quant.method, quant.scheme) == ("minmax", "sym")


@pytest.mark.parametrize("kwargs, match", [
    ({"imgsz": 100}, "multiple of 32"),
    ({"num_images": 0}, "num_images"),
    ({"batch_size": 0}, "batch_size"),
    ({"threads": 0}, "threads"),
    ({"device": "gpu7"}, "device 'gpu7'"),
    ({"quant": {"method": "uh"}}, "quant must be a calib.QuantConfig"),
])
def test_bad_settings_name_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CalibConfig(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"method": "kl"}, "unknown calibration method 'kl'"),
    ({"a_bits": 9}, "a_bits .* got 9"),
    ({"w_bits": 1}, "w_bits .* got 1"),
    ({"scheme": "int8"}, "'int8'"),
    ({"method": "entropy", "scheme": "asym"}, "symmetric only"),
    ({"skip": "model.*"}, "single string"),
])
def test_bad_quantization_settings_are_refused_by_quantconfig(kwargs, match):
    with pytest.raises(ValueError, match=match):
        QuantConfig(**kwargs)


# --- calibrate -----------------------------------------------------------------------------------------------------
def test_calibrate_writes_artifact_and_sidecar(images, tmp_path):
    path = calibrate(small(images, tmp_path, method="uh", scheme="sym", w_bits=6, a_bits=4))
    assert path == tmp_path / "a.pt" and path.is_file()
    sidecar = json.loads(sidecar_path(path).read_text())
    assert (sidecar["method"], sidecar["scheme"], sidecar["w_bits"], sidecar["a_bits"]) == ("uh", "sym", 6, 4)
    assert sidecar["calibration"]["num_images"] == 4 and len(sidecar["calibration"]["images"]) == 4
    assert sidecar["imgsz"] == 64 and sidecar["data"] == str(images)
    assert set(sidecar["timings"]) >= {"load_model_s", "images_s", "collect_s", "total_s"}
    ranges = sidecar["ranges"]
    activations = {k: v for k, v in ranges.items() if k.endswith("input_quantizer")}
    assert activations and all(v["num_bits"] == 4 and v["symmetric"] for v in activations.values())
    weights = {k: v for k, v in ranges.items() if k.endswith("weight_quantizer")}
    assert weights and all(v["num_bits"] == 6 and v["axis"] == 0 for v in weights.values())
    assert "model.0.conv.input_quantizer" not in ranges  # the stem conv stays in float by default
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # atomic writes leave no temp files


@pytest.mark.parametrize("method, scheme", [("minmax", "sym"), ("minmax", "asym"), ("percentile", "sym"),
                                            ("mse", "sym"), ("entropy", "sym"), ("uh", "asym"), ("uh", "sym")])
def test_recompute_ranges_equals_a_fresh_calibration(method, scheme):
    """Ranges recomputed at another width from retained statistics = a calibration run at that width."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.SiLU(), nn.MaxPool2d(3, 1, 1), nn.Conv2d(4, 2, 1))
    batches = [torch.randn(2, 3, 12, 12) * scale for scale in (1.0, 1.5, 0.5)]  # growing, then shrinking maxima
    again = copy.deepcopy(model)
    # 256 bins instead of 2048: the same code paths, 64x cheaper histogram searches (entropy is quadratic in bins)
    settings = dict(method=method, scheme=scheme, skip_first_conv=False, num_bins=256, start_bin=32)
    quantize_model(model, QuantConfig(w_bits=8, a_bits=8, **settings))
    collect_and_compute(model, batches, progress=False)
    for w_bits, a_bits in ((4, 4), (6, 3)):
        narrow = QuantConfig(w_bits=w_bits, a_bits=a_bits, **settings)
        recompute_ranges(model, narrow)
        fresh = quantize_model(copy.deepcopy(again), narrow)
        collect_and_compute(fresh, batches, progress=False)
        got, want = model.state_dict(), fresh.state_dict()
        assert got.keys() == want.keys()
        for key in want:
            assert torch.equal(got[key], want[key]), (w_bits, a_bits, key)
        x = batches[1]
        with torch.no_grad():
            assert torch.equal(model(x), fresh(x))


@pytest.mark.slow
def test_calibrate_bit_widths_writes_each_width_from_one_pass(images, tmp_path):
    config = small(images, tmp_path, method="uh", scheme="asym")
    many = calibrate_bit_widths(config, [(8, 8), (4, 4)], out_dir=tmp_path / "many")
    assert [p.name for p in many] == ["uh-asym-w8a8.pt", "uh-asym-w4a4.pt"]
    alone = calibrate(small(images, tmp_path, method="uh", scheme="asym", w_bits=4, a_bits=4,
                            out=tmp_path / "alone.pt"))
    got, want = read_artifact(many[1]), read_artifact(alone)
    assert got["quant_config"] == want["quant_config"] and got["w_bits"] == 4
    assert got["state_dict"].keys() == want["state_dict"].keys()
    for key, value in want["state_dict"].items():
        assert torch.equal(got["state_dict"][key], value), key


def test_recompute_ranges_refuses_other_methods_and_loaded_models(images, tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.ReLU(), nn.Conv2d(2, 2, 1))
    quantize_model(model, QuantConfig(method="uh", scheme="asym", skip_first_conv=False))
    collect_and_compute(model, [torch.randn(2, 1, 4, 4)], progress=False)
    with pytest.raises(ValueError, match="bit widths only"):
        recompute_ranges(model, QuantConfig(method="uh", scheme="sym"))
    with pytest.raises(ValueError, match="bit widths only"):
        recompute_ranges(model, QuantConfig(method="minmax", scheme="asym"))
    loaded, _ = load_calibrated(calibrate(small(images, tmp_path)))
    with pytest.raises(QYoloError, match="holds no calibration statistics"):
        recompute_ranges(loaded, QuantConfig(method="minmax", scheme="asym", w_bits=4, a_bits=4))


# --- bad input -----------------------------------------------------------------------------------------------------
def test_empty_folder_is_named(tmp_path):
    empty = tmp_path / "no_images"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image")
    with pytest.raises(QYoloError, match="no images .* in .*no_images"):
        calibrate(CalibConfig(data=empty, imgsz=64, out=tmp_path / "a.pt", progress=False))
    with pytest.raises(QYoloError, match="does not exist"):
        calibrate(CalibConfig(data=tmp_path / "missing", imgsz=64, out=tmp_path / "a.pt", progress=False))


def test_fewer_images_than_asked_warns_and_uses_them_all(images, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="qyolo")
    logging.getLogger("qyolo").propagate = True
    try:
        path = calibrate(small(images, tmp_path, num_images=50))
    finally:
        logging.getLogger("qyolo").propagate = False
    assert "fewer than the 50 asked" in caplog.text
    sidecar = json.loads(sidecar_path(path).read_text())
    assert sidecar["calibration"]["num_images"] == 6 and sidecar["calibration"]["num_images_asked"] == 50


def test_undecodable_images_are_skipped_and_all_bad_is_an_error(images, tmp_path):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for source in sorted(images.iterdir())[:2]:
        (mixed / source.name).write_bytes(source.read_bytes())
    (mixed / "broken.jpg").write_bytes(b"not a jpeg")
    path = calibrate(small(mixed, tmp_path, num_images=3))
    calibration = json.loads(sidecar_path(path).read_text())["calibration"]
    assert calibration["num_images"] == 2 and calibration["skipped_images"] == [str(mixed / "broken.jpg")]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.png").write_bytes(b"nope")
    with pytest.raises(QYoloError, match="none of the 1 calibration images"):
        calibrate(small(bad, tmp_path, num_images=1))


def edited_checkpoint(tmp_path, key: str, edit) -> Path:
    """The fixture with one weight tensor changed by `edit(tensor)` (in place on a copy)."""
    from yolo.checkpoint import read_checkpoint

    checkpoint = read_checkpoint(FIXTURE_WEIGHTS)
    checkpoint["state_dict"] = dict(checkpoint["state_dict"])
    weight = checkpoint["state_dict"][key].float().clone()  # stored as fp16: scale in fp32
    edit(weight)
    checkpoint["state_dict"][key] = weight
    path = tmp_path / "edited.pt"
    torch.save(checkpoint, path)
    return path


def test_nan_weights_are_refused_at_load_naming_the_tensor(images, tmp_path):
    weights = edited_checkpoint(tmp_path, "model.24.m.0.weight", lambda w: w.view(-1)[0].fill_(float("nan")))
    with pytest.raises(QYoloError, match=r"tensor model\.24\.m\.0\.weight holds 1 NaN/Inf value"):
        calibrate(small(images, tmp_path, weights=weights))


def test_overflowing_activations_name_the_layer(images, tmp_path):
    """Finite weights near float32's maximum in the stem conv (kept in float): the next quantizer sees Inf."""
    weights = edited_checkpoint(tmp_path, "model.0.conv.weight", lambda w: w.div_(w.abs().max()).mul_(3e38))
    with pytest.raises(QYoloError, match=r"layer model\.1\.conv\.input_quantizer: .*NaN/Inf"):
        calibrate(small(images, tmp_path, weights=weights))


def test_non_finite_float_head_output_names_the_module(images, tmp_path):
    """The Detect output convs stay in float, so no quantizer sees them: the output check names the conv."""
    weights = edited_checkpoint(tmp_path, "model.24.m.1.weight", lambda w: w.div_(w.abs().max()).mul_(3e38))
    with pytest.raises(QYoloError, match=r"output holds NaN/Inf on calibration batch 1, first at model\.24\.m\.1 "
                                         r"\(Conv2d\)"):
        calibrate(small(images, tmp_path, weights=weights))


def test_cuda_asked_without_cuda(images, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here: the refusal cannot be shown")
    with pytest.raises(QYoloError, match="CUDA is not available"):
        calibrate(small(images, tmp_path, device="cuda"))


def test_threads_are_restored(images, tmp_path):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        calibrate(small(images, tmp_path, threads=1))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_skip_glob_matching_nothing_is_refused_with_real_names(images, tmp_path):
    with pytest.raises(QYoloError, match=r"^--skip 'model\.99\.\*' matches no module of .*fixture\.pt; module names "
                                         r"look like model\.0\.conv, model\.0\.act, model\.1\.conv, "
                                         r"model\.1\.act\.\.\."):
        calibrate(small(images, tmp_path, skip=("model.9.*", "model.99.*")))


def test_skip_everything_says_nothing_is_left_to_quantize(images, tmp_path):
    with pytest.raises(QYoloError, match=r"nothing left to quantize in .*fixture\.pt: with --skip '\*', every "
                                         r"Conv2d/MaxPool2d stays in float; narrow --skip"):
        calibrate(small(images, tmp_path, skip=("*",)))


def test_output_folder_is_refused_before_the_work(images, tmp_path):
    # the weights do not exist either: the --out error coming first shows nothing was loaded before the check
    with pytest.raises(QYoloError, match=rf"^--out {tmp_path} is an existing folder; give a file path"):
        calibrate(small(images, tmp_path, out=tmp_path, weights=tmp_path / "missing.pt"))


def test_artifact_with_a_wrong_shape_tensor_names_it(images, tmp_path):
    path = calibrate(small(images, tmp_path))
    payload = read_pt(path)
    payload["state_dict"]["model.2.cv1.conv.weight"] = payload["state_dict"]["model.2.cv1.conv.weight"][:, :-1]
    torch.save(payload, path)
    with pytest.raises(QYoloError, match=rf"^calibrated artifact {path}: tensor model\.2\.cv1\.conv\.weight has shape "
                                         r"\[16, 31, 1, 1\] in the file but \[16, 32, 1, 1\] in the model its yaml "
                                         r"builds; it is damaged or was edited: re-run calibration"):
        load_calibrated(path)
