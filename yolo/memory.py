"""How much memory a batch of images needs in a model, estimated before the batch is allocated.

The estimate measures the model itself: one 64-pixel probe forward records the bytes of every layer's output per
input pixel (the sum over layers: an upper bound on what is alive at once, which on the YOLO fixtures is 2-4 times
the measured peak, so half of it is used), plus the input batch twice (the image stack and its tensor). A
`--imgsz 100000` or `--batch 100000` is thereby one line before the allocation, on any model, width or family.
"""
import torch
from torch import nn

from common.memory import check_fits

PROBE = 64  # pixels: two cells of a stride-32 head
INPUT_BYTES_PER_PIXEL = 2 * 3 * 4  # float32 RGB, held as the numpy stack and as the tensor


def activation_bytes_per_pixel(model: nn.Module, channels: int = 3) -> float:
    """Bytes of all leaf-module outputs per input pixel and image (one probe forward, no gradients)."""
    total = [0]

    def count(module, inputs, output):
        for tensor in output if isinstance(output, (list, tuple)) else [output]:
            if isinstance(tensor, torch.Tensor):
                total[0] += tensor.numel() * tensor.element_size()

    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    handles = [m.register_forward_hook(count) for m in leaves]
    try:
        parameter = next(model.parameters(), None)
        device = parameter.device if parameter is not None else "cpu"
        with torch.no_grad():
            model(torch.zeros(1, channels, PROBE, PROBE, device=device))
    finally:
        for handle in handles:
            handle.remove()
    return total[0] / (PROBE * PROBE)


def batch_bytes(per_pixel: float, imgsz: int | tuple[int, int], batch: int) -> float:
    """The estimate for `batch` images of imgsz (square, or (h, w)) in a model with `per_pixel` activation bytes."""
    height, width = (imgsz, imgsz) if isinstance(imgsz, int) else imgsz
    return batch * height * width * (per_pixel / 2 + INPUT_BYTES_PER_PIXEL)


def check_batch_fits(model: nn.Module, imgsz: int, batch: int, what: str) -> None:
    """Refuse (one line) a batch of `batch` images of imgsz x imgsz that `model` cannot run in this machine's
    memory."""
    need = batch_bytes(activation_bytes_per_pixel(model), imgsz, batch)
    check_fits(need, f"{what} at --imgsz {imgsz} and --batch {batch}", "use a smaller --batch or --imgsz")
