"""Sensitivity: a toy model with one deliberately fragile layer ranks it first in both views; the proxy and the rank
correlation on hand-computed cases; quantizer modes restored; bad options are one line; a tiny real run end to end."""
import json

import pytest
import torch
from toy_models import fragile_toy

from calib import QuantConfig, collect_and_compute, quantize_model, quantizers
from calib.tensor_quantizer import Mode
from common.cli import run_cli
from sensitivity import (
    SensitivityConfig,
    decoded_output_error,
    proxy_sensitivity,
    quantized_layers,
    quantized_only,
    ranked,
    spearman,
)
from sensitivity.__main__ import main
from yolo.family import ANCHOR_FREE, ANCHOR_OBJECTNESS


def relative_error(reference):
    return lambda out: float(((out - reference) ** 2).sum() / (reference ** 2).sum())


@pytest.mark.parametrize("method, scheme", [("minmax", "asym"), ("uh", "asym"), ("minmax", "sym")])
def test_fragile_layer_ranks_first_in_both_views(method, scheme):
    model = fragile_toy()
    quantize_model(model, QuantConfig(method=method, scheme=scheme, w_bits=4, a_bits=4, skip_first_conv=False,
                                      float_head_classes=()))
    batches = [torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    collect_and_compute(model, batches, progress=False)
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(9))
    with torch.no_grad(), quantized_only(model, []):
        reference = model(x)
    layers = quantized_layers(model)
    assert [(layer.name, layer.kind) for layer in layers] == [("0", "conv"), ("2", "conv"), ("4", "conv"),
                                                              ("6", "conv")]
    all_error, records = proxy_sensitivity(model, layers, x, relative_error(reference), progress=False)
    assert ranked(records, "alone")[0]["layer"] == "2"
    assert ranked(records, "float")[0]["layer"] == "2"
    fragile = next(r for r in records if r["layer"] == "2")
    others = [r for r in records if r["layer"] != "2"]
    assert fragile["alone_error"] > 10 * max(r["alone_error"] for r in others)
    assert fragile["float_recovery"] == pytest.approx(all_error - fragile["float_error"])
    assert all(q.mode is Mode.QUANTIZE for _, q in quantizers(model))  # every mode restored


def test_quantized_only_switches_whole_layers_and_restores():
    model = quantize_model(fragile_toy(), QuantConfig(method="minmax", skip_first_conv=False))
    layers = quantized_layers(model)
    next(q for _, q in quantizers(model)).mode = Mode.CALIBRATE
    before = [q.mode for _, q in quantizers(model)]
    with quantized_only(model, [layers[1]]):
        modes = {name: q.mode for name, q in quantizers(model)}
        assert modes["2.input_quantizer"] is modes["2.weight_quantizer"] is Mode.QUANTIZE
        assert {m for n, m in modes.items() if not n.startswith("2.")} == {Mode.DISABLED}
    assert [q.mode for _, q in quantizers(model)] == before


def test_decoded_output_error_hand_computed():
    # two candidates: (cx, cy, w, h, obj, cls0, cls1); the second has no confidence and must not count
    reference = torch.tensor([[[10.0, 10.0, 4.0, 4.0, 1.0, 1.0, 0.0], [50.0, 50.0, 8.0, 8.0, 0.0, 0.5, 0.5]]])
    assert decoded_output_error(reference, reference.clone()) == 0.0
    output = reference.clone()
    output[0, 0, 4] = 0.5  # confidence 1 -> 0.5: confidence error 0.5 / 1
    output[0, 0, 0] = 12.0  # cx off by 2 px on a 4 + 4 px box, weight 1: box error 2 / 8
    output[0, 1, :2] = 90.0  # a box no one scores moves: weight 0
    assert decoded_output_error(reference, output) == pytest.approx(0.5 + 0.25)
    # anchor-free rows are [B, 4 + nc, N] without objectness: the same figures
    free_ref = torch.cat([reference[..., :4], reference[..., 4:5] * reference[..., 5:]], -1).transpose(1, 2)
    free_out = torch.cat([output[..., :4], output[..., 4:5] * output[..., 5:]], -1).transpose(1, 2)
    assert decoded_output_error(free_ref, free_out, ANCHOR_FREE) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="differ in shape"):
        decoded_output_error(reference, reference[:, :1], ANCHOR_OBJECTNESS)


def test_spearman_known_values():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 45]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / (4.5 * 5) ** 0.5)  # ties share rank 2.5
    assert spearman([1, 2], [2, 1]) is None and spearman([1, 1, 1], [1, 2, 3]) is None


@pytest.mark.parametrize("argv, message", [
    (["--w-bits", "9"], "w_bits must be an integer in 2..8"),
    (["--top-k", "-1"], "--top-k"),
    (["--proxy-images", "0"], "--proxy-images: must be a positive integer"),
    (["--method", "kl"], "unknown calibration method"),
    (["--scheme", "asym", "--method", "entropy"], "symmetric only"),
])
def test_bad_options_are_one_line(argv, message, capsys, tmp_path):
    assert run_cli(main, argv + ["--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0]


def test_config_defaults_follow_the_weights():
    config = SensitivityConfig(device="cpu")
    assert config.out.as_posix() == "runs/sensitivity/fixture" and config.w_bits == config.a_bits == 4


@pytest.mark.slow
def test_tiny_run_end_to_end(tmp_path, capsys):
    """Fixture weights, 6 validation and 6 calibration images at 64 px: every file, both views, AP on the top 2."""
    from yolo.synthetic import SyntheticConfig, generate_split

    _, val = generate_split(tmp_path / "data", "val", SyntheticConfig(n_images=6, seed=11), progress=False)
    calib_images, _ = generate_split(tmp_path / "data", "calib", SyntheticConfig(n_images=6, seed=12), progress=False)
    out = tmp_path / "sens"
    argv = ["--calib-data", str(calib_images), "--val-data", str(val), "--imgsz", "64", "--num-images", "6",
            "--proxy-images", "2", "--top-k", "2", "--device", "cpu", "--out", str(out), "--no-progress"]
    assert run_cli(main, argv) == 0
    report = json.loads((out / "sensitivity.json").read_text())
    assert (out / "sensitivity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report["num_layers"] == len(report["layers"]) == 57
    assert sorted(r["alone_rank"] for r in report["layers"]) == list(range(1, 58))
    for view, key in (("alone", "ap_damage"), ("float", "ap_recovery")):
        scored = [r for r in report["layers"] if r.get(key) is not None]
        assert sorted(r[f"{view}_rank"] for r in scored) == [1, 2]  # the top 2 of each view got an AP
        assert report["rank_correlation"][view]["layers"] == 2
    fp32, quantized = report["baseline"]["fp32_ap"], report["baseline"]["quantized_ap"]
    alone = next(r for r in report["layers"] if r.get("ap_damage") is not None)
    assert alone["ap_damage"] == pytest.approx(fp32 - alone["ap_alone"])
    kept_float = next(r for r in report["layers"] if r.get("ap_recovery") is not None)
    assert kept_float["ap_recovery"] == pytest.approx(kept_float["ap_float"] - quantized)
    printed = capsys.readouterr().out
    assert "model.1.conv" in printed and "Spearman" in printed
