"""The `ort` backend: the Backend interface over ONNX Runtime, agreement with OpenVINO and torch, batching, errors."""
import numpy as np
import pytest
import torch
from onnx_backend_models import IMGSZ, exported

from common.errors import QYoloError
from eval.backends.base import Backend, create_backend

X = np.random.default_rng(0).random((3, 3, IMGSZ, IMGSZ), dtype=np.float32)


def test_interface_and_torch_agreement():
    from yolo.checkpoint import load_model
    from yolo.fixture import FIXTURE_WEIGHTS

    backend = create_backend("ort", exported("fp32"), device="cpu", threads=1)
    assert isinstance(backend, Backend)
    assert (backend.name, backend.precision, backend.input_size, backend.threads) == ("ort", "FP32", IMGSZ, 1)
    pred = backend(X)
    with torch.no_grad():
        expected = load_model(FIXTURE_WEIGHTS)(torch.from_numpy(X))[0].numpy()
    assert pred.shape == expected.shape == (3, pred.shape[1], 13)
    assert np.allclose(pred, expected, rtol=1e-4, atol=1e-3)
    backend.close()


def test_agrees_with_openvino_on_a_fixed_input():
    """Same FP32 graph, two runtimes: equal up to float accumulation order. Quantized graphs are compared with
    their calibrated artifact by the fidelity check instead (tests/eval/test_fidelity.py): whether OpenVINO's
    int8-activation kernels are right depends on the CPU, so runtime-vs-runtime agreement is no product property."""
    ort_pred = create_backend("ort", exported("fp32"), threads=1)(X)
    ov_pred = create_backend("openvino", exported("fp32"), threads=1)(X)
    assert create_backend("ort", exported("trt")).precision == "INT8"
    assert np.allclose(ort_pred, ov_pred, rtol=1e-4, atol=2e-3)


def test_static_batch_graph_is_fed_in_chunks():
    backend = create_backend("ort", exported("fp32", dynamic_batch=False, batch=2))
    assert backend.static_batch == 2
    reference = create_backend("ort", exported("fp32"))(X)
    assert np.allclose(backend(X), reference, atol=1e-4)  # 3 images: a full chunk and a padded one


def test_bad_input():
    backend = create_backend("ort", exported("fp32"))
    with pytest.raises(QYoloError, match="--imgsz 64"):
        backend(np.zeros((1, 3, 32, 32), np.float32))
    with pytest.raises(QYoloError, match="CPU"):
        create_backend("ort", exported("fp32"), device="cuda")
    with pytest.raises(QYoloError, match="unknown options"):
        create_backend("ort", exported("fp32"), fp16=True)
    with pytest.raises(QYoloError, match="does not exist"):
        create_backend("ort", "missing.onnx")
