"""Helpers for the export tests: the committed fixture model (YOLOv5n, 8 classes) calibrated on a few
random 64x64 images (trained weights give realistic activation ranges; 64 px keeps every export ~1 s)."""
import copy
import functools

import numpy as np
import torch

from calib import QuantConfig, collect_and_compute, quantize_model
from yolo.checkpoint import load_model
from yolo.fixture import FIXTURE_WEIGHTS

IMGSZ = 64


def calib_batches(n: int = 2, batch: int = 4, imgsz: int = IMGSZ, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.rand(batch, 3, imgsz, imgsz, generator=generator) for _ in range(n)]


@functools.lru_cache(maxsize=None)
def _float_fixture():
    return load_model(FIXTURE_WEIGHTS)


def float_fixture():
    return copy.deepcopy(_float_fixture())


@functools.lru_cache(maxsize=None)
def _calibrated(scheme: str, bits: int, method: str):
    model = float_fixture()
    quantize_model(model, QuantConfig(method=method, scheme=scheme, w_bits=bits, a_bits=bits))
    collect_and_compute(model, calib_batches(), progress=False)
    return model


def calibrated_fixture(scheme: str = "sym", bits: int = 8, method: str = "uh"):
    """The fixture with calib's quantizers, calibrated (cached; a deep copy each call)."""
    return copy.deepcopy(_calibrated(scheme, bits, method))


def numpy_batches() -> list[np.ndarray]:
    return [b.numpy() for b in calib_batches()]


def ort_run(path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(["pred"], {"images": x})[0]
