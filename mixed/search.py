"""search_mixed: the fewest layers raised from low to high bit widths (W4A4 -> W8A8) that bring the model within
`target_drop` AP of the uniform high-width model, from one calibration pass.

Layers are raised in the order of a sensitivity view (the float view by default: what keeping a layer wide
recovers from the fully quantized model), computed from the same calibration pass or read from a sensitivity.json,
and by default refined greedily on the proxy (mixed.ordering) up to the budget.
A plan "the first k layers of the ranking" is applied with calib.recompute_ranges (ranges for the new widths from
the statistics the calibrators hold; no second pass over the images) and scored with COCO AP. k runs over a
coarse schedule up to the budget (max_share of the layers) until a plan reaches the target, then the gap below
it is filled in one step at a time, so the plan reported is the smallest k of the ranking that reaches the target
(AP is not guaranteed to grow with k; the curve in mixed.json shows every k scored). The chosen plan is written as
a calibrated artifact with per-layer widths (QuantConfig.layer_bits): python -m export / python -m eval take it.
"""
import dataclasses
import json
import math
from pathlib import Path

from tqdm import tqdm

from calib.modes import quant_mode
from common.errors import QYoloError
from common.log import get_logger
from common.output_set import begin_output_set
from common.provenance import run_provenance
from common.threads import torch_threads
from common.timing import StepTimes
from mixed.config import MixedConfig
from mixed.ordering import greedy_order
from sensitivity.analysis import first_output, proxy_inputs, proxy_layout, proxy_sensitivity, ranked
from sensitivity.layers import quantized_layers
from sensitivity.proxy import decoded_output_error
from sensitivity.scoring import ApScorer


def budget_schedule(budget: int) -> list[int]:
    """Layer counts scored first: every count up to 4, then every second one, and the budget itself."""
    return sorted({k for k in [*range(0, 5), *range(6, budget + 1, 2), budget] if k <= budget})


def ranking_from_file(path: Path, view: str, config: MixedConfig, calib_weights: Path) -> list[str]:
    """Layer order of `view` from a sensitivity.json made for the same weights, method, scheme and low widths."""
    try:
        report = json.loads(Path(path).read_text())
        settings, layers = report["settings"], report["layers"]
        order = [r["layer"] for r in sorted(layers, key=lambda r: r[f"{view}_rank"])]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise QYoloError(f"cannot read the layer ranking from {path} ({type(exc).__name__}: {exc}); give the "
                         "sensitivity.json written by python -m sensitivity") from None
    wanted = {"method": config.method, "scheme": config.scheme, "w_bits": config.low_bits[0],
              "a_bits": config.low_bits[1]}
    found = {key: settings.get(key) for key in wanted}
    if found != wanted or Path(settings.get("weights", "")).resolve() != Path(calib_weights).resolve():
        raise QYoloError(f"the ranking {path} was made for {settings.get('weights')} {found}, not for "
                         f"{calib_weights} {wanted}; rerun python -m sensitivity with these settings or leave "
                         "--ranking out")
    return order


def search_mixed(config: MixedConfig) -> dict:
    """Run the search; write <out>/mixed.pt (+ sidecar) for the chosen plan; return the report (mixed.json's)."""
    from calib import run_calibration

    times = StepTimes()
    val_data = config.checked_val_data()
    with torch_threads(config.threads):
        low = config.calib_config(config.low_bits)
        given_order = None  # read before the work: a ranking for other settings fails at once
        if config.ranking is not None:
            given_order = ranking_from_file(config.ranking, config.rank_by, config, low.weights)
        calibrated = run_calibration(low)
        times.add("calibration_s", calibrated.timings["calibration_s"])
        layers = [layer.name for layer in quantized_layers(calibrated.model)]
        budget = math.floor(config.max_share * len(layers) + 1e-9)
        with times.step("ranking_s"):
            order, greedy_errors = _layer_order(config, calibrated, layers, budget, given_order, low.imgsz)
        plans = _PlanScorer(config, calibrated, order, ApScorer(val_data, low.imgsz, config.batch, config.device,
                                                               config.ap_images))
        with times.step("uniform_s"):
            uniform, high_ap = _uniform_points(config, plans)
        target = high_ap - config.target_drop / 100
        with times.step("plans_s"):
            first_hit = _search_plans(config, plans, budget, target)
        chosen_k = first_hit if first_hit is not None else max(plans.curve, key=lambda k: (plans.curve[k], -k))
        plan, artifact = _write_plan(config, calibrated, plans, chosen_k, first_hit is not None, times)
    return {"format": "q-yolo-mixed/1", "settings": {**config.to_dict(), "imgsz": low.imgsz,
                                                    "weights": str(low.weights), "val_data": str(val_data)},
            "num_layers": len(layers), "budget_layers": budget, "ranking": order,
            "greedy_proxy_errors": greedy_errors, "uniform": uniform,
            "high_ap": high_ap, "target_ap": target,
            "curve": [{"raised": k, "share": k / len(layers), "ap": plans.curve[k]} for k in sorted(plans.curve)],
            "plan": plan, "artifact": str(artifact), "timings": times.record(), "provenance": run_provenance()}


def _layer_order(config: MixedConfig, calibrated, layers: list[str], budget: int, given_order: list[str] | None,
                 imgsz: int) -> tuple[list[str], list | None]:
    """The order layers are raised in: the given ranking or the proxy's, refined greedily up to the budget;
    returns (order, the greedy steps' proxy errors or None)."""
    model = calibrated.model
    proxy = None
    if given_order is None or config.ordering == "greedy":
        x = proxy_inputs(calibrated.meta["data"], config.proxy_images, imgsz, config.seed + 1, config.device)
        layout = proxy_layout(model)
        with quant_mode(model, "disabled"):
            reference = first_output(model, x)
        proxy = (x, lambda out: decoded_output_error(reference, out, layout))
    if given_order is not None:
        order = given_order
        missing = sorted(set(layers) - set(order))
        if missing or set(order) - set(layers):
            raise QYoloError(f"the ranking {config.ranking} does not list this model's quantized layers "
                             f"(e.g. {missing[:2]}); rerun python -m sensitivity on it")
    else:
        _, records = proxy_sensitivity(model, quantized_layers(model), *proxy, progress=config.progress)
        order = [r["layer"] for r in ranked(records, config.rank_by)]
    if config.ordering != "greedy":
        return order, None
    head, greedy_errors = greedy_order(model, calibrated.quant, config.high_bits, order, budget, *proxy,
                                       pool=config.pool, progress=config.progress)
    return head + [name for name in order if name not in head], greedy_errors


class _PlanScorer:
    """AP of a width plan on the one calibrated model: ranges recomputed from the calibrators' statistics, then
    scored; `curve` holds AP per number of raised layers (the first k of `order`)."""

    def __init__(self, config: MixedConfig, calibrated, order: list[str], scorer: ApScorer):
        self.config, self.model, self.low_quant, self.order, self.scorer = (config, calibrated.model,
                                                                            calibrated.quant, order, scorer)
        self.curve: dict[int, float] = {}

    def score(self, quant, label: str) -> float:
        from calib import recompute_ranges

        recompute_ranges(self.model, quant)
        quantization = {"method": self.config.method, "scheme": self.config.scheme, "w_bits": quant.w_bits,
                        "a_bits": quant.a_bits, "mixed": quant.is_mixed}
        return self.scorer.score(self.model, label, quantization)["AP"]

    def uniform(self, bits: tuple[int, int]) -> float:
        quant = dataclasses.replace(self.low_quant, w_bits=bits[0], a_bits=bits[1], layer_bits=())
        return self.score(quant, f"uniform-w{bits[0]}a{bits[1]}")

    def plan(self, k: int):
        """The QuantConfig of the plan raising the first k layers of the order."""
        return self.low_quant.with_layer_bits({name: self.config.high_bits for name in self.order[:k]})

    def score_plan(self, k: int) -> float:
        self.curve[k] = self.score(self.plan(k), f"mixed-k{k}")
        return self.curve[k]


def _uniform_points(config: MixedConfig, plans: _PlanScorer) -> tuple[list[dict], float]:
    """AP at every uniform width of config.uniform (for the plot), and at the uniform high widths (the target's
    reference, scored once more only when config.uniform leaves it out)."""
    uniform = [{"w_bits": w, "a_bits": a, "ap": plans.uniform((w, a))}
               for w, a in tqdm(config.uniform, desc="uniform widths", unit="eval", disable=not config.progress)]
    high_ap = next((u["ap"] for u in uniform if (u["w_bits"], u["a_bits"]) == config.high_bits), None)
    return uniform, plans.uniform(config.high_bits) if high_ap is None else high_ap


def _search_plans(config: MixedConfig, plans: _PlanScorer, budget: int, target: float) -> int | None:
    """Score plans over the budget schedule until one reaches `target` (all of them with full_curve), then fill
    the gap below the first hit one layer at a time; returns the smallest k found on target, or None."""
    log = get_logger()
    high = config.high_bits
    with tqdm(desc="mixed plans", unit="eval", disable=not config.progress) as bar:
        def on_target(k: int) -> bool:
            ap = plans.score_plan(k)
            bar.update()
            log.info(f"{k} of {len(plans.order)} layers at W{high[0]}A{high[1]}: AP {100 * ap:.1f} "
                     f"(target {100 * target:.1f})")
            return ap >= target

        first_hit = None
        for k in budget_schedule(budget):
            if on_target(k) and first_hit is None:
                first_hit = k
                if not config.full_curve:
                    break
        if first_hit is None:
            return None
        below = max((k for k in plans.curve if k < first_hit), default=None)
        for k in range(below + 1 if below is not None else 0, first_hit):
            if on_target(k):
                return k
    return first_hit


def _write_plan(config: MixedConfig, calibrated, plans: _PlanScorer, chosen_k: int, reached: bool,
                times: StepTimes) -> tuple[dict, Path]:
    """Set the chosen plan's ranges and write it as <out>/mixed.pt; returns (the plan's summary, the artifact)."""
    from calib import recompute_ranges, save_artifact

    chosen = plans.plan(chosen_k)
    recompute_ranges(calibrated.model, chosen)
    num_layers = len(plans.order)
    plan = {"layers_raised": plans.order[:chosen_k], "raised": chosen_k, "share": chosen_k / num_layers,
            "ap": plans.curve[chosen_k], "reached_target": reached, "layer_bits": chosen.to_dict()["layer_bits"]}
    artifact = config.out / "mixed.pt"
    begin_output_set(config.out / "mixed.json")  # mixed.pt, mixed.png and mixed.json are one set
    save_artifact(artifact, calibrated.model, chosen, {**calibrated.meta, "timings": times.record(),
                                                      "mixed_plan": {key: plan[key] for key in ("raised", "share",
                                                                                                  "ap")}})
    return plan, artifact
