"""COCO AP of a model held in memory (one calibrated model, many quantizer settings), through eval.evaluate.

Every variant a search scores is the same model object with other quantizers switched or other ranges set, so
nothing is written or reloaded between scores; the numbers are those `python -m eval --backend torch` gives the
equivalent artifact (same letterbox, NMS and pycocotools).
"""
from dataclasses import dataclass
from pathlib import Path

from torch import nn


@dataclass(frozen=True)
class ApScorer:
    """data: a validation set (COCO JSON or folder); max_images: the first N of its images (None: all)."""

    data: str | Path
    imgsz: int
    batch: int = 16
    device: str = "cpu"
    max_images: int | None = None

    def score(self, model: nn.Module, label: str, quantization: dict | None = None) -> dict:
        """The metrics dict of eval.evaluate (AP, AP50, ... as fractions) for `model` as it computes now."""
        from eval import EvalConfig, evaluate
        from eval.backends.torch_backend import TorchBackend

        backend = TorchBackend.from_model(model, quantization or {}, self.device)
        cfg = EvalConfig(model=label, data=self.data, imgsz=self.imgsz, batch=self.batch, device=self.device,
                         max_images=self.max_images, progress=False, fidelity=False)
        return evaluate(cfg, backend=backend)
