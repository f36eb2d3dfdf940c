"""One evaluation run: a backend over a dataset (letterbox -> model -> NMS -> back-mapping) scored by pycocotools."""
import dataclasses
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from common import validate
from common.atomic import check_output_dir, check_output_file, write_text_atomic
from common.errors import QYoloError
from common.log import get_logger
from common.output_set import begin_output_set, commit_output_set
from eval.backends.base import backend_class_names, backend_layout, create_backend
from eval.coco_eval import detections_to_coco, score_detections
from eval.ultralytics_metric import ultralytics_ap
from yolo.datasets import open_dataset
from yolo.images import read_image
from yolo.letterbox import clip_boxes, preprocess, rect_batches, scale_boxes
from yolo.nms import non_max_suppression


@dataclass
class EvalConfig:
    model: str | Path
    data: str | Path
    backend: str = "torch"
    imgsz: int | None = None  # None: the model's fixed input, else the size it records (export, calibration,
    # training), else 640
    batch: int = 8
    device: str = "cpu"
    conf_thres: float = 0.001
    iou_thres: float | None = None  # None: the validator setting of the model's head layout (0.6 v5/v7, 0.7 v8/11;
    # end-to-end heads take no NMS)
    max_det: int = 300
    max_images: int | None = None
    out: str | Path | None = None
    backend_options: dict = field(default_factory=dict)
    progress: bool = True
    fidelity: bool = True  # check a quantized deployed model against its calibrated artifact before scoring
    fidelity_images: int = 16
    artifact: str | Path | None = None  # the artifact to check against (None = the one the model records)
    rect: bool = False  # score on the validator's per-batch rectangles (val.py / yolo val), not imgsz squares

    def __post_init__(self):
        if self.imgsz is not None:
            validate.image_size(self.imgsz)
        validate.positive_int(self.batch, "batch")
        validate.fraction(self.conf_thres, "conf_thres")
        if self.iou_thres is not None:
            validate.fraction(self.iou_thres, "iou_thres")
        validate.positive_int(self.max_det, "max_det")
        if self.max_images is not None:
            validate.positive_int(self.max_images, "max_images")
        validate.torch_device(self.device)
        if self.backend_options.get("threads") is not None:
            validate.thread_count(self.backend_options["threads"], "threads")
        validate.positive_int(self.fidelity_images, "fidelity_images")


def _batch_plan(records, cfg: EvalConfig, backend) -> list[tuple[list, tuple[int, int]]]:
    """(records, input (h, w)) per batch: imgsz squares in dataset order, or the validator's rectangles."""
    if not cfg.rect:
        return [(records[i:i + cfg.batch], (cfg.imgsz, cfg.imgsz)) for i in range(0, len(records), cfg.batch)]
    if backend.input_size is not None:
        raise QYoloError(f"--rect needs a model that takes any input size, but {cfg.model} takes only "
                         f"{backend.input_size}; evaluate the .pt / calibrated artifact, or drop --rect")
    stride = max(32, int(getattr(backend, "stride", 32)))
    sizes = [(r.height, r.width) if r.height > 0 and r.width > 0 else (1, 1) for r in records]  # 0: unreadable
    plan = rect_batches(sizes, cfg.imgsz, cfg.batch, stride=stride)
    return [([records[i] for i in indices], shape) for indices, shape in plan]


def _load_batches(plan, imgsz: int, resize_style: str):
    """Yield (input shape, [(record, CHW input, letterbox meta)]); undecodable images are reported and skipped."""
    logger = get_logger()
    for records, shape in plan:
        items = []
        for record in records:
            try:
                img = read_image(record.path)
            except QYoloError as exc:
                logger.warning(f"skipping: {exc}")
                continue
            chw, meta = preprocess(img, imgsz, shape, resize_style)
            items.append((record, chw, meta))
        if items:
            yield shape, items


def run_backend(backend, dataset, cfg: EvalConfig) -> tuple[list[dict], list[int], int, dict[int, np.ndarray]]:
    """Detections (COCO results), ids of images scored (in the order run), the count of skipped images, and per
    image the detections not clipped to it ([n, 6] x1, y1, x2, y2, score, category id: what `yolo val` matches)."""
    records = dataset.images[: cfg.max_images] if cfg.max_images else dataset.images
    results, scored, unclipped = [], [], {}
    class_to_category = dataset.categories_for(backend_class_names(backend), str(cfg.model))
    category = np.asarray(class_to_category, np.float64)
    layout = backend_layout(backend)
    iou_thres = layout.nms_iou if cfg.iou_thres is None else cfg.iou_thres
    bar = tqdm(total=len(records), desc=f"eval {backend.name}/{backend.precision}", unit="img",
               disable=not cfg.progress)
    plan = _batch_plan(records, cfg, backend)
    resize_style = layout.val_resize if cfg.rect else "area-down"  # squares: the one preprocessing calib also uses
    for shape, items in _load_batches(plan, cfg.imgsz, resize_style):
        pred = np.asarray(backend(np.stack([chw for _, chw, _ in items])), dtype=np.float32)
        if layout.num_classes(pred) > len(class_to_category):
            raise QYoloError(f"{cfg.model} predicts {layout.num_classes(pred)} classes but {cfg.data} lists only "
                             f"{len(class_to_category)} categories; evaluate on a dataset whose category "
                             "list covers every class of the model")
        if not np.isfinite(pred).all():  # NMS would silently drop or keep garbage boxes: AP would just look low
            bad = [record.path.name for (record, _, _), p in zip(items, pred) if not np.isfinite(p).all()]
            raise QYoloError(f"{backend.name}/{backend.precision} produced NaN/Inf predictions for "
                             f"{len(bad)} image(s) ({', '.join(bad[:3])}); the model {cfg.model} is broken "
                             "(check it with python -m eval --backend torch on its checkpoint, or re-export it)")
        dets = non_max_suppression(torch.from_numpy(pred), cfg.conf_thres, iou_thres, cfg.max_det, layout=layout)
        for (record, _, meta), det in zip(items, dets):
            det[:, :4] = scale_boxes(shape, det[:, :4], meta.original_shape, meta.ratio_pad, clip=False)
            raw = det.double().numpy().copy()
            raw[:, 5] = category[raw[:, 5].astype(int)]
            unclipped[record.id] = raw
            clip_boxes(det[:, :4], meta.original_shape)
            results.extend(detections_to_coco(record.id, det.numpy(), class_to_category))
            scored.append(record.id)
        bar.update(len(items))
    bar.close()
    return results, scored, len(records) - len(scored), unclipped


def check_backend_memory(backend, cfg: EvalConfig) -> None:
    """Refuse a batch the machine cannot hold before it is loaded: measured on a torch model, the input batch
    alone for a runtime (which holds its own activations)."""
    from common.memory import check_fits
    from yolo.memory import INPUT_BYTES_PER_PIXEL, check_batch_fits

    model = getattr(backend, "model", None)
    if isinstance(model, torch.nn.Module):
        check_batch_fits(model, cfg.imgsz, cfg.batch, f"evaluating {cfg.model}")
    else:
        check_fits(cfg.batch * cfg.imgsz ** 2 * INPUT_BYTES_PER_PIXEL, f"evaluating {cfg.model} at --imgsz "
                   f"{cfg.imgsz} and --batch {cfg.batch}", "use a smaller --batch")


def check_deployed(backend, cfg: EvalConfig) -> dict | None:
    """The fidelity report of a quantized model on a runtime (None for FP32 models and the torch backend, where
    there is nothing to compare); a check that cannot run is recorded as skipped, with why."""
    from eval.fidelity import check_backend, resolve_artifact
    from eval.fidelity.report import summary_line

    if backend.name == "torch" or str(backend.precision).upper().startswith(("FP32", "FP16")):
        return None
    log = get_logger()
    try:
        artifact = resolve_artifact(cfg.model, cfg.artifact)
        report = check_backend(backend, artifact, cfg.fidelity_images, fallback_data=cfg.data, imgsz=cfg.imgsz,
                               device=cfg.device, progress=cfg.progress)
    except QYoloError as exc:
        report = {"verdict": "skipped", "reasons": [str(exc)]}
    line = summary_line(report)
    if report["verdict"] == "pass":
        log.info(line)
    elif report["verdict"] == "fail":
        log.error(f"{line}\nTHE DEPLOYED MODEL DOES NOT COMPUTE WHAT ITS ARTIFACT COMPUTES: the AP below is the "
                  f"runtime's error, not the quantization's (on CPUs, use the uint8 `cpu` profile graphs)")
    else:
        log.warning(line)
    return report


def model_imgsz(model: str | Path, backend) -> int:
    """The input size to evaluate `model` at when none is given: its fixed input, the size its ONNX export records,
    the size its calibrated artifact or checkpoint records (yolo.checkpoint.trained_imgsz), else 640."""
    from yolo.checkpoint import trained_imgsz

    if isinstance(backend.input_size, int):
        return backend.input_size
    recorded = str((getattr(backend, "metadata", None) or {}).get("qyolo.imgsz", ""))
    if recorded.isdigit() and int(recorded) > 0:
        return int(recorded)
    checkpoint_size = trained_imgsz(model) if Path(model).suffix == ".pt" else None
    return checkpoint_size or 640


def evaluate(cfg: EvalConfig, backend=None) -> dict:
    """Metrics (AP, AP50, AP75, APs, APm, APl) plus what was evaluated; writes detections/metrics under cfg.out.

    `backend`: an open backend to score instead of opening cfg.backend on cfg.model (e.g.
    TorchBackend.from_model on a model in memory; cfg.model then only labels the run). It is left open.
    """
    metrics_path, _ = output_paths(cfg.out)
    if metrics_path is not None and Path(cfg.out).suffix == ".json":  # checked before the work, not after it
        check_output_file(metrics_path)
    elif metrics_path is not None:
        check_output_dir(cfg.out)
    dataset = open_dataset(cfg.data)
    t0 = time.perf_counter()
    given = backend is not None
    if not given:
        backend = create_backend(cfg.backend, cfg.model, device=cfg.device, **cfg.backend_options)
    if cfg.imgsz is None:
        cfg = dataclasses.replace(cfg, imgsz=model_imgsz(cfg.model, backend))
    fixed = backend.input_size
    if fixed is not None and fixed != cfg.imgsz and not cfg.rect:
        raise QYoloError(f"{cfg.model} takes {fixed}x{fixed} inputs but --imgsz is {cfg.imgsz}; "
                         f"use --imgsz {fixed} or re-export at {cfg.imgsz}")
    try:
        check_backend_memory(backend, cfg)
        fidelity = check_deployed(backend, cfg) if cfg.fidelity else None
        results, scored, skipped, unclipped = run_backend(backend, dataset, cfg)
    finally:
        if not given:
            backend.close()
    if not scored:
        raise QYoloError(f"no image of {cfg.data} could be decoded; check the image folder")
    metrics_path, detections_path = output_paths(cfg.out)
    if metrics_path is not None:
        begin_output_set(metrics_path)  # detections, report and metrics are one set: no old metrics beside new files
    metrics = score_detections(dataset.coco, results, scored, detections_path)
    metrics["ultralytics"] = ultralytics_ap(dataset.coco, unclipped, scored)  # what yolo val would print
    metrics.update({
        "model": str(cfg.model), "backend": backend.name, "precision": backend.precision,
        "quantization": backend.quantization, "imgsz": cfg.imgsz, "head_layout": backend_layout(backend).name,
        "data": str(cfg.data), "num_images": len(scored), "skipped_images": skipped,
        "num_detections": len(results), "seconds": round(time.perf_counter() - t0, 2),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
    })
    if fidelity is not None:
        metrics["fidelity"] = fidelity
    if metrics_path:
        report = write_text_atomic(metrics_path.with_suffix(".md"), markdown_report(metrics))
        commit_output_set(metrics_path, metrics, [detections_path, report])
    return metrics


def markdown_report(metrics: dict) -> str:
    """metrics.md: the AP table, and the fidelity verdict of a deployed model."""
    from eval.fidelity.report import summary_line
    from eval.report import format_markdown

    fidelity = summary_line(metrics["fidelity"]) if metrics.get("fidelity") else None
    return format_markdown([metrics]) + (f"\n{fidelity}\n" if fidelity else "")


def output_paths(out: str | Path | None) -> tuple[Path | None, Path | None]:
    """`out` is a metrics .json file (detections beside it) or a folder (metrics.json + detections.json)."""
    if out is None:
        return None, None
    out = Path(out)
    if out.suffix == ".json":
        return out, out.with_name(out.stem + "_detections.json")
    return out / "metrics.json", out / "detections.json"
