"""The `openvino` backend: interface, FP32 really in f32 (no bf16 on AMX CPUs), static reshape, errors."""
import numpy as np
import pytest
from onnx_backend_models import IMGSZ, exported

from common.errors import QYoloError
from eval.backends.base import Backend, create_backend

pytest.importorskip("openvino")
X = np.random.default_rng(1).random((2, 3, IMGSZ, IMGSZ), dtype=np.float32)


def test_interface_and_f32_precision():
    backend = create_backend("openvino", exported("fp32"), device="cpu", threads=1)
    assert isinstance(backend, Backend)
    assert (backend.name, backend.precision, backend.input_size) == ("openvino", "FP32", IMGSZ)
    assert backend.compiled.get_property("INFERENCE_PRECISION_HINT").to_string() == "f32"
    reference = create_backend("ort", exported("fp32"))(X)
    assert np.allclose(backend(X), reference, rtol=1e-4, atol=1e-3)  # bf16 would miss this by far
    backend.close()


def test_static_batch_reshape_for_benchmarks():
    backend = create_backend("openvino", exported("trt"), static_batch=1)
    assert backend.static_batch == 1 and backend.precision == "INT8"
    reference = create_backend("openvino", exported("trt"))(X)
    assert np.allclose(backend(X), reference, atol=1e-3)


def test_bad_input():
    with pytest.raises(QYoloError, match="CPU"):
        create_backend("openvino", exported("fp32"), device="cuda:0")
    with pytest.raises(QYoloError, match="precision_hint"):
        create_backend("openvino", exported("fp32"), precision_hint="int8")
    with pytest.raises(QYoloError, match="--imgsz 64"):
        create_backend("openvino", exported("fp32"))(np.zeros((1, 3, 96, 96), np.float32))
