"""analyze_sensitivity: per quantized layer, how much quantizing it costs, from one calibration pass.

Two views per layer L, both scored with the decoded-output proxy (sensitivity.proxy) on a few images against the
float model, then the top-k of each view with COCO AP:
- alone: L alone quantized, every other layer in float. Damage = what L's quantization costs by itself.
- float: every layer quantized but L, which stays in float. Recovery = what keeping L wide gives back from the
  fully quantized model: the view a mixed-precision plan (raise layers to 8 bits) is built from.
Quantizer statistics do not depend on which other quantizers are on (calibration runs the model in float), so one
calibration pass serves every layer: the views only switch quantizers on and off. Spearman's rank correlation
between proxy and AP over the top-k says how far the proxy's ranking can be trusted.
"""
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from tqdm import tqdm

from calib.modes import quant_mode
from common.errors import QYoloError
from common.log import get_logger
from common.provenance import run_provenance
from common.threads import torch_threads
from common.timing import StepTimes
from sensitivity.config import VIEWS, SensitivityConfig
from sensitivity.layers import QuantizedLayer, quantized_layers, quantized_only
from sensitivity.proxy import decoded_output_error, spearman
from sensitivity.scoring import ApScorer

VIEW_SCORE = {"alone": "alone_error", "float": "float_recovery"}  # the proxy figure each view ranks by
VIEW_AP = {"alone": "ap_damage", "float": "ap_recovery"}


def first_output(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The decoded output the proxy compares: every candidate, also from a head that selects its detections (an
    end-to-end top-k would pair different candidates of two models); proxy_layout(model) says how it is laid out."""
    from yolo.family import candidate_outputs

    with torch.no_grad(), candidate_outputs(model):
        out = model(x)
    return out[0] if isinstance(out, (tuple, list)) else out


def proxy_layout(model: nn.Module):
    """The layout of first_output(model)."""
    from yolo.family import candidate_outputs
    from yolo.registry import head_layout_of

    with candidate_outputs(model):
        return head_layout_of(model)


def proxy_sensitivity(model: nn.Module, layers: list[QuantizedLayer], x: torch.Tensor,
                      error: Callable[[torch.Tensor], float], progress: bool = True) -> tuple[float, list[dict]]:
    """(error of the fully quantized model, one record per layer: alone_error, float_error, float_recovery).
    `error(output)` scores the model's output on `x` against the reference the caller holds."""
    with quantized_only(model, layers):
        all_error = error(first_output(model, x))
    records = []
    for layer in tqdm(layers, desc="proxy per layer", unit="layer", disable=not progress):
        with quantized_only(model, [layer]):
            alone = error(first_output(model, x))
        with quantized_only(model, [other for other in layers if other is not layer]):
            kept_float = error(first_output(model, x))
        records.append({"layer": layer.name, "kind": layer.kind, "parameters": layer.parameters,
                        "alone_error": alone, "float_error": kept_float, "float_recovery": all_error - kept_float})
    return all_error, records


def ranked(records: list[dict], view: str) -> list[dict]:
    """Records ordered by the view's proxy figure, most sensitive first."""
    return sorted(records, key=lambda r: -r[VIEW_SCORE[view]])


def proxy_inputs(source, count: int, imgsz: int, seed: int, device: str) -> torch.Tensor:
    from calib.data import CalibrationImages, calibration_image_paths

    paths = calibration_image_paths(source, count, seed)
    batches = list(CalibrationImages(paths, imgsz, len(paths)))
    if not batches:
        raise QYoloError(f"none of the {len(paths)} proxy images drawn from {source} could be decoded")
    return batches[0].to(device)


def analyze_sensitivity(config: SensitivityConfig) -> dict:
    """Calibrate once, score every layer in both views with the proxy, the top-k with AP; returns the report
    (what sensitivity.json holds). Writing the files is sensitivity.report's."""
    from calib import run_calibration

    log = get_logger()
    times = StepTimes()
    val_data = config.checked_val_data()
    with torch_threads(config.threads):
        calib_config = config.calib_config(config.bits)
        calibrated = run_calibration(calib_config)
        model = calibrated.model
        times.add("calibration_s", calibrated.timings["calibration_s"])
        layers = quantized_layers(model)
        x = proxy_inputs(calibrated.meta["data"], config.proxy_images, calib_config.imgsz, config.seed + 1,
                         config.device)
        layout = proxy_layout(model)
        with quant_mode(model, "disabled"):
            reference = first_output(model, x)
        with times.step("proxy_s"):
            all_error, records = proxy_sensitivity(model, layers, x, lambda out: decoded_output_error(
                reference, out, layout), progress=config.progress)
        with times.step("ap_s"):
            baseline, ap_counts = _score_top_k(model, layers, records, config, calib_config.imgsz, val_data)
    correlation = {}
    for view in VIEWS:
        scored = [r for r in records if r.get(VIEW_AP[view]) is not None]
        correlation[view] = {"spearman": spearman([r[VIEW_SCORE[view]] for r in scored],
                                                  [r[VIEW_AP[view]] for r in scored]) if scored else None,
                             "layers": len(scored)}
    for view in VIEWS:
        for rank, record in enumerate(ranked(records, view), 1):
            record[f"{view}_rank"] = rank
    timings = times.record()
    log.info(f"sensitivity of {len(layers)} layers in {timings['total_s']:.0f} s "
             f"({ap_counts} AP evaluations)")
    return {"format": "q-yolo-sensitivity/1", "settings": {**config.to_dict(), "imgsz": calib_config.imgsz,
                                                          "weights": str(calib_config.weights)},
            "quantization": calibrated.quant.to_dict(), "calibration": calibrated.meta["calibration"],
            "num_layers": len(layers), "baseline": {**baseline, "quantized_proxy": all_error},
            "rank_correlation": correlation, "layers": ranked(records, "alone"),
            "timings": timings, "provenance": run_provenance()}


def _score_top_k(model: nn.Module, layers: list[QuantizedLayer], records: list[dict], config: SensitivityConfig,
                 imgsz: int, val_data: Path) -> tuple[dict, int]:
    """FP32 and fully quantized AP, then per view the top_k layers' AP; adds ap_* keys to the records."""
    scorer = ApScorer(val_data, imgsz, config.batch, config.device, config.ap_images)
    by_name = {layer.name: layer for layer in layers}
    plan = [("fp32", None, []), ("quantized", None, layers)]
    for view in VIEWS:
        for record in ranked(records, view)[:config.top_k]:
            layer = by_name[record["layer"]]
            plan.append((view, record, [layer] if view == "alone" else [o for o in layers if o is not layer]))
    results = {}
    for view, record, on in tqdm(plan, desc="AP of the top layers", unit="eval", disable=not config.progress):
        with quantized_only(model, on):
            ap = scorer.score(model, f"sensitivity/{view}/{record['layer'] if record else ''}")["AP"]
        if record is None:
            results[view] = ap
        elif view == "alone":
            record["ap_alone"], record["ap_damage"] = ap, results["fp32"] - ap
        else:
            record["ap_float"], record["ap_recovery"] = ap, ap - results["quantized"]
    return {"fp32_ap": results["fp32"], "quantized_ap": results["quantized"], "ap_images": config.ap_images,
            "val_data": str(val_data)}, len(plan)
