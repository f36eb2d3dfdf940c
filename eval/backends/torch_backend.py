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


def load_torch_model(path: str | Path, device: str = "cpu") -> tuple[torch.nn.Module, str]:
    """(model in eval mode, precision label) for an FP32 checkpoint or a calibrated artifact."""
    if is_calibrated_artifact(path):
        from calib import load_calibrated

        model, meta = load_calibrated(path, device=device)
        cfg = meta.get("quant_config", meta.get("config", {}))
        label = f"fakequant-w{cfg.get('w_bits', '?')}a{cfg.get('a_bits', '?')}"
        return model.eval(), label
    from yolo.checkpoint import load_model

    return load_model(path, device=device), "fp32"


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

    @torch.no_grad()
    def __call__(self, batch: np.ndarray) -> np.ndarray:
        out = self.model(torch.from_numpy(batch).to(self.device))
        pred = out[0] if isinstance(out, (tuple, list)) else out
        return pred.float().cpu().numpy()

    def close(self) -> None:
        self.model = None
