"""Graph cleanup with onnx-graphsurgeon: what every exported graph goes through before the placement rules.

Passes, in order (each one generic; none knows YOLO):
1. keep only the named outputs (the prediction), drop the rest and what only they used;
2. fold constants (Constant nodes become initializers, constant subgraphs are evaluated), but never fold a
   Q/DQ node: folding DequantizeLinear(weights) would turn the int8 weights back into float;
3. remove Identity nodes and Casts to the type the tensor already has (the fake-quant code's `.float()`);
4. weights: a QuantizeLinear whose input is a constant is evaluated now, so the graph stores int8 weights and a
   DequantizeLinear (4x smaller files; the form ONNX Runtime's quantize_static and TensorRT both take);
5. Max(x, lo) -> Min(., hi) with scalar constants becomes one Clip (the <8-bit emulation clip before a Q);
6. deduplicate initializers with identical dtype, shape and bytes; remove dead nodes and tensors;
7. shape inference and topological order.
"""
from collections import Counter

import numpy as np
import onnx
import onnx_graphsurgeon as gs
import torch

from common.log import get_logger
from export.qdq import DQ_OP, Q_OP, bypass, constant_values, consumers, producer, qparams


def quiet_graphsurgeon() -> None:
    """graphsurgeon logs folding advice (and a note about a missing `colored` module) to stdout: errors only."""
    gs.logger.G_LOGGER.severity = gs.logger.G_LOGGER.ERROR


def _fold_constants(graph: gs.Graph) -> None:
    quiet_graphsurgeon()
    import onnxruntime  # graphsurgeon folds with it; its optimizer warnings about the Detect reshape are noise here

    onnxruntime.set_default_logger_severity(3)
    graph.fold_constants(should_exclude_node=lambda node: node.op in (Q_OP, DQ_OP), error_ok=True)
    graph.cleanup()


def _dtype_of(tensor) -> np.dtype | None:
    if tensor.dtype is None:
        return None
    try:
        return np.dtype(tensor.dtype)
    except TypeError:
        return None


def _remove_pass_through(graph: gs.Graph) -> int:
    removed = 0
    for node in list(graph.nodes):
        if node.op == "Identity":
            pass
        elif node.op == "Cast":
            source = _dtype_of(node.inputs[0])
            target = onnx.helper.tensor_dtype_to_np_dtype(node.attrs["to"])
            if source is None or source != target:
                continue
        else:
            continue
        bypass(graph, node)
        removed += 1
    graph.cleanup()
    return removed


def _quantize_constant(weights: np.ndarray, node: gs.Node) -> np.ndarray | None:
    """QuantizeLinear of a constant, computed with torch's fake-quant kernels so the integers equal what the torch
    fake-quant model used (torch multiplies by 1/scale; a division could differ by one level at exact ties)."""
    params = qparams(node)
    if params is None or weights.dtype != np.float32:
        return None
    w = torch.from_numpy(np.ascontiguousarray(weights))
    scale = torch.from_numpy(params.scale.astype(np.float32))
    zero = torch.from_numpy(params.zero_point.astype(np.int32))
    if params.per_channel:
        axis = params.axis % w.dim()
        fq = torch.fake_quantize_per_channel_affine(w, scale.reshape(-1), zero.reshape(-1), axis, params.qmin,
                                                    params.qmax)
        shape = [1] * w.dim()
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    else:
        fq = torch.fake_quantize_per_tensor_affine(w, float(scale.reshape(())), int(zero.reshape(())), params.qmin,
                                                   params.qmax)
    q = torch.round(fq.double() / scale.double()) + zero
    return q.numpy().astype(params.dtype)


def _store_int8_weights(graph: gs.Graph) -> int:
    stored = 0
    for node in list(graph.nodes):
        if node.op != Q_OP:
            continue
        weights = constant_values(node.inputs[0])
        if weights is None:
            continue
        quantized = _quantize_constant(weights, node)
        if quantized is None:
            continue
        out = node.outputs[0]
        constant = gs.Constant(out.name, quantized)
        for consumer in consumers(out):
            for index, tensor in enumerate(consumer.inputs):
                if tensor is out:
                    consumer.inputs[index] = constant
        node.outputs.clear()
        stored += 1
    graph.cleanup()
    return stored


def _scalar(tensor) -> float | None:
    values = constant_values(tensor)
    if values is None or values.size != 1:
        return None
    return float(values.reshape(()))


def _max_min_to_clip(graph: gs.Graph) -> int:
    merged = 0
    for node in list(graph.nodes):
        if node.op != "Max" or len(node.inputs) != 2:
            continue
        low = _scalar(node.inputs[1])
        data = node.inputs[0]
        if low is None:
            continue
        users = consumers(node.outputs[0])
        if len(users) != 1 or users[0].op != "Min" or len(users[0].inputs) != 2:
            continue
        min_node = users[0]
        high = _scalar(min_node.inputs[1])
        if high is None or min_node.inputs[0] is not node.outputs[0]:
            continue
        clip = gs.Node("Clip", node.name.replace("Max", "Clip") or f"{data.name}_clip",
                       inputs=[data, gs.Constant(f"{node.name}_clip_min", np.array(low, np.float32)),
                               gs.Constant(f"{node.name}_clip_max", np.array(high, np.float32))],
                       outputs=[min_node.outputs[0]])
        min_node.outputs.clear()
        node.outputs.clear()
        graph.nodes.append(clip)
        merged += 1
    graph.cleanup()
    return merged


def _dedup_constants(graph: gs.Graph) -> int:
    seen: dict[tuple, gs.Constant] = {}
    replaced = 0
    for node in graph.nodes:
        for index, tensor in enumerate(node.inputs):
            if not isinstance(tensor, gs.Constant):
                continue
            values = np.asarray(tensor.values)
            key = (values.dtype.str, values.shape, values.tobytes())
            kept = seen.setdefault(key, tensor)
            if kept is not tensor:
                node.inputs[index] = kept
                replaced += 1
    graph.cleanup()
    return replaced


def infer_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception as exc:  # shape inference is an aid, not a requirement
        get_logger().warning(f"ONNX shape inference failed ({type(exc).__name__}: {exc}); shapes left as they were")
        return model


def cleanup_graph(model: onnx.ModelProto, keep_outputs: list[str] | None = None) -> tuple[gs.Graph, dict]:
    """Run the cleanup passes; returns the graph and a report of what each pass did."""
    before = Counter(node.op_type for node in model.graph.node)
    graph = gs.import_onnx(infer_shapes(model))
    if keep_outputs:
        kept = [tensor for tensor in graph.outputs if tensor.name in keep_outputs]
        graph.outputs = kept
    graph.cleanup(remove_unused_graph_inputs=False)
    _fold_constants(graph)
    report = {"pass_through_removed": _remove_pass_through(graph),
              "weights_stored_int": _store_int8_weights(graph),
              "clips_merged": _max_min_to_clip(graph)}
    report["constants_deduplicated"] = _dedup_constants(graph)
    graph.cleanup(remove_unused_graph_inputs=False).toposort()
    report["nodes_before"] = sum(before.values())
    report["nodes_after"] = len(graph.nodes)
    return graph, report


def finalize(graph: gs.Graph, opset: int) -> onnx.ModelProto:
    """graphsurgeon graph -> ModelProto with shape inference and a topological order."""
    graph.cleanup(remove_unused_graph_inputs=False).toposort()
    graph.opset = opset
    model = gs.export_onnx(graph, do_type_check=True)
    others = [op for op in model.opset_import if op.domain not in ("", "ai.onnx")]
    del model.opset_import[:]
    model.opset_import.extend(others + [onnx.helper.make_opsetid("", opset)])
    # Intermediate value_info from the exporter may disagree with tensors the passes added: infer afresh.
    del model.graph.value_info[:]
    return infer_shapes(model)


def op_counts(graph: gs.Graph) -> dict[str, int]:
    return dict(sorted(Counter(node.op for node in graph.nodes).items()))


__all__ = ["cleanup_graph", "finalize", "infer_shapes", "op_counts", "producer"]
