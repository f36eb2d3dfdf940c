"""PyTorch backend: an FP32 checkpoint, or a calibrated artifact run with fake quantization."""
from pathlib import Path

import numpy as np
import torch

from common.errors import QYoloError
from yolo.checkpoint import read_checkpoint

CALIBRATED_FORMAT = "q-yolo-calibrated"


def is_calibrated_artifact(path: str | Path) -> bool:
    """True when `path` is a calibrated artifact (the one place that knows how to tell)."""
    obj = read_checkpoint(path)
    return isinstance(obj, dict) and obj.get("format") == CALIBRATED_FORMAT


def _precision_label(meta: dict) -> str:
    """'fakequant-<method>-<scheme>-w<W>a<A>' from whatever of the quantization settings the artifact records."""
    cfg = next((meta[k] for k in ("quant_config", "config", "quant") if isinstance(meta.get(k), dict)), meta)
    parts = [str(cfg[k]) for k in ("method", "scheme") if cfg.get(k)]
    return "-".join(["fakequant", *parts, f"w{cfg.get('w_bits', '?')}a{cfg.get('a_bits', '?')}"])


def load_torch_model(path: str | Path, device: str = "cpu") -> tuple[torch.nn.Module, str]:
    """(model in eval mode on `device`, precision label) for an FP32 checkpoint or a calibrated artifact."""
    if is_calibrated_artifact(path):
        try:
            from calib import load_calibrated
        except ImportError:
            raise QYoloError(f"{path} is a calibrated artifact but this checkout's calib package has no "
                             "load_calibrated(); update calib/") from None
        model, meta = load_calibrated(path)
        return model.to(device).eval(), _precision_label(dict(meta or {}))
    from yolo.checkpoint import load_model

    return load_model(path, device=device), "fp32"


def _layout_of(model: torch.nn.Module):
    """The model family's head layout; a model with neither family nor yaml (not built here) is read as YOLOv5's."""
    from yolo.family import ANCHOR_OBJECTNESS, family_of_model

    if getattr(model, "family", None) is None and not isinstance(getattr(model, "yaml", None), dict):
        return ANCHOR_OBJECTNESS
    return family_of_model(model).head_layout


class TorchBackend:
    name = "torch"
    input_size = None

    def __init__(self, model_path: str | Path, device: str = "cpu", threads: int | None = None, **options):
        if options:
            raise QYoloError(f"torch backend: unknown options {sorted(options)}")
        if str(device).startswith("cuda") and not torch.cuda.is_available():
            raise QYoloError(f"device {device!r} asked but CUDA is not available here; use --device cpu")
        if threads:
            torch.set_num_threads(threads)
        self.device = torch.device(device)
        self.model, self.precision = load_torch_model(model_path, device=str(self.device))
        self.layout = _layout_of(self.model)

    @torch.no_grad()
    def __call__(self, batch: np.ndarray) -> np.ndarray:
        out = self.model(torch.from_numpy(batch).to(self.device))
        pred = out[0] if isinstance(out, (tuple, list)) else out
        return pred.float().cpu().numpy()

    def close(self) -> None:
        self.model = None
