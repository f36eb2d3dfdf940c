"""torch.onnx.export of a calibrated model gives Q/DQ with constant scales that ONNX Runtime runs to the same
numbers as the torch fake-quant model, including the <8-bit emulation (clip, then int8/uint8 Q/DQ)."""
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from calib import QuantConfig, collect_and_compute, quantize_model

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("scheme,bits", [("asym", 8), ("sym", 8), ("asym", 4), ("sym", 4)])
def test_exported_qdq_graph_matches_torch(tmp_path, scheme, bits):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.SiLU(), nn.Conv2d(8, 8, 3, padding=1), nn.SiLU(),
                          nn.MaxPool2d(5, 1, 2), nn.Conv2d(8, 4, 1))
    quantize_model(model, QuantConfig(method="uh", scheme=scheme, w_bits=bits, a_bits=bits))
    collect_and_compute(model, [torch.randn(2, 3, 16, 16)], progress=False)
    x = torch.randn(4, 3, 16, 16)
    path = tmp_path / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), opset_version=17, dynamo=False)
    graph = onnx.load(str(path)).graph
    ops = [node.op_type for node in graph.node]
    assert ops.count("QuantizeLinear") == 5 and ops.count("DequantizeLinear") == 5  # 2 convs x 2, 1 pool input
    assert not {"Div", "Round", "Abs"} & set(ops)  # scales are constants, not computed from the range buffers
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    exported = session.run(None, {graph.input[0].name: x.numpy()})[0]
    with torch.no_grad():
        assert np.array_equal(exported, model(x).numpy())
