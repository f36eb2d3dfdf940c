"""Small hand-made ONNX graphs (conv -> SiLU -> resize -> concat) in FP32 and with int8 / uint8 Q/DQ."""
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _qdq(name: str, x: str, scale: float, zp_dtype, zp_value: int = 0, axis: int | None = None,
         channels: int | None = None) -> tuple[list, list]:
    """Q -> DQ pair on tensor x; per-channel when axis is given."""
    shape = (channels,) if axis is not None else ()
    scale_t = numpy_helper.from_array(np.full(shape, scale, np.float32), f"{name}_scale")
    zp_t = numpy_helper.from_array(np.full(shape, zp_value, zp_dtype), f"{name}_zp")
    kwargs = {"axis": axis} if axis is not None else {}
    q = helper.make_node("QuantizeLinear", [x, scale_t.name, zp_t.name], [f"{name}_q"], name=f"{name}_Q", **kwargs)
    dq = helper.make_node("DequantizeLinear", [f"{name}_q", scale_t.name, zp_t.name], [f"{name}_dq"],
                          name=f"{name}_DQ", **kwargs)
    return [q, dq], [scale_t, zp_t]


def make_model(qdq: str | None = None, batch: int | str = "batch", zp_value: int = 0, opset: int = 17,
               imgsz: int = 32) -> onnx.ModelProto:
    """qdq: None (fp32), 'int8' (TensorRT profile) or 'uint8' (the CPU profile's activations)."""
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.normal(0, 0.1, (8, 3, 3, 3)).astype(np.float32), "w")
    bias = numpy_helper.from_array(np.zeros(8, np.float32), "b")
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "up_scales")
    roi = numpy_helper.from_array(np.array([], np.float32), "up_roi")
    flat_shape = numpy_helper.from_array(np.array([0, 16, -1], np.int64), "flat_shape")
    nodes, inits = [], [weight, bias, scales, roi, flat_shape]
    x_name, w_name = "images", "w"
    if qdq:
        act_dtype = np.int8 if qdq == "int8" else np.uint8
        n, i = _qdq("act", "images", 1 / 127, act_dtype, zp_value)
        nodes += n
        inits += i
        n, i = _qdq("wq", "w", 0.01, np.int8, 0, axis=0, channels=8)
        nodes += n
        inits += i
        x_name, w_name = "act_dq", "wq_dq"
    nodes += [
        helper.make_node("Conv", [x_name, w_name, "b"], ["conv"], name="conv0", pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["conv"], ["sig"], name="sig0"),
        helper.make_node("Mul", ["conv", "sig"], ["silu"], name="silu0"),
        helper.make_node("MaxPool", ["silu"], ["pool"], name="pool0", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Resize", ["pool", "up_roi", "up_scales"], ["up"], name="up0", mode="nearest"),
        helper.make_node("Concat", ["silu", "up"], ["cat"], name="cat0", axis=1),
        helper.make_node("Reshape", ["cat", "flat_shape"], ["flat"], name="flat0"),
        helper.make_node("Transpose", ["flat"], ["pred"], name="pred0", perm=[0, 2, 1]),
    ]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, imgsz, imgsz])],
        [helper.make_tensor_value_info("pred", TensorProto.FLOAT, [batch, imgsz * imgsz, 16])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def write_model(path: Path, **kwargs) -> Path:
    onnx.save(make_model(**kwargs), str(path))
    return path
