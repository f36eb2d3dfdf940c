"""calib.plot / calib.layer_ranges: every method's range for chosen layers in one pass, drawn on the histogram.

Known answers: a hand-built tensor whose minmax and percentile clips are exact binary fractions; on the real fixture,
the ranges equal those `calib.calibrate` stores in its artifacts; PNGs are valid and written atomically; bad input
is one line, exit 2."""
import json

import pytest
import torch

from calib import CalibConfig, QuantConfig, calibrate_bit_widths, load_calibrated
from calib.calibrators import CALIBRATORS
from calib.layer_ranges import (
    collect_layers,
    layer_report,
    make_layer_calibrators,
    representative_layers,
    resolve_layers,
)
from calib.plot import RangePlotConfig, draw_layer, main, plot_ranges
from calib.quant_desc import QuantDesc
from common.cli import run_cli
from common.errors import QYoloError
from yolo.synthetic import SyntheticConfig, generate_split

ALL = ("minmax", "percentile", "mse", "entropy", "uh-asym", "uh-sym", "minmax-asym")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def known_tensor() -> torch.Tensor:
    """990 x -0.25, 9000 x 0.5, 10 x 4.0. |x| histogram: 2048 bins of width 4/2048 = 2^-9 (exact), right-closed,
    so 0.25 -> bin 127, 0.5 -> bin 255, 4.0 -> bin 2047."""
    return torch.cat([torch.full((990,), -0.25), torch.full((9000,), 0.5), torch.full((10,), 4.0)])


def report_for(values: torch.Tensor, variants=ALL, bits=(8, 4), percentile=99.0, batches=1) -> dict:
    stats = make_layer_calibrators("layer.input_quantizer", variants, QuantConfig(percentile=percentile))
    for chunk in values.chunk(batches):
        for calibrator in {id(c): c for c in [*stats.calibrators.values(), stats.display]}.values():
            calibrator.collect(chunk)
    return layer_report(stats, bits, max_bins=512)


def ranges(report: dict, bits: int) -> dict:
    return {r["variant"]: r for r in report["ranges"] if r["a_bits"] == bits}


def test_minmax_and_percentile_clips_are_the_hand_computed_ones():
    report = report_for(known_tensor())
    for bits in (8, 4):  # neither depends on the width
        found = ranges(report, bits)
        assert (found["minmax"]["clip_low"], found["minmax"]["clip_high"]) == (-4.0, 4.0)
        assert (found["minmax-asym"]["clip_low"], found["minmax-asym"]["clip_high"]) == (-0.25, 4.0)
        # 99% of |x| is reached in bin 255; NVIDIA's percentile takes that bin's LEFT edge, 255 * 2^-9
        assert found["percentile"]["clip_high"] == 255 / 512 and found["percentile"]["clip_low"] == -255 / 512
        assert found["uh-asym"]["clip_low"] == -0.25 and found["uh-asym"]["scheme"] == "asym"
        assert found["minmax"]["clipped_fraction"] == 0.0
        # outside +-0.498: every 0.5 and every 4.0
        assert found["percentile"]["clipped_fraction"] == pytest.approx(9010 / 10000)
    high = report_for(known_tensor(), variants=("percentile",), bits=(8,), percentile=99.95)
    assert ranges(high, 8)["percentile"]["clip_high"] == 2047 / 512  # the bin of 4.0


@pytest.mark.parametrize("bits", [8, 6, 4])
def test_every_range_is_the_calibrators_own(bits):
    """Against a fresh calibrator of each class at that width fed the same batches: the same float32 numbers."""
    generator = torch.Generator().manual_seed(0)
    values = torch.nn.functional.silu(torch.randn(40_000, generator=generator) * 2.5)
    report = report_for(values, bits=(bits,), percentile=99.99, batches=4)
    method_of = {"minmax": ("minmax", True), "percentile": ("percentile", True), "mse": ("mse", True),
                 "entropy": ("entropy", True), "uh-asym": ("uh", False), "uh-sym": ("uh", True),
                 "minmax-asym": ("minmax", False)}
    for variant, found in ranges(report, bits).items():
        method, symmetric = method_of[variant]
        calibrator = CALIBRATORS[method](QuantDesc(num_bits=bits, symmetric=symmetric), "fresh")
        for chunk in values.chunk(4):
            calibrator.collect(chunk)
        expected = calibrator.compute_amax()
        assert found["amax"] == float(expected.amax), variant
        assert found["amin"] == (None if symmetric else float(expected.amin)), variant


def test_signed_histogram_keeps_every_value_in_the_right_bin():
    report = report_for(known_tensor())
    hist = report["histogram"]
    assert hist["total"] == 10000 and hist["min"] == -0.25 and hist["max"] == 4.0
    assert len(hist["counts"]) <= 512
    width, first = hist["bin_width"], hist["first_edge"]
    for value, count in ((-0.25, 990), (0.5, 9000), (4.0, 10)):
        index = int((value - first) // width)
        near = hist["counts"][max(index - 1, 0):index + 2]
        assert count in near and sum(near) == count, value  # in its bin (or the edge's neighbour), nowhere else
    assert first <= -0.25 and first + width * len(hist["counts"]) >= 4.0


def test_representative_and_named_layers():
    names = [f"m.{i}.input_quantizer" for i in range(57)]
    assert representative_layers(names, 3) == ["m.0.input_quantizer", "m.28.input_quantizer", "m.56.input_quantizer"]
    assert representative_layers(names[:2], 3) == names[:2] and representative_layers(names, 1) == [names[28]]
    assert resolve_layers(names, ["m.3", "m.5.input_quantizer", "m.3"]) == [names[3], names[5]]
    with pytest.raises(QYoloError, match="'m.99' is not a quantized layer"):
        resolve_layers(names, ["m.99"])
    with pytest.raises(QYoloError, match="'stem' is kept in float"):
        resolve_layers(names, ["stem"], skipped=["stem"])


def test_png_is_valid_and_written_atomically(tmp_path, monkeypatch):
    import matplotlib.image
    from matplotlib.figure import Figure

    report = report_for(known_tensor())
    report["module"] = "layer"
    path = draw_layer(report, (8, 4), ALL, tmp_path / "layer.png")
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    height, width, _ = matplotlib.image.imread(path).shape
    assert (width, height) == (900, 720)  # 9 x 3.6 inches per panel at 100 dpi, two panels

    def broken(self, fname, **kwargs):  # a write that dies half-way
        with open(fname, "wb") as handle:
            handle.write(PNG_SIGNATURE)
        raise OSError("disk went away")

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(OSError, match="disk went away"):
        draw_layer(report, (8,), ALL, tmp_path / "layer.png")
    assert path.read_bytes() == data  # the old file intact, no temp file left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["layer.png"]


@pytest.fixture(scope="module")
def calib_images(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    folder, _ = generate_split(root, "calib", SyntheticConfig(n_images=4, seed=12), progress=False)
    return folder


# The stage calibrates only model.2 here (faster); a layer kept in float changes no other layer's statistics.
ONLY_MODEL_2 = ("model.1.*", "model.[3-9]*", "model.1?.*", "model.2?.*")


def calibration(calib_images, **quant) -> CalibConfig:
    return CalibConfig(quant=QuantConfig(**quant), data=calib_images, num_images=4, imgsz=64, batch_size=2,
                       threads=1, progress=False)


def test_fixture_ranges_equal_the_calibration_stage(calib_images, tmp_path, capsys):
    """One pass here; a full `calibrate_bit_widths` run per method there: the same numbers at A8 and A4."""
    cfg = RangePlotConfig(calibration=calibration(calib_images), layers=("model.2.cv1.conv",),
                          num_layers=3, variants=("minmax", "percentile", "uh-asym"), a_bits=(8, 4), out=tmp_path / "r")
    result = plot_ranges(cfg)
    assert [layer["module"] for layer in result["layers"]] == ["model.2.cv1.conv"]
    saved = json.loads((tmp_path / "r" / "ranges.json").read_text())
    assert saved == json.loads(json.dumps(result))
    for png in ("model.2.cv1.conv.png", "ranges.png"):
        assert (tmp_path / "r" / png).read_bytes().startswith(PNG_SIGNATURE)
    name = "model.2.cv1.conv.input_quantizer"
    for variant, method, scheme in (("minmax", "minmax", "sym"), ("percentile", "percentile", "sym"),
                                    ("uh-asym", "uh", "asym")):
        stage = calibration(calib_images, method=method, scheme=scheme, skip=ONLY_MODEL_2)
        paths = calibrate_bit_widths(stage, [(8, 8), (4, 4)],
                                     out_dir=tmp_path / "artifacts")
        for bits, path in zip((8, 4), paths):
            quantizer = load_calibrated(path)[0].get_submodule(name)
            found = ranges(saved["layers"][0], bits)[variant]
            assert found["amax"] == float(quantizer.amax), (variant, bits)
            assert found["amin"] == (float(quantizer.amin) if scheme == "asym" else None), (variant, bits)
    assert "model.2.cv1.conv" in capsys.readouterr().out


def test_default_layers_are_early_middle_late(calib_images, tmp_path):
    from calib.layer_ranges import input_quantizers
    from calib.replace import quantize_model
    from yolo.checkpoint import load_model
    from yolo.fixture import FIXTURE_WEIGHTS

    model = quantize_model(load_model(FIXTURE_WEIGHTS), QuantConfig())
    names = list(input_quantizers(model))
    stats = {n: make_layer_calibrators(n, ("minmax",), QuantConfig()) for n in representative_layers(names, 3)}
    assert list(stats) == [names[0], names[len(names) // 2], names[-1]]
    collect_layers(model, stats, [torch.rand(1, 3, 64, 64)], progress=False)
    assert all(s.calibrators["minmax"].batches_seen == 1 for s in stats.values())
    assert all(q.mode.value == "quantize" for q in input_quantizers(model).values())  # modes restored


@pytest.mark.parametrize("argv, message", [
    (["--layers", "model.99.conv"], "layer 'model.99.conv' is not a quantized layer"),
    (["--layers", "model.0.conv"], "layer 'model.0.conv' is kept in float"),
    (["--weights", "/nonexistent/model.pt"], "checkpoint /nonexistent/model.pt does not exist"),
    (["--methods", "kl"], "unknown method variant(s) ['kl']"),
    (["--a-bits", "9"], "a_bits must be an integer in 2..8, got 9"),
])
def test_bad_input_is_one_line_exit_2(argv, message, calib_images, tmp_path, capsys):
    out = tmp_path / "never"
    code = run_cli(main, ["--data", str(calib_images), "--imgsz", "64", "--out", str(out), "--no-progress", *argv])
    err = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("INFO:")]
    assert code == 2 and len(err) == 1 and err[0].startswith("error:") and message in err[0], err
    assert not out.exists()


def test_undecodable_images_are_one_line(tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(2):
        (folder / f"broken{i}.jpg").write_bytes(b"not a jpeg")
    code = run_cli(main, ["--data", str(folder), "--imgsz", "64", "--out", str(tmp_path / "r"), "--no-progress"])
    err = [line for line in capsys.readouterr().err.strip().splitlines() if line.startswith("error:")]
    assert code == 2 and len(err) == 1 and "none of the 2 calibration images" in err[0], err
