"""calib.study: the settings the sweep, sensitivity and mixed share, checked once; subclasses add their own."""
from pathlib import Path

import pytest

from calib.study import LayerStudy
from mixed.config import MixedConfig
from sensitivity.config import SensitivityConfig
from sweep import SweepConfig


def test_calib_config_carries_the_shared_settings_at_the_given_widths(tmp_path):
    study = LayerStudy(method="percentile", scheme="sym", num_images=12, imgsz=320, batch=4, device="cpu",
                       seed=3, threads=2, out=tmp_path / "s")
    study.validate_study((8, 8), tmp_path)
    calib = study.calib_config((6, 4))
    assert (calib.quant.method, calib.quant.scheme, calib.quant.w_bits, calib.quant.a_bits) == ("percentile", "sym",
                                                                                                6, 4)
    assert (calib.num_images, calib.imgsz, calib.batch_size, calib.seed, calib.threads) == (12, 320, 4, 3, 2)
    assert study.out == tmp_path / "s" and study.to_dict()["out"] == str(tmp_path / "s")


def test_each_study_has_its_own_default_folder():
    assert SensitivityConfig(device="cpu").out == Path("runs/sensitivity/fixture")
    assert MixedConfig(device="cpu").out == Path("runs/mixed/fixture")
    assert SweepConfig(device="cpu").out == Path("runs/sweep/fixture")


def test_a_sweep_row_is_its_methods_calibrator_on_its_grid():
    cfg = SweepConfig(device="cpu", quantize_matmul=True)
    quant = cfg.quant("uh-sym", (6, 4))
    assert (quant.method, quant.scheme, quant.w_bits, quant.a_bits, quant.quantize_matmul) == ("uh", "sym", 6, 4, True)


@pytest.mark.parametrize("config, kwargs, message", [
    (SensitivityConfig, {"batch": 0}, "batch"), (MixedConfig, {"batch": 0}, "batch"),
    (SensitivityConfig, {"proxy_images": 0}, "proxy_images"), (MixedConfig, {"ap_images": -1}, "ap_images"),
    (SensitivityConfig, {"method": "bogus"}, "bogus"), (MixedConfig, {"imgsz": 100}, "100"),
    (SensitivityConfig, {"top_k": -1}, "top_k"), (MixedConfig, {"pool": 0}, "pool"),
    (SweepConfig, {"batch": 0}, "batch"), (SweepConfig, {"methods": ["kl"]}, "kl"), (SweepConfig, {"bits": []}, "bit"),
    (SweepConfig, {"bits": [(9, 9)]}, "9"), (SweepConfig, {"ap_images": 0}, "ap_images"),
])
def test_shared_and_own_settings_are_validated(config, kwargs, message):
    with pytest.raises(ValueError, match=message):
        config(device="cpu", **kwargs)


def test_out_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="existing file"):
        SensitivityConfig(device="cpu", out=tmp_path / "f")
