"""Per-layer bit widths (QuantConfig.layer_bits): validation, the quantizers they build, ranges recomputed from one
pass equal to a calibration made with the plan, and a mixed artifact that round-trips (older artifacts too)."""
import io
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from calib import QuantConfig, collect_and_compute, load_calibrated, quantize_model, quantizers, recompute_ranges
from calib.artifact import _sidecar_record, build_payload, save_artifact
from common.errors import QYoloError
from common.paired import write_pair

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "export"))
from export_helpers import calib_batches, calibrated_fixture  # noqa: E402


def toy() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(8, 4, 1))


def test_layer_bits_forms_normalise_to_sorted_triples_and_round_trip():
    triples = (("b", 8, 4), ("a", 6, 6))
    as_dicts = {"b": {"w_bits": 8, "a_bits": 4}, "a": {"w_bits": 6, "a_bits": 6}}
    for given in (triples, {"b": (8, 4), "a": [6, 6]}, as_dicts):
        config = QuantConfig(w_bits=4, a_bits=4, layer_bits=given)
        assert config.layer_bits == (("a", 6, 6), ("b", 8, 4)) and config.is_mixed
        assert QuantConfig.from_dict(config.to_dict()) == config
    config = QuantConfig(w_bits=4, a_bits=4, layer_bits={"b": (8, 4)})
    assert config.bits_for("b") == (8, 4) and config.bits_for("other") == (4, 4)
    assert config.weight_desc_for("b").num_bits == 8 and config.activation_desc_for("b").num_bits == 4
    assert config.with_layer_bits({"b": (4, 4), "c": (8, 8)}).layer_bits == (("c", 8, 8),)  # uniform entries dropped
    assert not QuantConfig().is_mixed and QuantConfig().to_dict()["layer_bits"] == {}
    old = {key: value for key, value in QuantConfig().to_dict().items() if key != "layer_bits"}
    assert QuantConfig.from_dict(old) == QuantConfig()  # artifacts written before per-layer widths


@pytest.mark.parametrize("bad, message", [
    ({"a": (9, 8)}, "w_bits must be an integer in 2..8"), ({"a": (8, 1)}, "a_bits must be an integer in 2..8"),
    ([("a", 8, 8), ("a", 4, 4)], "names 'a' twice"), ("model.1", "single string"), ([("", 8, 8)], "entries are"),
    ({"a": {"w_bits": 8}}, "must hold w_bits and a_bits"), ({"a": 8}, "must be (w_bits, a_bits)"),
])
def test_bad_layer_bits_name_the_value(bad, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        QuantConfig(layer_bits=bad)


def test_quantizers_take_their_layers_widths_and_unknown_names_are_refused():
    model = quantize_model(toy(), QuantConfig(method="minmax", w_bits=4, a_bits=4, skip_first_conv=False,
                                              layer_bits={"2": (8, 6), "4": (4, 8)}))
    bits = {name: q.num_bits for name, q in quantizers(model)}
    assert bits == {"0.input_quantizer": 4, "0.weight_quantizer": 4, "2.input_quantizer": 6,
                    "2.weight_quantizer": 8, "4.input_quantizer": 8, "5.input_quantizer": 4,
                    "5.weight_quantizer": 4}
    with pytest.raises(ValueError, match=r"layer_bits names \['9'\] but no quantized"):
        quantize_model(toy(), QuantConfig(layer_bits={"9": (8, 8)}))


@pytest.mark.parametrize("method, scheme", [("uh", "asym"), ("minmax", "sym")])
def test_recomputed_plan_equals_a_calibration_made_with_it(method, scheme):
    """One pass at W4A4, then the plan recomputed from the statistics: the same ranges as calibrating with the plan."""
    plan = {"2": (8, 8), "4": (8, 8)}
    batches = [torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    base = QuantConfig(method=method, scheme=scheme, w_bits=4, a_bits=4, skip_first_conv=False)
    recomputed = quantize_model(toy(), base)
    collect_and_compute(recomputed, batches, progress=False)
    recompute_ranges(recomputed, base.with_layer_bits(plan))
    direct = quantize_model(toy(), base.with_layer_bits(plan))
    collect_and_compute(direct, batches, progress=False)
    for (name, got), (_, want) in zip(quantizers(recomputed), quantizers(direct)):
        assert got.num_bits == want.num_bits, name
        assert torch.equal(got.amax, want.amax) and torch.equal(got.amin, want.amin), name
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(recomputed(x), direct(x))
    with pytest.raises(ValueError, match="no quantized"):
        recompute_ranges(recomputed, base.with_layer_bits({"nope": (8, 8)}))


PLAN = {"model.1.conv": (8, 8), "model.9.m": (8, 8), "model.17.cv3.conv": (8, 4)}


@pytest.fixture(scope="module")
def mixed_model():
    model = calibrated_fixture(scheme="asym", bits=4)
    quant = QuantConfig(method="uh", scheme="asym", w_bits=4, a_bits=4, layer_bits=PLAN)
    recompute_ranges(model, quant)
    return model, quant


def test_mixed_artifact_round_trips(tmp_path, mixed_model):
    model, quant = mixed_model
    path = save_artifact(tmp_path / "mixed.pt", model, quant, {"imgsz": 64})
    loaded, meta = load_calibrated(path)
    assert QuantConfig.from_dict(meta["quant_config"]) == quant
    assert meta["quant_config"]["layer_bits"]["model.17.cv3.conv"] == {"w_bits": 8, "a_bits": 4}
    assert meta["ranges"]["model.1.conv.input_quantizer"]["num_bits"] == 8
    assert meta["ranges"]["model.2.cv1.conv.input_quantizer"]["num_bits"] == 4
    assert {n: q.num_bits for n, q in quantizers(loaded)} == {n: q.num_bits for n, q in quantizers(model)}
    x = calib_batches(1, 2)[0]
    with torch.no_grad():
        assert torch.equal(loaded(x)[0], model.eval()(x)[0])


def test_artifact_without_layer_bits_loads_uniform(tmp_path):
    """An artifact written before per-layer widths existed (no layer_bits key) loads as the uniform model it was."""
    model = calibrated_fixture(scheme="asym", bits=8)
    payload = build_payload(model, QuantConfig(method="uh", scheme="asym"), {"imgsz": 64})
    del payload["quant_config"]["layer_bits"]
    path = tmp_path / "old.pt"
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_pair(path, buffer.getvalue(), _sidecar_record(payload, path))
    loaded, meta = load_calibrated(path)
    assert {q.num_bits for _, q in quantizers(loaded)} == {8}
    x = calib_batches(1, 2)[0]
    with torch.no_grad():
        assert torch.equal(loaded(x)[0], model.eval()(x)[0])


def test_artifact_naming_an_unknown_layer_is_one_error(tmp_path, mixed_model):
    model, quant = mixed_model
    payload = build_payload(model, quant, {"imgsz": 64})
    payload["quant_config"]["layer_bits"]["model.99.conv"] = {"w_bits": 8, "a_bits": 8}
    path = tmp_path / "edited.pt"
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_pair(path, buffer.getvalue(), _sidecar_record(payload, path))
    with pytest.raises(QYoloError, match="model.99.conv.*re-run calibration"):
        load_calibrated(path)
