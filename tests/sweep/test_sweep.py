"""The Table 1 sweep (python -m sweep): layout, records, the Done checks, the units and their merge, bad arguments;
a tiny real run end to end."""
import argparse
import json
from pathlib import Path

import pytest

from calib.study_cli import bit_widths
from common.cli import run_cli
from eval.coco_eval import METRIC_KEYS
from sweep import SweepConfig, run_sweep
from sweep import report as table
from sweep.__main__ import main
from sweep.config import METHODS
from sweep.run import UnitResult, merge, sweep_units
from yolo.synthetic import SyntheticConfig, generate_split


def test_bit_widths():
    assert bit_widths("8-8") == (8, 8) and bit_widths("w4a8") == (4, 8) and bit_widths("6") == (6, 6)
    for bad in ("9-9", "1-4", "x", "8-8-8", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="bit widths"):
            bit_widths(bad)


def rec(row, w, a, ap):
    method, scheme = METHODS[row] if row != "fp32" else ("fp32", "float")
    return {"row": row, "method": method, "scheme": scheme, "w_bits": w, "a_bits": a,
            **{k: ap for k in METRIC_KEYS}}


def test_done_checks_pass_and_fail_on_known_numbers():
    records = [rec("fp32", 32, 32, 0.786), rec("uh-asym", 8, 8, 0.780), rec("uh-asym", 4, 4, 0.50),
               rec("percentile", 4, 4, 0.01), rec("minmax", 4, 4, 0.55), rec("uh-sym", 4, 4, 0.08)]
    checks = {c["claim"]: c["passed"] for c in table.done_checks(records)}
    assert checks == {"W8A8 uh-asym loses at most 0.5 AP against FP32": False,  # 0.6 AP
                      "W4A4 uh-asym beats percentile and minmax": False,  # minmax 55.0 > 50.0
                      "W4A4 uh-asym beats uh-sym": True}
    assert table.done_checks([rec("fp32", 32, 32, 0.5)]) == []  # rows missing: no claims


def test_rows_in_paper_order():
    records = [rec("uh-asym", 4, 4, 0.1), rec("minmax", 4, 4, 0.1), rec("uh-asym", 8, 8, 0.1),
               rec("fp32", 32, 32, 0.1), rec("minmax", 8, 8, 0.1)]
    got = [(r["row"], r["w_bits"]) for r in table.ordered(records, ["minmax", "uh-asym"], [(8, 8), (4, 4)])]
    assert got == [("fp32", 32), ("minmax", 8), ("uh-asym", 8), ("minmax", 4), ("uh-asym", 4)]


def test_units_and_their_merge():
    """One unit per method plus FP32 and the ranges; the merge orders rows across units and keeps every timing."""
    cfg = SweepConfig(methods=["uh-asym", "minmax"], bits=[(8, 8), (4, 4)], device="cpu")
    assert sweep_units(cfg) == ["fp32", "uh-asym", "minmax", "ranges"]
    results = [UnitResult("minmax", [rec("minmax", 4, 4, 0.1), rec("minmax", 8, 8, 0.7)], {"minmax_calibrate_s": 2.0}),
               UnitResult("fp32", [rec("fp32", 32, 32, 0.8)], {"fp32_eval_s": 1.0}, num_val_images=6),
               UnitResult("uh-asym", [rec("uh-asym", 8, 8, 0.79), rec("uh-asym", 4, 4, 0.5)], {"x_s": 0.123})]
    rows, timings, num_val = merge(cfg, results)
    assert [(r["row"], r["w_bits"]) for r in rows] == [("fp32", 32), ("uh-asym", 8), ("minmax", 8), ("uh-asym", 4),
                                                       ("minmax", 4)]
    assert timings == {"minmax_calibrate_s": 2.0, "fp32_eval_s": 1.0, "x_s": 0.12} and num_val == 6


@pytest.mark.parametrize("argv, message", [
    (["--methods", "kl"], "argument --methods: invalid choice: 'kl'"),
    (["--bits", "9-9"], "bit widths W-A with each in 2..8"),
    (["--num-images", "0"], "--num-images: must be a positive integer, got 0"),
    (["--imgsz", "100"], "multiple of 32"),
    (["--ap-images", "0"], "--ap-images: must be a positive integer, got 0"),
])
def test_bad_arguments_are_one_line(argv, message, capsys):
    assert run_cli(main, argv + ["--out", "/nonexistent/never-written"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0]


@pytest.mark.slow
def test_tiny_sweep_end_to_end(tmp_path, capsys):
    """Real calibration + evaluation on 6 validation and 4 calibration images at 64 px (a few seconds)."""
    _, val = generate_split(tmp_path / "data", "val", SyntheticConfig(n_images=6, seed=11), progress=False)
    calib_images, _ = generate_split(tmp_path / "data", "calib", SyntheticConfig(n_images=4, seed=12), progress=False)
    out = tmp_path / "table"
    records = run_sweep(SweepConfig(val_data=val, calib_data=calib_images, num_images=4, imgsz=64, batch=4,
                                    device="cpu", methods=["minmax", "uh-asym"], bits=[(8, 8), (4, 4)], out=out,
                                    progress=False))
    assert [(r["row"], r["w_bits"], r["a_bits"]) for r in records] == [
        ("fp32", 32, 32), ("minmax", 8, 8), ("uh-asym", 8, 8), ("minmax", 4, 4), ("uh-asym", 4, 4)]
    saved = json.loads((out / "table.json").read_text())
    assert saved == json.loads(json.dumps(records))
    for record in saved:
        assert {"method", "scheme", "w_bits", "a_bits", *METRIC_KEYS} <= set(record)
        assert all(-1.0 <= record[k] <= 1.0 for k in METRIC_KEYS)
    assert saved[1]["scheme"] == "sym" and saved[2]["scheme"] == "asym" and saved[2]["method"] == "uh"
    assert sorted(p.name for p in (out / "artifacts").iterdir()) == sorted(
        ["minmax-sym-w8a8.pt", "minmax-sym-w4a4.pt", "uh-asym-w8a8.pt", "uh-asym-w4a4.pt"] +
        [f"{n}.json" for n in ["minmax-sym-w8a8.pt", "minmax-sym-w4a4.pt", "uh-asym-w8a8.pt", "uh-asym-w4a4.pt"]])
    markdown = (out / "table.md").read_text()
    assert "| bits | method | grid | AP |" in markdown and "| 4-4 | uh-asym | asym |" in markdown
    assert "In float: stem conv and Detect output convs (yolov5 family)." in markdown
    run = json.loads((out / "run.json").read_text())
    assert run["settings"]["num_val_images"] == 6 and run["settings"]["num_images"] == 4
    assert {c["claim"] for c in run["checks"]} >= {"W4A4 uh-asym beats minmax"}
    assert set(run["run"]["files"]) == {"table.json", "table.md", "ap_vs_bits.png"}  # the set run.json describes
    printed = capsys.readouterr().out
    assert "FP32" in printed and "uh-asym" in printed
    assert (out / "ap_vs_bits.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    # the clipping-range figures of the same calibration settings: the two methods at A8 and A4, three layers
    ranges = json.loads((out / "ranges" / "ranges.json").read_text())
    assert len(ranges["layers"]) == 3 and ranges["settings"]["a_bits"] == [8, 4]
    assert {(r["variant"], r["a_bits"]) for r in ranges["layers"][0]["ranges"]} == {
        (m, b) for m in ("minmax", "uh-asym") for b in (8, 4)}
    assert run["timings"]["ranges_s"] > 0


def test_quantize_matmul_reaches_every_row(tmp_path):
    """--quantize-matmul on a (thin) YOLO11: the row's artifact records it and the report says so."""
    weights = Path(__file__).resolve().parents[1] / "yolo" / "data" / "ultralytics" / "yolo11-thin.pt"
    _, val = generate_split(tmp_path / "data", "val", SyntheticConfig(n_images=2, seed=11), progress=False)
    calib_images, _ = generate_split(tmp_path / "data", "calib", SyntheticConfig(n_images=2, seed=12), progress=False)
    out = tmp_path / "table"
    run_sweep(SweepConfig(weights=weights, val_data=val, calib_data=calib_images, num_images=2, imgsz=64, batch=2,
                          device="cpu", methods=["uh-asym"], bits=[(8, 8)], out=out, progress=False, ranges=False,
                          quantize_matmul=True))
    from calib import load_calibrated

    _, meta = load_calibrated(out / "artifacts" / "uh-asym-w8a8.pt")
    assert meta["quant_config"]["quantize_matmul"] is True
    assert "attention MatMul inputs quantized" in (out / "table.md").read_text()
    assert json.loads((out / "run.json").read_text())["settings"]["quantize_matmul"] is True
