"""make_calibrator builds every method from its registry entry with the settings that method declares, and a
quantizer's grid lives in one place."""
import dataclasses

import pytest

from calib import QuantDesc, TensorQuantizer, make_calibrator
from calib.calibrators import CALIBRATORS


@pytest.mark.parametrize("method", sorted(CALIBRATORS))
def test_each_method_gets_only_its_settings(method):
    settings = {"num_bins": 512, "start_bin": 64, "percentile": 99.9}
    calibrator = make_calibrator(method, QuantDesc(8, symmetric=True), "layer", **settings)
    assert type(calibrator) is CALIBRATORS[method] and calibrator.name == "layer"
    for key in ("start_bin", "percentile"):
        if key in CALIBRATORS[method].settings:
            assert getattr(calibrator, key) == settings[key]
        else:
            assert not hasattr(calibrator, key)


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown calibration method 'kl'"):
        make_calibrator("kl", QuantDesc(8, symmetric=True))


def test_a_quantizer_grid_change_reaches_its_calibrator():
    quantizer = TensorQuantizer(QuantDesc(8, symmetric=False), make_calibrator("uh", QuantDesc(8, False)), "q")
    quantizer.desc = dataclasses.replace(quantizer.desc, num_bits=4)
    assert quantizer.num_bits == 4 and quantizer.calibrator.desc.num_bits == 4 and quantizer.quant_max == 15
    bare = TensorQuantizer(QuantDesc(8, symmetric=True), None, "w")
    bare.desc = dataclasses.replace(bare.desc, num_bits=6)
    assert bare.num_bits == 6 and bare.quant_max == 31
