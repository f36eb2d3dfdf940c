"""An FP16 copy of an FP32 ONNX, for the FP16 baseline engine on strongly typed TensorRT (11+, which removed
BuilderFlag.FP16). NVIDIA's documented route is ModelOpt AutoCast; this is the small subset a detector graph needs,
so the image does not need ModelOpt:

- every float32 tensor becomes float16: initializers, Constant / ConstantOfShape values, Cast(to=FLOAT) targets;
- inputs ONNX requires in float32 stay float32: Resize roi/scales, and every float input of an op without float16
  support (Range, used by an unfolded Detect grid); a Cast back to float32 is inserted where such an input is now
  float16, and the float outputs of those ops are cast to float16 for their consumers;
- the graph keeps float32 inputs and outputs (Casts at the boundary).
"""
from pathlib import Path

import onnx
from onnx import TensorProto, helper, numpy_helper

from common.atomic import atomic_path
from common.errors import QYoloError

FLOAT32_ONLY_OPS = {"Range"}                       # no float16 in their ONNX type constraints
FLOAT32_INPUTS = {("Resize", 1), ("Resize", 2), ("Upsample", 1)}
_QDQ = ("QuantizeLinear", "DequantizeLinear")


def _needs_float32(node, index: int) -> bool:
    return node.op_type in FLOAT32_ONLY_OPS or (node.op_type, index) in FLOAT32_INPUTS


def _float_tensors(model: onnx.ModelProto) -> set[str]:
    """Names of every float32 tensor of the original graph (types from ONNX shape inference)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    graph = inferred.graph
    floats = {vi.name for vi in [*graph.value_info, *graph.input, *graph.output]
              if vi.type.tensor_type.elem_type == TensorProto.FLOAT}
    floats |= {init.name for init in graph.initializer if init.data_type == TensorProto.FLOAT}
    for node in graph.node:
        if node.op_type == "Constant" and any(a.name == "value" and a.t.data_type == TensorProto.FLOAT
                                              for a in node.attribute):
            floats.add(node.output[0])
    return floats


def _to_fp16_tensor(tensor: TensorProto) -> TensorProto:
    return numpy_helper.from_array(numpy_helper.to_array(tensor).astype("float16"), tensor.name)


def _cast(src: str, dst: str, to: int) -> onnx.NodeProto:
    return helper.make_node("Cast", [src], [dst], to=to, name=f"fp16_cast_{dst}")


def convert_to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    graph = model.graph
    if any(node.op_type in _QDQ for node in graph.node):
        raise QYoloError("FP16 conversion is for graphs without Q/DQ (the fp32 profile); a Q/DQ graph keeps its "
                         "float layers in FP32 under strong typing")
    conversion = _Fp16Conversion(model)
    conversion.convert_initializers()
    new_nodes = [converted for node in graph.node for converted in conversion.convert_node(node)]
    del graph.node[:]
    graph.node.extend(new_nodes)
    _wrap_io_in_casts(graph)
    # Intermediate value_info entries still say float32; drop them and let shape inference rebuild them.
    del graph.value_info[:]
    return onnx.shape_inference.infer_shapes(model)


class _Fp16Conversion:
    """The graph's float tensors go to float16, except constants only ever read where float32 is required
    (`kept32`); float32-only inputs and ops get Casts around them."""

    def __init__(self, model: onnx.ModelProto):
        self.graph, self.floats, self.kept32 = model.graph, _float_tensors(model), set()
        self.consumers: dict[str, list[tuple]] = {}
        for node in self.graph.node:
            for index, name in enumerate(node.input):
                self.consumers.setdefault(name, []).append((node, index))

    def stays_float32(self, name: str) -> bool:
        """A constant only ever read where float32 is required."""
        uses = self.consumers.get(name, [])
        return bool(uses) and all(_needs_float32(node, index) for node, index in uses)

    def convert_initializers(self) -> None:
        for i, init in enumerate(self.graph.initializer):
            if init.data_type == TensorProto.FLOAT:
                if self.stays_float32(init.name):
                    self.kept32.add(init.name)
                else:
                    self.graph.initializer[i].CopyFrom(_to_fp16_tensor(init))

    def convert_node(self, node: onnx.NodeProto) -> list[onnx.NodeProto]:
        """The node converted in place, with the Casts it needs before and after it."""
        self._convert_constant(node)
        for attr in node.attribute if node.op_type == "Cast" else []:
            if attr.name == "to" and attr.i == TensorProto.FLOAT:
                attr.i = TensorProto.FLOAT16
        before, after = [], []
        for index, name in enumerate(node.input):
            if name and name in self.floats and name not in self.kept32 and _needs_float32(node, index):
                before.append(_cast(name, f"{name}_as_fp32_for_{node.name or node.op_type}", TensorProto.FLOAT))
                node.input[index] = before[-1].output[0]
        for index, name in enumerate(node.output if node.op_type in FLOAT32_ONLY_OPS else []):
            if name in self.floats:
                node.output[index] = f"{name}_fp32"
                after.append(_cast(node.output[index], name, TensorProto.FLOAT16))
        return before + [node] + after

    def _convert_constant(self, node: onnx.NodeProto) -> None:
        if node.op_type not in ("Constant", "ConstantOfShape"):
            return
        for attr in node.attribute:
            if attr.name == "value" and attr.t.data_type == TensorProto.FLOAT:
                if node.op_type == "Constant" and self.stays_float32(node.output[0]):
                    self.kept32.add(node.output[0])
                else:
                    attr.t.CopyFrom(_to_fp16_tensor(attr.t))


def _rename_tensor(graph, old: str, new: str) -> None:
    """Point every node input and output named `old` at `new` (a graph input is never a node output)."""
    for node in graph.node:
        for names in (node.input, node.output):
            for k, name in enumerate(names):
                if name == old:
                    names[k] = new


def _wrap_io_in_casts(graph) -> None:
    """Keep float32 at the graph boundary: input -> Cast(fp16) -> graph ... -> Cast(fp32) -> output."""
    head, tail = [], []
    for vi in graph.input:
        if vi.type.tensor_type.elem_type == TensorProto.FLOAT:
            _rename_tensor(graph, vi.name, f"{vi.name}_fp16")
            head.append(_cast(vi.name, f"{vi.name}_fp16", TensorProto.FLOAT16))
    for vo in graph.output:
        if vo.type.tensor_type.elem_type == TensorProto.FLOAT:
            _rename_tensor(graph, vo.name, f"{vo.name}_fp16")
            tail.append(_cast(f"{vo.name}_fp16", vo.name, TensorProto.FLOAT))
    nodes = head + list(graph.node) + tail
    del graph.node[:]
    graph.node.extend(nodes)


def write_fp16_onnx(src: str | Path, dst: str | Path) -> Path:
    model = convert_to_fp16(onnx.load(str(src)))
    with atomic_path(dst) as tmp:
        onnx.save(model, str(tmp))
    return Path(dst)
