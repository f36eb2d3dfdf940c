"""Deployment fidelity: does a deployed model (ONNX on ONNX Runtime / OpenVINO, a TensorRT engine) compute what the
calibrated artifact it came from computes? Run both on a few images, compare the decoded detections, give a
verdict (pass / warn / fail) with the figures.

A quantized model can be exact in PyTorch and wrong in a runtime (an integer kernel that mishandles a data type on
one CPU kind is enough); AP alone would only show a lower number. The public function is `check_fidelity`;
`check_backend` runs the same check on a backend that is already open (python -m eval uses it).
"""
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from common.atomic import check_output_file, write_json_atomic
from common.errors import QYoloError
from eval.backends.base import backend_layout, create_backend
from eval.fidelity.compare import Thresholds, compare_outputs, judge
from eval.fidelity.source import NOT_QUANTIZED, comparison_images, find_artifact

DEFAULT_IMAGES = 16


@dataclass(frozen=True)
class FidelityConfig:
    """model: the deployed .onnx / engine; backend: ort | openvino | tensorrt; artifact: the calibrated artifact
    it came from (None = the one its metadata or sidecar records); data: images to compare on (None = the
    artifact's calibration images); imgsz: None = the model's own input size."""
    model: str | Path
    backend: str = "ort"
    artifact: str | Path | None = None
    data: str | Path | None = None
    images: int = DEFAULT_IMAGES
    imgsz: int | None = None
    device: str = "cpu"
    backend_options: dict = field(default_factory=dict)
    thresholds: Thresholds | None = None  # None: Thresholds.for_bits(the artifact's activation bits)
    out: str | Path | None = None
    progress: bool = True

    def __post_init__(self):
        if isinstance(self.images, bool) or not isinstance(self.images, int) or self.images < 1:
            raise ValueError(f"images must be a positive integer, got {self.images!r}")
        if self.imgsz is not None and (self.imgsz < 32 or self.imgsz % 32):
            raise ValueError(f"imgsz must be a positive multiple of 32, got {self.imgsz}")
        if self.backend == "torch":
            raise ValueError("the torch backend runs the artifact itself: nothing to compare; choose ort, openvino "
                             "or tensorrt")


def resolve_artifact(model: str | Path, artifact: str | Path | None) -> Path:
    if artifact is not None:
        if not Path(artifact).is_file():
            raise QYoloError(f"calibrated artifact {artifact} does not exist; give the .pt written by python -m calib")
        return Path(artifact)
    found, status = find_artifact(model)
    if found is None:
        if status == NOT_QUANTIZED:
            raise QYoloError(f"{model} is not quantized (no Q/DQ): there is no calibrated artifact to check it "
                             f"against")
        raise QYoloError(status)
    return found


def _load_inputs(paths: list[Path], imgsz: int) -> np.ndarray:
    from yolo.images import read_image
    from yolo.letterbox import preprocess

    return np.stack([preprocess(read_image(p), imgsz)[0] for p in paths])


@torch.no_grad()
def _reference_outputs(model: torch.nn.Module, x: np.ndarray, device: str, batch: int = 8) -> np.ndarray:
    outputs = []
    for start in range(0, len(x), batch):
        out = model(torch.from_numpy(x[start:start + batch]).to(device))
        outputs.append((out[0] if isinstance(out, (tuple, list)) else out).float().cpu().numpy())
    return np.concatenate(outputs)


def _check_same_model(model, reference: np.ndarray, deployed: np.ndarray, backend, artifact) -> None:
    """The deployed model and the artifact must be the same network: same head layout, same output shape."""
    from yolo.registry import head_layout_of

    label = getattr(backend, "model_path", None) or backend.name
    ours, theirs = head_layout_of(model), backend_layout(backend)
    if ours != theirs or reference.shape != deployed.shape:
        raise QYoloError(f"{label} is not the model of calibrated artifact {artifact}: it outputs "
                         f"{list(deployed.shape)} ({theirs.name}) where the artifact outputs {list(reference.shape)} "
                         f"({ours.name}); give the artifact this model was exported from (--artifact)")


def check_backend(backend, artifact: str | Path, images: int = DEFAULT_IMAGES, data: str | Path | None = None,
                  fallback_data: str | Path | None = None, imgsz: int | None = None, device: str = "cpu",
                  thresholds: Thresholds | None = None, progress: bool = True) -> dict:
    """The fidelity report of an open backend against `artifact` (see FidelityConfig for the arguments)."""
    from calib import load_calibrated

    steps = tqdm(total=3, desc=f"fidelity {backend.name}", unit="step", disable=not progress)
    reference_device = device if str(device).startswith("cuda") and torch.cuda.is_available() else "cpu"
    model, meta = load_calibrated(artifact, device=reference_device)
    thresholds = thresholds or Thresholds.for_bits(meta.get("a_bits"))
    fixed = backend.input_size if isinstance(backend.input_size, int) else None
    size = imgsz or fixed or int(meta.get("imgsz") or 640)
    paths = comparison_images(meta, data, images, fallback=fallback_data)
    x = _load_inputs(paths, size)
    steps.update()
    reference = _reference_outputs(model, x, reference_device)
    steps.update()
    deployed = np.asarray(backend(x), dtype=np.float32)
    steps.update()
    steps.close()
    _check_same_model(model, reference, deployed, backend, artifact)
    if not np.isfinite(deployed).all():
        bad = int((~np.isfinite(deployed)).sum())
        figures, verdict, reasons = None, "fail", [f"{bad} non-finite values in the deployed model's output"]
    else:
        figures = compare_outputs(reference, deployed, backend_layout(backend))
        verdict, reasons = judge(figures, thresholds)
    return {"verdict": verdict, "reasons": reasons, "figures": figures.to_dict() if figures else None,
            "backend": backend.name, "precision": backend.precision, "artifact": str(artifact),
            "imgsz": size, "images": [str(p) for p in paths], "reference_device": reference_device,
            "thresholds": vars(thresholds)}


def check_fidelity(cfg: FidelityConfig) -> dict:
    """Run cfg.model on its backend and its calibrated artifact in torch on the same images; the report
    (verdict, reasons, figures) is returned and, with cfg.out, written as JSON."""
    if cfg.out:
        check_output_file(cfg.out)  # before the work
    artifact = resolve_artifact(cfg.model, cfg.artifact)
    backend = create_backend(cfg.backend, cfg.model, device=cfg.device, **cfg.backend_options)
    try:
        report = check_backend(backend, artifact, cfg.images, cfg.data, None, cfg.imgsz, cfg.device,
                               cfg.thresholds, cfg.progress)
    finally:
        backend.close()
    report["model"] = str(cfg.model)
    if cfg.out:
        write_json_atomic(cfg.out, report)
    return report


__all__ = ["FidelityConfig", "Thresholds", "check_backend", "check_fidelity", "resolve_artifact"]
