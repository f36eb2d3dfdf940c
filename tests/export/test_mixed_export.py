"""Mixed-precision graphs: every layer's Q/DQ in the exported graph carries the widths and the range of the plan
(trt and cpu profiles), the graph says it is mixed, and ONNX Runtime computes what the fake-quant model computes."""
import json
import re

import numpy as np
import onnx_graphsurgeon as gs
import pytest
import torch
from export_helpers import IMGSZ, calibrated_fixture, numpy_batches, ort_run

from calib import QuantConfig, recompute_ranges
from common.onnx_file import load_onnx
from export import export_model
from export.config import ExportConfig
from export.placement import find_quantizers
from export.qdq import DQ_OP, Q_OP, constant_values, producer, qparams
from sensitivity.layers import quantized_layers

PLAN = {"model.1.conv": (8, 8), "model.4.m.0.cv1.conv": (8, 8), "model.9.m": (8, 8), "model.17.cv3.conv": (4, 8),
        "model.20.cv1.conv": (8, 4)}


def layer_of(node_name: str) -> str:
    """Module name from a TorchScript-exported node name: '/model.2/m/m.0/cv1/conv/Conv' -> 'model.2.m.0.cv1.conv'
    (a scope repeated with an index, 'm' then 'm.0', is one module; a module called again gets '_1', '_2')."""
    parts = []
    for part in node_name.strip("/").split("/")[:-1]:
        part = re.sub(r"_\d+$", "", part)
        if parts and part.startswith(parts[-1] + "."):
            parts[-1] = part
        else:
            parts.append(part)
    return ".".join(parts)


def weight_levels(dq: gs.Node) -> np.ndarray:
    """The integer weight levels behind a weight DQ (a constant, or a Q of a constant folded or not)."""
    values = constant_values(dq.inputs[0])
    if values is not None:
        return values.astype(np.int64)
    q = producer(dq.inputs[0])
    assert q is not None and q.op == Q_OP
    params = qparams(q)
    weights = constant_values(q.inputs[0])
    shape = [-1] + [1] * (weights.ndim - 1)
    levels = np.round(weights / params.scale.reshape(shape)) + params.zero_point.reshape(shape)
    return np.clip(levels, params.qmin, params.qmax).astype(np.int64)


@pytest.mark.slow
@pytest.mark.parametrize("profile, scheme", [("cpu", "asym"), ("trt", "sym")])
def test_mixed_graph_ranges_match_the_plan(tmp_path, profile, scheme):
    model = calibrated_fixture(scheme=scheme, bits=4)
    quant = QuantConfig(method="uh", scheme=scheme, w_bits=4, a_bits=4, layer_bits=PLAN)
    recompute_ranges(model, quant)
    path = export_model(model, ExportConfig(out=tmp_path / f"mixed-{profile}.onnx", profile=profile, imgsz=IMGSZ,
                                            dynamic_batch=True), calib_batches=numpy_batches())
    proto = load_onnx(path, "")
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["qyolo.precision"] == "MIXED-emulated W4/8A4/8" and meta["qyolo.placement"] == "off"
    assert json.loads(meta["qyolo.mixed"]) == {"w_bits": [4, 8], "a_bits": [4, 8]}
    assert (meta["qyolo.w_bits"], meta["qyolo.a_bits"]) == ("4", "4")
    graph = gs.import_onnx(proto)
    by_output = {q.output.name: q for q in find_quantizers(graph)}
    layers = {layer.name: layer for layer in quantized_layers(model)}
    seen = set()
    for node in graph.nodes:
        if node.op not in ("Conv", "MaxPool") or producer(node.inputs[0]) is None \
                or producer(node.inputs[0]).op != DQ_OP:
            continue
        name = layer_of(node.name)
        w_bits, a_bits = PLAN.get(name, (4, 4))
        activation = by_output[node.inputs[0].name]
        torch_quantizer = layers[name].quantizers[0]
        scale, zero_point = torch_quantizer.scale_and_zero_point()
        assert activation.bits == a_bits == torch_quantizer.num_bits, name
        assert np.float32(activation.params.scale) == np.float32(scale.item()), name
        assert int(activation.params.zero_point) == int(zero_point.item()), name
        low, high = activation.level_range()
        assert high - low == 2 ** a_bits - 1, name
        if node.op == "Conv":
            levels = weight_levels(producer(node.inputs[1]))
            assert levels.min() >= -(2 ** (w_bits - 1)) and levels.max() <= 2 ** (w_bits - 1) - 1, name
            assert np.abs(levels).max() == 2 ** (w_bits - 1) - 1, name  # absmax per channel reaches the top level
            weight_scale, _ = layers[name].quantizers[1].scale_and_zero_point()
            assert np.array_equal(qparams(producer(node.inputs[1])).scale, weight_scale.numpy()), name
        seen.add(name)
    assert seen == set(layers)  # every quantized layer was found in the graph and checked
    x = numpy_batches()[0]
    with torch.no_grad():
        reference = model.eval()(torch.from_numpy(x))[0].numpy()
    deployed = ort_run(path, x)
    assert np.abs(deployed - reference).max() < 0.5  # pixels / probabilities; rounding ties aside, identical
    assert np.median(np.abs(deployed - reference)) < 1e-4
