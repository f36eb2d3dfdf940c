"""PyTorch backend: an FP32 checkpoint, or a calibrated artifact run with fake quantization."""
from pathlib import Path

import numpy as np
import torch

from common.errors import QYoloError
from export.metadata import QUANT_KEYS
from yolo.checkpoint import is_calibrated_artifact, load_model
from yolo.registry import head_layout_of


def load_torch_model(path: str | Path, device: str = "cpu") -> tuple[torch.nn.Module, dict]:
    """(model in eval mode on `device`, its quantization settings: {} for an FP32 checkpoint)."""
    if is_calibrated_artifact(path):
        from calib import load_calibrated

        model, meta = load_calibrated(path)
        quantization = {key: meta[key] for key in QUANT_KEYS}
        if (meta.get("quant_config") or {}).get("layer_bits"):
            quantization["mixed"] = True  # per-layer widths: w_bits/a_bits are the uniform ones the plan departs from
        return model.to(device).eval(), quantization
    return load_model(path, device=device), {}


def precision_label(quantization: dict) -> str:
    """'fp32', or 'fakequant-<method>-<scheme>-w<W>a<A>' for a calibrated artifact run in fake quantization."""
    if not quantization:
        return "fp32"
    q = quantization
    return f"fakequant-{q['method']}-{q['scheme']}-w{q['w_bits']}a{q['a_bits']}" + ("-mixed" if q.get("mixed") else "")


def model_stride(model: torch.nn.Module) -> int:
    """The model's largest head stride (input sides must be multiples of it); 32 when it records none."""
    stride = getattr(model, "stride", None)
    return int(torch.as_tensor(stride).max()) if stride is not None else 32


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
        self.model, self.quantization = load_torch_model(model_path, device=str(self.device))
        self.precision = precision_label(self.quantization)
        self.layout = head_layout_of(self.model)
        self.stride = model_stride(self.model)

    @classmethod
    def from_model(cls, model: torch.nn.Module, quantization: dict, device: str = "cpu") -> "TorchBackend":
        """A backend on a model already in memory (searches that score many variants of one calibrated model);
        `quantization` as load_torch_model gives it ({} for a float model). The model is moved to `device`."""
        backend = cls.__new__(cls)
        backend.device = torch.device(device)
        backend.model = model.to(backend.device).eval()
        backend.quantization = dict(quantization)
        backend.precision = precision_label(backend.quantization)
        backend.layout = head_layout_of(model)
        backend.stride = model_stride(model)
        return backend

    @torch.no_grad()
    def __call__(self, batch: np.ndarray) -> np.ndarray:
        out = self.model(torch.from_numpy(batch).to(self.device))
        pred = out[0] if isinstance(out, (tuple, list)) else out
        return pred.float().cpu().numpy()

    def close(self) -> None:
        self.model = None
