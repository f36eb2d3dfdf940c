"""FP16 copy of an FP32 graph for strongly typed builds: float32 I/O kept, Resize scales kept, outputs close."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from engine_onnx_samples import make_model, write_model
from onnx import TensorProto

from common.errors import QYoloError
from engine.fp16_onnx import convert_to_fp16, write_fp16_onnx


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


def _grid_model() -> onnx.ModelProto:
    """x + range(width): a float Range as in an unfolded YOLO Detect grid (Range has no float16 in ONNX)."""
    from onnx import helper, numpy_helper

    consts = [numpy_helper.from_array(np.array(3, np.int64), "axis_w"),
              numpy_helper.from_array(np.array(0.0, np.float32), "start"),
              numpy_helper.from_array(np.array(1.0, np.float32), "delta"),
              numpy_helper.from_array(np.full((1, 3, 1, 1), 0.5, np.float32), "gain")]
    nodes = [helper.make_node("Shape", ["images"], ["shape"]),
             helper.make_node("Gather", ["shape", "axis_w"], ["w"]),
             helper.make_node("Cast", ["w"], ["w_float"], to=TensorProto.FLOAT),
             helper.make_node("Range", ["start", "w_float", "delta"], ["grid"], name="grid_range"),
             helper.make_node("Mul", ["images", "gain"], ["scaled"]),
             helper.make_node("Add", ["scaled", "grid"], ["pred"])]
    graph = helper.make_graph(nodes, "grid", [helper.make_tensor_value_info("images", TensorProto.FLOAT,
                                                                            ["b", 3, 8, "w"])],
                              [helper.make_tensor_value_info("pred", TensorProto.FLOAT, ["b", 3, 8, "w"])], consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def test_range_stays_float32_inside_an_fp16_graph():
    fp16 = convert_to_fp16(_grid_model())
    onnx.checker.check_model(fp16, full_check=True)
    types = {init.name: init.data_type for init in fp16.graph.initializer}
    assert types["start"] == TensorProto.FLOAT and types["delta"] == TensorProto.FLOAT  # only Range reads them
    assert types["gain"] == TensorProto.FLOAT16
    x = np.random.default_rng(1).random((2, 3, 8, 8), dtype=np.float32)
    np.testing.assert_allclose(_run(fp16, x), _run(_grid_model(), x), atol=1e-2)
