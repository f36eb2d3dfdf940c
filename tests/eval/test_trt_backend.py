"""The `tensorrt` eval backend without a GPU: device parsing, the missing-TensorRT message, batching (a stand-in
runner with a static-batch engine profile) and the input-size check."""
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from common.errors import QYoloError
from eval.backends.trt_backend import TensorRTBackend, cuda_index


def test_cuda_index():
    assert cuda_index("cuda") == 0 and cuda_index(None) == 0 and cuda_index("cuda:1") == 1 and cuda_index(2) == 2
    with pytest.raises(QYoloError, match="not a CUDA device"):
        cuda_index("cpu")


def test_backend_without_tensorrt_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"x")
    with pytest.raises(QYoloError, match="make docker-build"):
        TensorRTBackend(engine, device="cuda")


def test_missing_engine_file(tmp_path):
    with pytest.raises(QYoloError, match="does not exist.*make engine"):
        TensorRTBackend(tmp_path / "none.engine")


def test_unknown_option(tmp_path):
    with pytest.raises(QYoloError, match="unknown options"):
        TensorRTBackend(tmp_path / "none.engine", batch_size=2)


def _backend_over(runner) -> TensorRTBackend:
    backend = TensorRTBackend.__new__(TensorRTBackend)  # everything but the engine: the runner is a stand-in
    backend.runner, backend.precision, backend.input_size = runner, "int8", 8
    return backend


def _static_runner(batch: int, calls: list):
    """A TrtRunner whose engine takes exactly `batch` images of 3x8x8 and predicts each image's pixel sum."""
    import torch

    from engine.runner import TrtRunner

    runner = object.__new__(TrtRunner)
    runner.torch, runner.input_name, runner.prediction_name = torch, "images", "pred"
    runner.engine_path = Path("m.engine")
    shape = (batch, 3, 8, 8)
    runner.engine = types.SimpleNamespace(get_tensor_profile_shape=lambda name, index: (shape, shape, shape))

    def infer_torch(images):
        assert tuple(images.shape) == shape, "a static engine must get exactly its batch"
        calls.append(images.shape[0])
        return {"pred": images.sum(dim=(1, 2, 3)).reshape(-1, 1, 1)}

    runner.infer_torch = infer_torch
    return runner


def test_static_batch_engine_scores_a_partial_last_batch():
    calls = []
    backend = _backend_over(_static_runner(4, calls))
    images = np.random.default_rng(0).random((10, 3, 8, 8), dtype=np.float32)
    predictions = backend(images)
    assert calls == [4, 4, 4] and predictions.shape == (10, 1, 1)
    np.testing.assert_allclose(predictions[:, 0, 0], images.sum(axis=(1, 2, 3)), rtol=1e-5)


def test_wrong_input_size_names_the_engine_size():
    backend = _backend_over(_static_runner(4, []))
    with pytest.raises(QYoloError, match=r"takes \(8, 8\) inputs, got \(16, 16\): evaluate with --imgsz 8"):
        backend(np.zeros((1, 3, 16, 16), np.float32))
