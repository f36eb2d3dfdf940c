"""The `tensorrt` eval backend's pieces that need no GPU: device parsing and the missing-TensorRT message."""
import sys

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


def test_satisfies_the_backend_protocol():
    from eval.backends.base import BACKENDS, Backend

    assert BACKENDS["tensorrt"] == "eval.backends.trt_backend:TensorRTBackend"
    backend = TensorRTBackend.__new__(TensorRTBackend)  # the protocol is structural: no engine needed
    backend.precision, backend.input_size, backend.runner = "int8", 256, None
    assert isinstance(backend, Backend)
    backend.close()  # no runner: a no-op
