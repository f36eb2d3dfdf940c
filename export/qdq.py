"""Q/DQ helpers on onnx-graphsurgeon graphs: read a Q/DQ node's parameters, insert a pair on an edge, rewire.

Shared by the cleanup, placement, integer-ops and lint passes. Nothing here knows YOLO.
"""
from dataclasses import dataclass

import numpy as np
import onnx_graphsurgeon as gs

Q_OP, DQ_OP = "QuantizeLinear", "DequantizeLinear"


def constant_values(tensor) -> np.ndarray | None:
    """Values of a graph constant: an initializer or the output of a Constant node; None otherwise."""
    if isinstance(tensor, gs.Constant):
        return np.asarray(tensor.values)
    if isinstance(tensor, gs.Variable) and len(tensor.inputs) == 1 and tensor.inputs[0].op == "Constant":
        value = tensor.inputs[0].attrs.get("value")
        if isinstance(value, gs.Constant):
            return np.asarray(value.values)
    return None


@dataclass
class QParams:
    """Scale and zero point of a QuantizeLinear/DequantizeLinear node (zero point's dtype = the quantized type)."""

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None  # None: per-tensor

    @property
    def dtype(self) -> np.dtype:
        return self.zero_point.dtype

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1

    @property
    def qmin(self) -> int:
        return int(np.iinfo(self.dtype).min)

    @property
    def qmax(self) -> int:
        return int(np.iinfo(self.dtype).max)

    def float_range(self) -> tuple[np.ndarray, np.ndarray]:
        """The float values of the lowest and highest level: (qmin - zp) * s, (qmax - zp) * s."""
        zp = self.zero_point.astype(np.float64)
        return (self.qmin - zp) * self.scale, (self.qmax - zp) * self.scale

    def same_as(self, other: "QParams") -> bool:
        return (self.dtype == other.dtype and self.scale.shape == other.scale.shape
                and np.array_equal(self.scale, other.scale) and np.array_equal(self.zero_point, other.zero_point))


def qparams(node: gs.Node) -> QParams | None:
    """Parameters of a Q or DQ node whose scale/zero point are constants; None when they are computed."""
    scale = constant_values(node.inputs[1]) if len(node.inputs) > 1 else None
    if scale is None:
        return None
    if len(node.inputs) > 2 and node.inputs[2] is not None and node.inputs[2].name:
        zero_point = constant_values(node.inputs[2])
        if zero_point is None:
            return None
    else:
        zero_point = np.zeros(scale.shape, np.uint8)  # ONNX default: uint8 zero point 0
    axis = node.attrs.get("axis", 1) if scale.size > 1 else None
    return QParams(np.asarray(scale, np.float32), np.asarray(zero_point), axis)


def consumers(tensor: gs.Tensor) -> list[gs.Node]:
    return list(tensor.outputs)


def producer(tensor: gs.Tensor) -> gs.Node | None:
    return tensor.inputs[0] if tensor.inputs else None


def replace_input(node: gs.Node, old: gs.Tensor, new: gs.Tensor) -> None:
    for index, tensor in enumerate(node.inputs):
        if tensor is old:
            node.inputs[index] = new


def bypass(graph: gs.Graph, node: gs.Node) -> None:
    """Remove a single-input, single-output pass-through node: its consumers read its input instead."""
    src, dst = node.inputs[0], node.outputs[0]
    if dst in graph.outputs:
        # Keep the graph output's name: the producer of src writes dst instead, when src is not shared.
        maker = producer(src)
        if maker is None or len(src.outputs) > 1 or src in graph.inputs:
            return
        maker.outputs[maker.outputs.index(src)] = dst
        node.outputs.clear()
        node.inputs.clear()
        return
    for consumer in consumers(dst):
        replace_input(consumer, dst, src)
    node.outputs.clear()


class QDQMaker:
    """Inserts Q/DQ pairs with shared, deduplicated scale/zero-point initializers and unique names."""

    def __init__(self, graph: gs.Graph):
        self.graph = graph
        self.names = {node.name for node in graph.nodes} | set(graph.tensors().keys())
        self._constants: dict[tuple, gs.Constant] = {}

    def unique(self, name: str) -> str:
        candidate, index = name, 1
        while candidate in self.names:
            candidate, index = f"{name}_{index}", index + 1
        self.names.add(candidate)
        return candidate

    def constant(self, name: str, values: np.ndarray) -> gs.Constant:
        values = np.array(values, order="C")  # (np.ascontiguousarray would make a 0-d scale 1-d)
        key = (values.dtype.str, values.shape, values.tobytes())
        if key not in self._constants:
            self._constants[key] = gs.Constant(self.unique(name), values)
        return self._constants[key]

    def pair(self, tensor: gs.Tensor, params: QParams, name: str) -> tuple[gs.Node, gs.Node, gs.Variable]:
        """Q -> DQ on `tensor` (nothing rewired); returns (q, dq, dequantized tensor)."""
        scale = self.constant(f"{name}_scale", params.scale.reshape(params.scale.shape).astype(np.float32))
        zero = self.constant(f"{name}_zero_point", params.zero_point)
        attrs = {"axis": params.axis} if params.axis is not None and params.per_channel else {}
        quantized = gs.Variable(self.unique(f"{name}_q"), dtype=params.dtype, shape=tensor.shape)
        dequantized = gs.Variable(self.unique(f"{name}_dq"), dtype=np.float32, shape=tensor.shape)
        q = gs.Node(Q_OP, self.unique(f"{name}/QuantizeLinear"), attrs=dict(attrs), inputs=[tensor, scale, zero],
                    outputs=[quantized])
        dq = gs.Node(DQ_OP, self.unique(f"{name}/DequantizeLinear"), attrs=dict(attrs),
                     inputs=[quantized, scale, zero], outputs=[dequantized])
        self.graph.nodes.extend([q, dq])
        return q, dq, dequantized

    def on_edges(self, tensor: gs.Tensor, targets: list[gs.Node], params: QParams, name: str) -> gs.Variable:
        """Insert one Q/DQ on `tensor` and make every node in `targets` read the dequantized tensor."""
        _, _, dequantized = self.pair(tensor, params, name)
        for node in targets:
            replace_input(node, tensor, dequantized)
        return dequantized


def qdq_pairs(graph: gs.Graph) -> list[tuple[gs.Node, list[gs.Node]]]:
    """(Q node, the DQ nodes reading its output) for every Q in the graph."""
    pairs = []
    for node in graph.nodes:
        if node.op == Q_OP:
            pairs.append((node, [c for c in consumers(node.outputs[0]) if c.op == DQ_OP]))
    return pairs
