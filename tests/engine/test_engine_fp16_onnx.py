"""FP16 copy of an FP32 graph for strongly typed builds: float32 I/O kept, Resize scales kept, outputs close."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto

from common.errors import QYoloError
from engine.fp16_onnx import convert_to_fp16, write_fp16_onnx
from engine_onnx_samples import make_model, write_model


def _run(model, x):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"images": x})[0]


def test_fp16_graph_keeps_float32_io_and_matches_fp32():
    fp32 = make_model()
    fp16 = convert_to_fp16(make_model())
    onnx.checker.check_model(fp16, full_check=True)
    assert fp16.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert fp16.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    types = {init.name: init.data_type for init in fp16.graph.initializer}
    assert types["w"] == TensorProto.FLOAT16 and types["b"] == TensorProto.FLOAT16
    assert types["up_scales"] == TensorProto.FLOAT and types["flat_shape"] == TensorProto.INT64
    x = np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32)
    ref, half = _run(fp32, x), _run(fp16, x)
    assert half.dtype == np.float32 and half.shape == ref.shape
    np.testing.assert_allclose(half, ref, atol=2e-3, rtol=2e-3)


def test_qdq_graphs_are_not_converted():
    with pytest.raises(QYoloError, match="without Q/DQ"):
        convert_to_fp16(make_model(qdq="int8"))


def test_write_fp16_onnx(tmp_path):
    out = write_fp16_onnx(write_model(tmp_path / "m.onnx"), tmp_path / "m.fp16.onnx")
    assert onnx.load(str(out)).graph.initializer[0].data_type == TensorProto.FLOAT16
