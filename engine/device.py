"""The CUDA device as PyTorch sees it: the builder and the runner share PyTorch's CUDA context (no pycuda).

Every CUDA use of the engine stage goes through `require_cuda` (the builder, the runner, the timing code and
python -m bench gpu-check), so there is one place that says what is missing, and one place the tests replace
with their stand-in device.
"""
from common.errors import QYoloError


def _import_torch():
    import torch

    return torch


def require_cuda(device: int = 0):
    """torch with a usable CUDA device `device`, or a one-line error saying what is missing."""
    torch = _import_torch()
    if not torch.cuda.is_available():
        raise QYoloError("no CUDA GPU visible to PyTorch: TensorRT engines are built and run on an NVIDIA GPU "
                         "(inside Docker, start the container with --gpus all: `make docker-shell`)")
    if device >= torch.cuda.device_count():
        raise QYoloError(f"CUDA device {device} does not exist (this machine has {torch.cuda.device_count()})")
    return torch


def gpu_info(device: int = 0) -> dict:
    torch = require_cuda(device)
    props = torch.cuda.get_device_properties(device)
    return {"name": props.name, "compute_capability": [props.major, props.minor],
            "memory_gib": round(props.total_memory / (1 << 30), 1), "cuda_runtime": torch.version.cuda,
            "index": device}
