"""`tensorrt` eval backend: a serialized TensorRT engine behind the common Backend interface, so the same COCO mAP
code scores it as it scores the torch, ONNX Runtime and OpenVINO backends.

Interface (eval.backends.base.Backend): `name`, `precision`, `input_size`, `close()` and
`__call__(batch) -> np.ndarray`, batch = float32 NCHW RGB in [0, 1] (letterboxed) and output = decoded
predictions [B, N, 5+nc]. The engine runs on PyTorch's CUDA stream (engine.runner); batches larger than the
engine's profile are split.
"""
from pathlib import Path

import numpy as np

from common.errors import QYoloError
from export.metadata import quantization


def cuda_index(device: str | int | None) -> int:
    """'cuda' / 'cuda:1' / 1 / None -> CUDA device index; a CPU device is a user error (engines are GPU-only)."""
    if device is None or device == "cuda":
        return 0
    if isinstance(device, int):
        return device
    text = str(device).strip().lower()
    if text.startswith("cuda:") and text[5:].isdigit():
        return int(text[5:])
    if text.isdigit():
        return int(text)
    raise QYoloError(f"the tensorrt backend runs on an NVIDIA GPU; device {device!r} is not a CUDA device "
                     f"(use --device cuda or cuda:<index>)")


class TensorRTBackend:
    name = "tensorrt"

    def __init__(self, model_path: str | Path, device: str | int | None = "cuda", **options):
        from engine.runner import TrtRunner

        unknown = set(options) - {"verbose", "threads"}  # CPU thread counts do not apply to an engine: ignored
        if unknown:
            raise QYoloError(f"tensorrt backend: unknown options {sorted(unknown)} (known: verbose)")
        self.runner = TrtRunner(model_path, device=cuda_index(device), verbose=bool(options.get("verbose")))
        sidecar = self.runner.sidecar or {}
        self.precision = sidecar.get("precision", "unknown")
        self.metadata = sidecar.get("onnx_metadata", {})  # the source ONNX's: its qyolo.head_layout, quantization
        self.quantization = quantization(self.metadata)
        height, width = self.runner.input_hw
        self.input_size = height if height == width else (height, width)
        self.max_batch = self.runner.max_batch

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if batch.ndim != 4 or batch.shape[1] != 3:
            raise ValueError(f"expected an NCHW batch with 3 channels, got shape {batch.shape}")
        if tuple(batch.shape[2:]) != tuple(self.runner.input_hw):
            raise QYoloError(f"engine {self.runner.engine_path} takes {self.runner.input_hw} inputs, got "
                             f"{tuple(batch.shape[2:])}: evaluate with --imgsz {self.runner.input_hw[0]} or rebuild")
        return self.runner(batch.astype(np.float32, copy=False))

    def close(self) -> None:
        """Drop the execution context and engine (and their GPU memory) now rather than at garbage collection."""
        runner = getattr(self, "runner", None)
        if runner is not None:
            runner.close()
            self.runner = None
