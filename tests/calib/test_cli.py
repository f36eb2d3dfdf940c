"""python -m calib as a user runs it (subprocess): an artifact on success; one clear line and exit 2 on bad input."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from yolo.fixture import FIXTURE_WEIGHTS
from yolo.synthetic import SyntheticConfig, generate_split

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # each test runs python -m calib in a subprocess (imports torch: seconds)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder, _ = generate_split(tmp_path_factory.mktemp("cli_data"), "calib", SyntheticConfig(n_images=3, seed=7),
                               progress=False)
    return folder


def run_calib(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "calib", "--threads", "1", "--no-progress", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_cli_writes_the_artifact(images, tmp_path):
    out = tmp_path / "cal" / "minmax.pt"
    result = run_calib("--data", images, "--num-images", 3, "--imgsz", 64, "--batch-size", 2, "--method", "minmax",
                       "--scheme", "asym", "--w-bits", 6, "--a-bits", 8, "--skip", "model.9.*", "--out", out)
    assert result.returncode == 0, result.stderr
    assert f"calibrated artifact: {out}" in result.stdout and out.is_file()
    sidecar = json.loads(out.with_name("minmax.pt.json").read_text())
    assert (sidecar["method"], sidecar["scheme"], sidecar["w_bits"], sidecar["a_bits"]) == ("minmax", "asym", 6, 8)
    assert sidecar["quant_config"]["skip"] == ["model.9.*"]
    assert not any(name.startswith("model.9.") for name in sidecar["ranges"])
    assert "Traceback" not in result.stderr


def _nan_weights(tmp_path) -> Path:
    from yolo.checkpoint import read_checkpoint

    checkpoint = read_checkpoint(FIXTURE_WEIGHTS)
    state = dict(checkpoint["state_dict"])
    state["model.0.conv.weight"] = state["model.0.conv.weight"].clone().fill_(float("inf"))
    checkpoint["state_dict"] = state
    torch.save(checkpoint, tmp_path / "inf.pt")
    return tmp_path / "inf.pt"


@pytest.mark.parametrize("case", ["method", "a_bits", "w_bits_text", "scheme", "asym_entropy", "empty", "missing",
                                  "nan", "imgsz", "unknown_flag"])
def test_cli_bad_input_is_one_line_exit_2(case, images, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    common = ["--data", images, "--imgsz", 64, "--out", tmp_path / "x.pt"]
    args, expected = {
        "method": (["--method", "kl"], "unknown calibration method 'kl'"),
        "a_bits": (["--a-bits", 9], "a_bits must be an integer in 2..8, got 9"),
        "w_bits_text": (["--w-bits", "eight"], "--w-bits: expected a positive integer, got 'eight'"),
        "scheme": (["--scheme", "int8"], "unknown scheme 'int8'"),
        "asym_entropy": (["--method", "entropy", "--scheme", "asym"], "symmetric only"),
        "empty": (["--data", empty], f"no images .* in {empty}"),
        "missing": (["--weights", tmp_path / "none.pt"], "checkpoint .*none.pt does not exist"),
        "nan": (["--weights", _nan_weights(tmp_path)], r"tensor model\.0\.conv\.weight holds 1728 NaN/Inf"),
        "imgsz": (["--imgsz", 100], "multiple of 32"),
        "unknown_flag": (["--bits", 8], "unrecognized arguments: --bits 8"),
    }[case]
    given = dict(zip(common[::2], common[1::2]))
    if len(args) == 2 and args[0] in given:  # the case's own value replaces the default (an option given twice
        given[args[0]] = args[1]             # is refused as a contradiction)
        args = []
    result = run_calib(*[item for pair in given.items() for item in pair], *args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and re.search(expected, errors[0]), result.stderr
    assert not (tmp_path / "x.pt").exists()


def test_cli_fewer_images_warns_and_goes_on(images, tmp_path):
    out = tmp_path / "few.pt"
    result = run_calib("--data", images, "--num-images", 10, "--imgsz", 64, "--method", "minmax", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "has 3 images, fewer than the 10 asked; using all of them" in result.stderr
    assert json.loads(out.with_name("few.pt.json").read_text())["calibration"]["num_images"] == 3
