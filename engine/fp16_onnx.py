"""An FP16 copy of an FP32 ONNX, for the FP16 baseline engine on strongly typed TensorRT (11+, which removed
BuilderFlag.FP16). NVIDIA's documented route is ModelOpt AutoCast; this is the small subset a YOLO graph needs,
so the image does not need ModelOpt:

- float32 initializers and Constant tensors become float16, except those feeding inputs that must stay float32
  (Resize scales/roi, shape-like inputs) and those feeding Q/DQ (the graph is expected to have no Q/DQ);
- Cast(to=FLOAT) nodes become Cast(to=FLOAT16);
- the graph keeps float32 inputs and outputs: Cast nodes are inserted after each input and before each output.
"""
from pathlib import Path

import onnx
from onnx import TensorProto, helper, numpy_helper

from common.atomic import atomic_path
from common.errors import QYoloError

# (op_type, input index) pairs whose tensor must stay float32 whatever the graph's compute type.
_KEEP_FLOAT32_INPUTS = {("Resize", 1), ("Resize", 2), ("Upsample", 1), ("ConstantOfShape", 0)}
_QDQ = ("QuantizeLinear", "DequantizeLinear")


def _keep_float32(graph) -> set[str]:
    keep = set()
    for node in graph.node:
        for index, name in enumerate(node.input):
            if (node.op_type, index) in _KEEP_FLOAT32_INPUTS:
                keep.add(name)
    return keep


def _to_fp16_tensor(tensor: TensorProto) -> TensorProto:
    array = numpy_helper.to_array(tensor).astype("float16")
    return numpy_helper.from_array(array, tensor.name)


def convert_to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    graph = model.graph
    if any(node.op_type in _QDQ for node in graph.node):
        raise QYoloError("FP16 conversion is for graphs without Q/DQ (the fp32 profile); a Q/DQ graph keeps its "
                         "float layers in FP32 under strong typing")
    keep = _keep_float32(graph)
    for i, init in enumerate(graph.initializer):
        if init.data_type == TensorProto.FLOAT and init.name not in keep:
            graph.initializer[i].CopyFrom(_to_fp16_tensor(init))
    for node in graph.node:
        if node.op_type == "Constant" and node.output[0] not in keep:
            for attr in node.attribute:
                if attr.name == "value" and attr.t.data_type == TensorProto.FLOAT:
                    attr.t.CopyFrom(_to_fp16_tensor(attr.t))
        if node.op_type == "Cast":
            for attr in node.attribute:
                if attr.name == "to" and attr.i == TensorProto.FLOAT:
                    attr.i = TensorProto.FLOAT16
    _wrap_io_in_casts(graph)
    # Intermediate value_info entries still say float32; drop them and let shape inference rebuild them.
    del graph.value_info[:]
    return onnx.shape_inference.infer_shapes(model)


def _wrap_io_in_casts(graph) -> None:
    """Keep float32 at the graph boundary: input -> Cast(fp16) -> graph ... -> Cast(fp32) -> output."""
    new_nodes = []
    for vi in graph.input:
        if vi.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        half_name = f"{vi.name}_fp16"
        for node in graph.node:
            for k, name in enumerate(node.input):
                if name == vi.name:
                    node.input[k] = half_name
        new_nodes.append(helper.make_node("Cast", [vi.name], [half_name], to=TensorProto.FLOAT16,
                                          name=f"cast_{vi.name}_to_fp16"))
    tail = []
    for vo in graph.output:
        if vo.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        half_name = f"{vo.name}_fp16"
        for node in graph.node:
            for k, name in enumerate(node.output):
                if name == vo.name:
                    node.output[k] = half_name
            for k, name in enumerate(node.input):
                if name == vo.name:
                    node.input[k] = half_name
        tail.append(helper.make_node("Cast", [half_name], [vo.name], to=TensorProto.FLOAT,
                                     name=f"cast_{vo.name}_to_fp32"))
    nodes = new_nodes + list(graph.node) + tail
    del graph.node[:]
    graph.node.extend(nodes)


def write_fp16_onnx(src: str | Path, dst: str | Path) -> Path:
    model = convert_to_fp16(onnx.load(str(src)))
    with atomic_path(dst) as tmp:
        onnx.save(model, str(tmp))
    return Path(dst)
