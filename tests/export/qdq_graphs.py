"""Small hand-built QDQ graphs (onnx.helper) for the placement and lint tests: convs with per-channel int8
weights, a Concat, a MaxPool and a residual Add, with activation quantizers whose scales the tests choose."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

C = 4  # channels everywhere


class GraphBuilder:
    def __init__(self, dtype=np.int8, opset: int = 17):
        self.nodes, self.inits, self.dtype, self.opset = [], [], dtype, opset
        self.rng = np.random.default_rng(0)

    def const(self, name: str, value) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def qdq(self, x: str, name: str, scale: float, zero_point: int = 0, channels: int | None = None,
            axis: int = 0, q_only_scale: float | None = None) -> str:
        shape = (channels,) if channels else ()
        s = self.const(f"{name}_s", np.full(shape, scale, np.float32))
        z = self.const(f"{name}_z", np.full(shape, zero_point, self.dtype))
        attrs = {"axis": axis} if channels else {}
        s_q = s if q_only_scale is None else self.const(f"{name}_sq", np.full(shape, q_only_scale, np.float32))
        self.nodes.append(helper.make_node("QuantizeLinear", [x, s_q, z], [f"{name}_q"], name=f"{name}_Q", **attrs))
        self.nodes.append(helper.make_node("DequantizeLinear", [f"{name}_q", s, z], [f"{name}_dq"],
                                           name=f"{name}_DQ", **attrs))
        return f"{name}_dq"

    def conv(self, x: str, name: str, cin: int = C, cout: int = C, weight_axis: int = 0) -> str:
        wq = self.rng.integers(-100, 100, (cout, cin, 3, 3)).astype(np.int8)
        channels = cout if weight_axis == 0 else cin
        w = self.const(f"{name}_wq", wq)
        s = self.const(f"{name}_ws", np.full((channels,), 0.002, np.float32))
        z = self.const(f"{name}_wz", np.zeros((channels,), np.int8))
        self.nodes.append(helper.make_node("DequantizeLinear", [w, s, z], [f"{name}_w"], name=f"{name}_wDQ",
                                           axis=weight_axis))
        b = self.const(f"{name}_b", np.zeros(cout, np.float32))
        self.nodes.append(helper.make_node("Conv", [x, f"{name}_w", b], [f"{name}_y"], name=name, pads=[1, 1, 1, 1]))
        self.nodes.append(helper.make_node("Relu", [f"{name}_y"], [f"{name}_r"], name=f"{name}_relu"))
        return f"{name}_r"

    def model(self, output: str) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, "qdq_sample",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, C, 8, 8])],
                                  [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["n", "c", "h", "w"])],
                                  self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        model.ir_version = 8
        return model


def placement_sample(concat_scale: float = 0.2, branch_scale: float = 0.05, pool_scales=(0.08, 0.12),
                     with_add: bool = True, dtype=np.int8, zero_point: int = 0) -> onnx.ModelProto:
    """x -> Q/DQ -> conv1 -> t1; t1 -> Q/DQ(branch) -> conv2 -> t2; Concat(t1, t2) -> Q/DQ(concat) -> conv3 -> t3;
    t3 -> Q/DQ(pool0) -> MaxPool -> Q/DQ(pool1) -> conv4 -> t4; [Add(t3, t4)] -> Q/DQ -> conv5 -> y."""
    g = GraphBuilder(dtype)
    t1 = g.conv(g.qdq("x", "in", 0.02, zero_point), "conv1")
    t2 = g.conv(g.qdq(t1, "branch", branch_scale, zero_point), "conv2")
    g.nodes.append(helper.make_node("Concat", [t1, t2], ["cat"], name="concat", axis=1))
    t3 = g.conv(g.qdq("cat", "concat_in", concat_scale, zero_point), "conv3", cin=2 * C)
    pooled = g.qdq(t3, "pool0", pool_scales[0], zero_point)
    g.nodes.append(helper.make_node("MaxPool", [pooled], ["mp"], name="maxpool", kernel_shape=[3, 3],
                                    pads=[1, 1, 1, 1]))
    t4 = g.conv(g.qdq("mp", "pool1", pool_scales[1], zero_point), "conv4")
    last = t4
    if with_add:
        g.nodes.append(helper.make_node("Add", [t3, t4], ["res"], name="residual_add"))
        last = "res"
    y = g.conv(g.qdq(last, "out", 0.1, zero_point), "conv5")
    return g.model(y)
