"""The one interface every inference backend implements, and the registry that creates them by name.

A backend takes a letterboxed batch (float32 NCHW RGB in [0, 1]) and returns the model's decoded head output as a
numpy array, laid out as its `HeadLayout` says (YOLOv5/YOLOv7 [B, N, 5+nc], YOLOv8/YOLO11 [B, 4+nc, N]; boxes in
input pixels, probabilities after the sigmoid), so the same NMS + COCO code scores every runtime. Backends are
imported lazily: a machine without openvino or tensorrt can
still use the others.
"""
import importlib
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from common.errors import QYoloError
from yolo.family import HeadLayout, head_layout_named


@runtime_checkable
class Backend(Protocol):
    name: str
    precision: str
    quantization: dict  # method, scheme, w_bits, a_bits of a quantized model; {} for a float one
    input_size: int | tuple[int, int] | None  # fixed input the model needs, None = any multiple of 32

    def __call__(self, batch: np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...


# name -> "module:Class"; new backends register here (or via register_backend) without touching the callers.
BACKENDS: dict[str, str] = {
    "torch": "eval.backends.torch_backend:TorchBackend",
    "ort": "eval.backends.ort_backend:OrtBackend",
    "openvino": "eval.backends.openvino_backend:OpenVINOBackend",
    "tensorrt": "eval.backends.trt_backend:TensorRTBackend",
}
_INSTALL_HINTS = {
    "ort": "pip install onnxruntime",
    "openvino": "pip install openvino",
    "tensorrt": "use the project's Docker image (make docker-build; see docs/gpu-workflow.md)",
}


def backend_layout(backend) -> HeadLayout:
    """How `backend`'s output is laid out: its own `layout` (torch), else its ONNX metadata (qyolo.head_layout)."""
    layout = getattr(backend, "layout", None)
    if isinstance(layout, HeadLayout):
        return layout
    return head_layout_named((getattr(backend, "metadata", None) or {}).get("qyolo.head_layout"))


def backend_class_names(backend) -> list[str] | None:
    """The class names of the model a backend runs: a torch model's own, else its ONNX metadata (qyolo.names),
    else None (engines and graphs exported elsewhere do not say)."""
    model = getattr(backend, "model", None)
    names = getattr(model, "names", None) if model is not None else None
    if isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names):
        return list(names)
    names = (getattr(backend, "metadata", None) or {}).get("qyolo.names")
    if names is None:
        return None
    from export.metadata import metadata_names

    return metadata_names(names, str(getattr(backend, "model_path", "the model")))


def register_backend(name: str, target: str) -> None:
    BACKENDS[name] = target


def create_backend(kind: str, model_path: str | Path, device: str = "cpu", **options) -> Backend:
    """Instantiate backend `kind` on `model_path`; unknown kinds and missing runtimes are one clear error."""
    if kind not in BACKENDS:
        raise QYoloError(f"unknown backend {kind!r}; choose one of {sorted(BACKENDS)}")
    module_name, class_name = BACKENDS[kind].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and not exc.name.startswith(("eval", "engine", "calib", "yolo", "export", "common")):
            raise QYoloError(f"backend {kind!r} needs the Python module {exc.name!r}, which is not installed; "
                             f"{_INSTALL_HINTS.get(kind, 'install it')}") from None
        raise
    return getattr(module, class_name)(model_path, device=device, **options)
