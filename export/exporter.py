"""export_onnx: calibrated artifact (or FP32 checkpoint) -> cleaned QDQ ONNX for one deployment profile.

Pipeline: torch.onnx (TorchScript exporter, the fake-quant model's own Q/DQ) -> graphsurgeon cleanup -> placement
rules -> [cpu: uint8 activations; integer ops for ONNX Runtime] -> metadata -> onnx.checker -> atomic write +
JSON sidecar `<out>.json`.
"""
import json
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import onnx
import onnx_graphsurgeon as gs
import torch
from torch import nn

from common.atomic import check_output_file, temporary_folder
from common.errors import QYoloError
from common.log import get_logger
from common.onnx_file import RECORD_KEY
from common.paired import write_pair
from common.provenance import versions
from export.cleanup import cleanup_graph, finalize, op_counts
from export.config import ExportConfig
from export.integer_ops import complete_integer_ops
from export.metadata import build_metadata, set_metadata
from export.placement import apply_placement, find_quantizers
from export.qdq import QDQMaker
from export.torch_export import OUTPUT_NAME, export_torch
from yolo.memory import check_batch_fits

SIDECAR_FORMAT = "q-yolo-onnx-export/1"




def quant_summary(model: nn.Module) -> dict[str, Any]:
    """Bits and scheme of the model's quantizers (empty dict when it has none)."""
    from calib.modes import quantizers

    found = list(quantizers(model))
    if not found:
        return {}
    weights = [q for name, q in found if name.endswith("weight_quantizer")]
    activations = [q for name, q in found if not name.endswith("weight_quantizer")]
    schemes = {"sym" if q.symmetric else "asym" for q in activations}
    w_widths, a_widths = sorted({q.num_bits for q in weights}), sorted({q.num_bits for q in activations})
    # A mixed-precision model is described by its lowest widths (what decides emulation, placement and integer
    # ops: its narrow layers need the exact Q/DQ) and lists every width it uses.
    summary = {"quantizers": len(found), "activation_quantizers": len(activations),
               "w_bits": w_widths[0] if w_widths else None, "a_bits": a_widths[0] if a_widths else None,
               "scheme": schemes.pop() if len(schemes) == 1 else ("mixed" if schemes else None)}
    if len(w_widths) > 1 or len(a_widths) > 1:
        summary["mixed"] = {"w_bits": w_widths, "a_bits": a_widths}
    methods = {q.calibrator.method for q in activations if q.calibrator is not None}
    summary["method"] = methods.pop() if len(methods) == 1 else None
    return summary


def _check_profile(cfg: ExportConfig, quant: dict[str, Any], meta: dict[str, Any]) -> None:
    log = get_logger()
    if cfg.profile == "fp32":
        if quant:
            log.info("fp32 profile: the artifact's quantizers are disabled for this export")
        return
    if not quant:
        source = meta.get('path') or cfg.artifact or cfg.weights or 'the model'
        raise QYoloError(f"{source} has no quantizers: the {cfg.profile} profile needs a "
                         f"calibrated artifact (python -m calib); use --profile fp32 for float models")
    if quant["scheme"] == "mixed":
        raise QYoloError("the artifact mixes symmetric and asymmetric activation quantizers; recalibrate with one "
                         "--scheme")
    if cfg.profile == "trt" and quant["scheme"] == "asym":
        source = meta.get('path') or cfg.artifact or 'the artifact'
        raise QYoloError(f"{source} was calibrated with asymmetric activations (uint8, "
                         f"non-zero zero points); TensorRT runs symmetric int8 only. Calibrate with --scheme sym "
                         f"for the trt profile, or export this one with --profile cpu")
    if cfg.profile == "cpu" and quant["scheme"] == "sym":
        log.warning("cpu profile from a symmetric calibration: the activations keep the symmetric grid "
                    "(zero point 0, levels -128..127), re-expressed exactly as uint8 with zero point 128 so that "
                    "ONNX Runtime runs its fast u8s8 kernels. Half of that grid covers negative values SiLU never "
                    "reaches (its minimum is -0.28), so it is coarser than the published asymmetric UH grid; "
                    "calibrate with --scheme asym for the cpu profile's best accuracy")


def activations_to_uint8(graph: gs.Graph) -> int:
    """int8 (symmetric) activation Q/DQ -> uint8 with zero point + 128: the same grid, values bit for bit."""
    maker = QDQMaker(graph)
    changed = 0
    for quantizer in find_quantizers(graph):
        if quantizer.params.dtype != np.int8:
            continue
        zero = maker.constant("uint8_zero_point", (quantizer.params.zero_point.astype(np.int16) + 128)
                              .astype(np.uint8))
        for node in [quantizer.q, *quantizer.dqs]:
            node.inputs[2] = zero
        changed += 1
    graph.cleanup()
    return changed


def _placement(cfg: ExportConfig, quant: dict[str, Any]) -> bool:
    if cfg.profile == "fp32":
        return False
    if cfg.placement is not None:
        return bool(cfg.placement)
    if (quant.get("a_bits") or 8) < 8:
        get_logger().info(f"A{quant['a_bits']} (emulated) layers: placement rules off, Q/DQ exactly at the artifact's "
                          f"quantizers so the graph reproduces the fake-quant accuracy; --placement forces them")
        return False
    return True


def _integer_ops(cfg: ExportConfig, quant: dict[str, Any]) -> bool:
    if cfg.profile != "cpu":
        return False
    if cfg.integer_ops is not None:
        return bool(cfg.integer_ops)
    if (quant.get("a_bits") or 8) < 8:
        get_logger().info(f"cpu profile at A{quant['a_bits']}: integer ops off (the extra 8-bit Q/DQ before "
                          f"{quant['a_bits']}-bit quantizers cost several AP); ONNX Runtime runs the exact graph, "
                          f"slowly. --integer-ops forces them")
        return False
    return True


def _artifact_record(cfg: ExportConfig, meta: dict[str, Any]) -> dict[str, str]:
    """The artifact a quantized graph came from (path + sha256), so a deployed model can be checked against it."""
    path = meta.get("path") if meta.get("source_kind") == "artifact" else None
    if cfg.profile == "fp32" or not path or not Path(path).is_file():
        return {}
    from common.provenance import file_sha256

    return {"qyolo.artifact": str(Path(path).resolve()), "qyolo.artifact_sha256": file_sha256(path)}


def _num_preds(model: nn.Module, imgsz: int) -> int | None:
    with torch.no_grad():
        output = model(torch.zeros(1, 3, imgsz, imgsz))
    pred = output[0] if isinstance(output, (tuple, list)) else output
    if not isinstance(pred, torch.Tensor) or pred.dim() != 3:
        return None
    from yolo.registry import head_layout_of

    return int(head_layout_of(model).rows(pred).shape[1])


def _to_proto(graph: gs.Graph, opset: int) -> onnx.ModelProto:
    return finalize(graph.copy(), opset)


def export_model(model: nn.Module, cfg: ExportConfig, meta: dict[str, Any] | None = None,
                 calib_batches: Iterable[np.ndarray] | None = None) -> Path:
    """Export an in-memory model (calibrated fake-quant, or float) per `cfg`; returns the ONNX path.

    calib_batches: float32 NCHW batches in [0, 1] for the cpu profile's integer-op ranges (else loaded from
    cfg.calib_data or the images the artifact's calibration used).
    """
    started = time.perf_counter()
    meta = dict(meta or {})
    out = Path(cfg.out)
    check_output_file(out)
    quant = quant_summary(model)
    _check_profile(cfg, quant, meta)
    log = get_logger()
    model = model.eval().float().cpu()
    check_batch_fits(model, cfg.imgsz, cfg.batch, f"exporting {out.name}")
    if cfg.profile == "fp32" and quant:
        from calib.modes import quant_mode
        context = quant_mode(model, "disabled")
    else:
        import contextlib
        context = contextlib.nullcontext()
    integer_ops = _integer_ops(cfg, quant)
    if integer_ops and quant["method"] is None:
        raise QYoloError("the model's activation quantizers use several calibration methods; the integer ops "
                         "take their ranges with one: export with --no-integer-ops")
    if integer_ops and calib_batches is None:  # before the export's work: a missing image source is one line now
        from export.source import calibration_batches
        calib_batches = calibration_batches(meta, cfg.imgsz, cfg.calib_images, cfg.calib_seed, cfg.calib_data)
    with context, temporary_folder("qyolo-export-") as tmp:
        raw_path = export_torch(model, Path(tmp) / "raw.onnx", cfg.imgsz, cfg.batch, cfg.dynamic_batch, cfg.opset)
        raw = onnx.load(str(raw_path))
        num_preds = _num_preds(model, cfg.imgsz)
    graph, cleanup_report = cleanup_graph(raw, keep_outputs=[OUTPUT_NAME])
    report: dict[str, Any] = {"cleanup": cleanup_report}
    placement = _placement(cfg, quant)
    if placement:
        report["placement"] = apply_placement(graph).to_dict()
    activation_dtype = None
    if cfg.profile == "cpu":
        report["activations_retyped_to_uint8"] = activations_to_uint8(graph)
        activation_dtype = "uint8"
    elif cfg.profile == "trt":
        activation_dtype = "int8"
    if integer_ops:
        report["integer_ops"] = complete_integer_ops(graph, _to_proto(graph, cfg.opset), calib_batches,
                                                     method=quant["method"]).to_dict()
    proto = _to_proto(graph, cfg.opset)
    quant_meta = {**quant, "activation_dtype": activation_dtype} if cfg.profile != "fp32" else {}
    metadata = build_metadata(model, cfg.profile, out.stem, cfg.imgsz, cfg.dynamic_batch, num_preds, quant_meta,
                              placement, integer_ops, {**_artifact_record(cfg, meta), **cfg.extra_metadata})
    set_metadata(proto, metadata)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise RuntimeError(f"the exported graph fails onnx.checker (a bug in export/): {exc}") from exc
    counts = op_counts(gs.import_onnx(proto))
    # The ONNX carries its own record; the sidecar is derived from it (common.paired: consistent by hash).
    record = {"format": SIDECAR_FORMAT, "onnx": out.name, "config": cfg.to_dict(), "source": _source_record(meta),
              "quantization": quant, "opset": cfg.opset, "op_counts": counts, "passes": report,
              "seconds": round(time.perf_counter() - started, 2),
              "versions": versions("torch", "onnx", "onnx_graphsurgeon", "onnxruntime")}
    set_metadata(proto, {RECORD_KEY: json.dumps(record, default=str)})
    write_pair(out, proto.SerializeToString(), {**record, "metadata": metadata})
    seconds = record["seconds"]
    log.info(f"exported {out} ({cfg.profile}, {metadata['qyolo.precision']}, opset {cfg.opset}, "
             f"{counts.get('QuantizeLinear', 0)} Q / {counts.get('DequantizeLinear', 0)} DQ, "
             f"{sum(counts.values())} nodes) in {seconds:.1f} s")
    return out


def _source_record(meta: dict[str, Any]) -> dict[str, Any]:
    """What the ONNX records of its source: the artifact's metadata without its per-quantizer ranges (bulk that
    the artifact itself holds)."""
    return {key: value for key, value in meta.items() if key != "ranges"}


def export_onnx(cfg: ExportConfig) -> Path:
    """The export stage's public function: load cfg.artifact or cfg.weights and export it; returns the path."""
    from export.source import load_source

    if cfg.artifact is None and cfg.weights is None:
        raise QYoloError("give --artifact (a calibrated artifact, for trt/cpu) or --weights (an FP32 checkpoint, "
                         "for fp32)")
    check_output_file(cfg.out)
    model, meta = load_source(cfg.artifact, cfg.weights)
    return export_model(model, cfg, meta)
