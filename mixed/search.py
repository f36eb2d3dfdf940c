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
import time
from pathlib import Path

from tqdm import tqdm

from calib.modes import quant_mode
from common.errors import QYoloError
from common.log import get_logger
from common.threads import torch_threads
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
    from calib import recompute_ranges, run_calibration, save_artifact

    log = get_logger()
    started = time.perf_counter()
    with torch_threads(config.threads):
        low = config.calib_config(config.low_bits)
        given_order = None  # read before the work: a ranking for other settings fails at once
        if config.ranking is not None:
            given_order = ranking_from_file(config.ranking, config.rank_by, config, low.weights)
        calibrated = run_calibration(low)
        model, low_quant = calibrated.model, calibrated.quant
        layers = [layer.name for layer in quantized_layers(model)]
        timings = {"calibration_s": calibrated.timings["calibration_s"]}
        t0 = time.perf_counter()
        budget = math.floor(config.max_share * len(layers) + 1e-9)
        proxy = None
        if config.ranking is None or config.ordering == "greedy":
            x = proxy_inputs(calibrated.meta["data"], config.proxy_images, low.imgsz, config.seed + 1, config.device)
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
        greedy_errors = None
        if config.ordering == "greedy":
            head, greedy_errors = greedy_order(model, low_quant, config.high_bits, order, budget, *proxy,
                                               pool=config.pool, progress=config.progress)
            order = head + [name for name in order if name not in head]
        timings["ranking_s"] = time.perf_counter() - t0

        val_data = config.val_data
        if val_data is None:
            from yolo.fixture import fixture_val_data

            val_data = fixture_val_data(progress=config.progress)
        scorer = ApScorer(val_data, low.imgsz, config.batch, config.device, config.ap_images)
        quantization = {"method": config.method, "scheme": config.scheme}

        def score(quant, label: str) -> float:
            recompute_ranges(model, quant)
            return scorer.score(model, label, {**quantization, "w_bits": quant.w_bits, "a_bits": quant.a_bits,
                                               "mixed": quant.is_mixed})["AP"]

        t0 = time.perf_counter()
        uniform = []
        for w_bits, a_bits in tqdm(config.uniform, desc="uniform widths", unit="eval", disable=not config.progress):
            quant = dataclasses.replace(low_quant, w_bits=w_bits, a_bits=a_bits, layer_bits=())
            uniform.append({"w_bits": w_bits, "a_bits": a_bits, "ap": score(quant, f"uniform-w{w_bits}a{a_bits}")})
        high_ap = next((u["ap"] for u in uniform if (u["w_bits"], u["a_bits"]) == config.high_bits), None)
        if high_ap is None:
            quant = dataclasses.replace(low_quant, w_bits=config.high_bits[0], a_bits=config.high_bits[1],
                                        layer_bits=())
            high_ap = score(quant, "uniform-high")
        timings["uniform_s"] = time.perf_counter() - t0
        target = high_ap - config.target_drop / 100

        def plan_quant(k: int):
            return low_quant.with_layer_bits({name: config.high_bits for name in order[:k]})

        curve: dict[int, float] = {}
        t0 = time.perf_counter()
        bar = tqdm(desc="mixed plans", unit="eval", disable=not config.progress)

        def score_plan(k: int) -> float:
            curve[k] = score(plan_quant(k), f"mixed-k{k}")
            bar.update()
            log.info(f"{k} of {len(layers)} layers at W{config.high_bits[0]}A{config.high_bits[1]}: "
                     f"AP {100 * curve[k]:.1f} (target {100 * target:.1f})")
            return curve[k]

        first_hit = None
        for k in budget_schedule(budget):
            if score_plan(k) >= target and first_hit is None:
                first_hit = k
                if not config.full_curve:
                    break
        if first_hit is not None:  # fill the gap below the first hit: the smallest k of the ranking on target
            below = max((k for k in curve if k < first_hit), default=None)
            for k in range(below + 1 if below is not None else 0, first_hit):
                if score_plan(k) >= target:
                    first_hit = k
                    break
        bar.close()
        timings["plans_s"] = time.perf_counter() - t0
        chosen_k = first_hit if first_hit is not None else max(curve, key=lambda k: (curve[k], -k))
        chosen = plan_quant(chosen_k)
        recompute_ranges(model, chosen)
        artifact = config.out / "mixed.pt"
        plan = {"layers_raised": order[:chosen_k], "raised": chosen_k, "share": chosen_k / len(layers),
                "ap": curve[chosen_k], "reached_target": first_hit is not None,
                "layer_bits": chosen.to_dict()["layer_bits"]}
        timings["total_s"] = time.perf_counter() - started
        save_artifact(artifact, model, chosen, {**calibrated.meta, "timings": timings,
                                                "mixed_plan": {key: plan[key] for key in ("raised", "share", "ap")}})
    return {"format": "q-yolo-mixed/1", "settings": {**config.to_dict(), "imgsz": low.imgsz,
                                                    "weights": str(low.weights), "val_data": str(val_data)},
            "num_layers": len(layers), "budget_layers": budget, "ranking": order,
            "greedy_proxy_errors": greedy_errors, "uniform": uniform,
            "high_ap": high_ap, "target_ap": target,
            "curve": [{"raised": k, "share": k / len(layers), "ap": curve[k]} for k in sorted(curve)],
            "plan": plan, "artifact": str(artifact), "timings": {k: round(v, 2) for k, v in timings.items()}}
