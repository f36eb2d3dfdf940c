"""Mixed precision: the budget schedule, the greedy order raising the fragile layer first, the search end to end
(the curve's ends equal the uniform models, the written artifact holds the plan), bad rankings and options."""
import json
import sys
from pathlib import Path

import pytest
import torch

from calib import QuantConfig, collect_and_compute, load_calibrated, quantize_model, quantizers
from common.cli import run_cli
from mixed import budget_schedule
from mixed.__main__ import main
from mixed.ordering import greedy_order
from sensitivity.layers import quantized_only

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sensitivity"))
from toy_models import fragile_toy  # noqa: E402


def test_budget_schedule():
    assert budget_schedule(14) == [0, 1, 2, 3, 4, 6, 8, 10, 12, 14]
    assert budget_schedule(9) == [0, 1, 2, 3, 4, 6, 8, 9]
    assert budget_schedule(3) == [0, 1, 2, 3] and budget_schedule(0) == [0]


class _KnownCurve:
    """Plans whose AP is a given table: what _search_plans asks for and in which order."""

    def __init__(self, aps):
        self.aps, self.order, self.curve, self.asked = aps, [f"l{i}" for i in range(len(aps))], {}, []

    def score_plan(self, k):
        self.asked.append(k)
        self.curve[k] = self.aps[k]
        return self.aps[k]


@pytest.mark.parametrize("aps, full, found, asked", [
    # first hit on the schedule at 4: nothing below it to fill
    ([.50, .55, .60, .62, .70, .71, .72, .73, .74, .75, .76], False, 4, [0, 1, 2, 3, 4]),
    # the schedule meets the target at 6; the gap below it holds the smallest plan on target, 5
    ([.50, .51, .52, .53, .54, .70, .70, .60, .71, .72, .73], False, 5, [0, 1, 2, 3, 4, 6, 5]),
    # the whole curve first, then the same gap
    ([.50, .51, .52, .53, .54, .70, .70, .60, .71, .72, .73], True, 5, [0, 1, 2, 3, 4, 6, 8, 10, 5]),
    # never on target within the budget
    ([.50, .51, .52, .53, .54, .55, .56, .57, .58, .59, .60], False, None, [0, 1, 2, 3, 4, 6, 8, 10]),
])
def test_search_scores_the_schedule_then_fills_the_gap(aps, full, found, asked):
    from mixed.config import MixedConfig
    from mixed.search import _search_plans

    plans = _KnownCurve(aps)
    config = MixedConfig(device="cpu", full_curve=full, progress=False)
    assert _search_plans(config, plans, budget=10, target=0.7) == found
    assert plans.asked == asked


def test_greedy_raises_the_fragile_layer_first_whatever_the_ranking_says():
    """With an outlier of 30, the 4-bit grid of conv "2"'s input rounds the other channels to zero and the 8-bit grid
    keeps them: raising "2" helps most, though the static ranking given lists it last."""
    model = fragile_toy(outlier=30.0)
    low = QuantConfig(method="minmax", scheme="asym", w_bits=4, a_bits=4, skip_first_conv=False,
                      float_head_classes=())
    quantize_model(model, low)
    collect_and_compute(model, [torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(i))
                                for i in range(2)], progress=False)
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(9))
    with torch.no_grad(), quantized_only(model, []):
        reference = model(x)

    def error(out):
        return float(((out - reference) ** 2).sum() / (reference ** 2).sum())

    ranges_before = [q.amax.clone() for _, q in quantizers(model)]
    chosen, errors = greedy_order(model, low, (8, 8), ["6", "4", "0", "2"], 2, x, error, progress=False)
    assert chosen[0] == "2" and len(chosen) == 2 and errors[0] > errors[1]
    assert {q.num_bits for _, q in quantizers(model)} == {4}  # left at the low widths
    assert all(torch.equal(a, q.amax) for a, (_, q) in zip(ranges_before, quantizers(model)))
    chosen, _ = greedy_order(model, low, (8, 8), ["6", "4", "0", "2"], 1, x, error, pool=2, progress=False)
    assert chosen == ["6"] or chosen == ["4"]  # "2" is outside a pool of the first two


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    from yolo.synthetic import SyntheticConfig, generate_split

    root = tmp_path_factory.mktemp("data")
    _, val = generate_split(root, "val", SyntheticConfig(n_images=6, seed=11), progress=False)
    calib_images, _ = generate_split(root, "calib", SyntheticConfig(n_images=6, seed=12), progress=False)
    return ["--calib-data", str(calib_images), "--val-data", str(val), "--imgsz", "64", "--num-images", "6",
            "--proxy-images", "2", "--device", "cpu", "--no-progress"]


@pytest.mark.slow
def test_search_end_to_end(tiny_data, tmp_path, capsys):
    out = tmp_path / "mixed"
    argv = tiny_data + ["--max-share", "0.04", "--full-curve", "--uniform", "8-8", "4-4", "--target-drop", "0",
                        "--pool", "4", "--out", str(out)]
    assert run_cli(main, argv) == 0
    report = json.loads((out / "mixed.json").read_text())
    assert (out / "mixed.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report["num_layers"] == 57 and report["budget_layers"] == 2
    curve = {point["raised"]: point["ap"] for point in report["curve"]}
    assert sorted(curve) == [0, 1, 2]  # full curve: every step of the budget
    uniform = {(u["w_bits"], u["a_bits"]): u["ap"] for u in report["uniform"]}
    assert curve[0] == uniform[(4, 4)]  # no layer raised is the uniform low model
    assert report["high_ap"] == uniform[(8, 8)] and report["target_ap"] == uniform[(8, 8)]
    plan = report["plan"]
    assert plan["layers_raised"] == report["ranking"][:plan["raised"]] and plan["ap"] == curve[plan["raised"]]
    assert len(set(report["ranking"])) == 57
    model, meta = load_calibrated(out / "mixed.pt")
    raised = set(plan["layers_raised"])
    assert set(meta["quant_config"]["layer_bits"]) == raised
    for name, quantizer in quantizers(model):
        assert quantizer.num_bits == (8 if name.rpartition(".")[0] in raised else 4), name
    assert "plan:" in capsys.readouterr().out
    from eval import EvalConfig, evaluate

    val = tiny_data[tiny_data.index("--val-data") + 1]
    metrics = evaluate(EvalConfig(model=out / "mixed.pt", data=val, imgsz=64, batch=16, progress=False))
    assert metrics["AP"] == plan["ap"]  # the artifact scores what the search scored
    assert metrics["precision"].endswith("-mixed") == bool(raised)


@pytest.mark.slow
def test_a_ranking_for_other_settings_is_refused(tiny_data, tmp_path, capsys):
    ranking = tmp_path / "sensitivity.json"
    ranking.write_text(json.dumps({"settings": {"weights": "yolo/assets/fixture.pt", "method": "uh", "scheme": "asym",
                                                "w_bits": 6, "a_bits": 6},
                                   "layers": [{"layer": "model.1.conv", "float_rank": 1, "alone_rank": 1}]}))
    assert run_cli(main, tiny_data + ["--ranking", str(ranking), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "was made for" in err[0] and "'w_bits': 6" in err[0]


@pytest.mark.parametrize("argv, message", [
    (["--low-bits", "8-8"], "must be wider than low_bits"),
    (["--high-bits", "9-9"], "argument --high-bits: expected bit widths W-A with each in 2..8"),
    (["--max-share", "1.5"], "--max-share"),
    (["--rank-by", "both"], "rank_by 'both' is not one of alone, float"),
    (["--ordering", "random"], "ordering 'random' is not one of"),
    (["--target-drop", "-1"], "target_drop must be a number of AP points >= 0"),
    (["--low-bits", "x"], "expected bit widths"),
])
def test_bad_options_are_one_line(argv, message, capsys, tmp_path):
    assert run_cli(main, argv + ["--device", "cpu", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0]
