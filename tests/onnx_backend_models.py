"""The YOLOv5n fixture exported at 64 px for the ONNX backend tests: FP32 and the `trt` profile (int8 Q/DQ),
calibrated on a few random images (trained weights give realistic ranges; 64 px keeps each export ~1 s)."""
import functools
import tempfile
from pathlib import Path

import torch

IMGSZ = 64


@functools.lru_cache(maxsize=None)
def exported(kind: str, dynamic_batch: bool = True, batch: int = 1) -> Path:
    """Path of the fixture exported as `kind` ("fp32" or "trt"), cached for the test session."""
    from calib import QuantConfig, collect_and_compute, quantize_model
    from export import ExportConfig, export_model
    from yolo.checkpoint import load_model
    from yolo.fixture import FIXTURE_WEIGHTS

    torch.set_num_threads(1)
    folder = Path(tempfile.mkdtemp(prefix="qyolo-eval-onnx-"))
    model = load_model(FIXTURE_WEIGHTS)
    if kind == "fp32":
        cfg = ExportConfig(out=folder / "fp32.onnx", weights=str(FIXTURE_WEIGHTS), profile="fp32", imgsz=IMGSZ,
                           dynamic_batch=dynamic_batch, batch=batch)
    else:
        quantize_model(model, QuantConfig(method="uh", scheme="sym"))
        generator = torch.Generator().manual_seed(0)
        collect_and_compute(model, [torch.rand(4, 3, IMGSZ, IMGSZ, generator=generator)], progress=False)
        cfg = ExportConfig(out=folder / "uh-sym-w8a8-trt.onnx", profile="trt", imgsz=IMGSZ,
                           dynamic_batch=dynamic_batch, batch=batch)
    return export_model(model, cfg)
