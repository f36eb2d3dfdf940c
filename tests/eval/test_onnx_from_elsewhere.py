"""ONNX files exported elsewhere or damaged: missing external data, IR/opset newer than the installation, inputs that
are not RGB images, outputs that are not a detector's, damaged qyolo metadata, operators no runtime has: each is
one line naming the file and what is wrong, in every reader (the one ONNX reader, the backends, the lint, eval)."""
import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from common.cli import run_cli
from common.errors import QYoloError
from common.onnx_file import load_onnx
from eval.backends.base import create_backend


def _model(channels=3, elem=TensorProto.FLOAT, out_shape=(1, 2, 4096), op_domain=None, meta=None):
    """A tiny graph images -> 1x1 conv -> reshape: a stand-in for a model from another exporter."""
    weight = numpy_helper.from_array(np.ones((2, channels, 1, 1), np.float32), "w")
    shape = numpy_helper.from_array(np.array(out_shape, np.int64), "shape")
    nodes = [helper.make_node("Conv", ["images", "w"], ["c"]), helper.make_node("Reshape", ["c", "shape"], ["pred"])]
    if op_domain:
        nodes.append(helper.make_node("Mystery", ["pred"], ["pred2"], domain=op_domain))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("images", elem, [1, channels, 64, 64])],
                              [helper.make_tensor_value_info("pred2" if op_domain else "pred", TensorProto.FLOAT,
                                                             list(out_shape))], [weight, shape])
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(op_domain, 1)] if op_domain else [])
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    for key, value in (meta or {}).items():
        model.metadata_props.add(key=key, value=value)
    return model


def _save(model, path, **kwargs):
    onnx.save_model(model, str(path), **kwargs)
    return path


def test_missing_or_short_external_data_is_one_line_everywhere(tmp_path, capsys):
    from export.lint import main as lint_main

    path = _save(_model(), tmp_path / "m.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
                 location="m.onnx.data", size_threshold=0)
    load_onnx(path)  # complete: fine
    data = tmp_path / "m.onnx.data"
    data.write_bytes(data.read_bytes()[:8])
    with pytest.raises(QYoloError, match=r"keeps tensor 'w' in the external data file 'm\.onnx\.data', which is "
                                         r"shorter"):
        load_onnx(path)
    data.unlink()
    with pytest.raises(QYoloError, match=r"which is missing .*; copy it beside the \.onnx file"):
        create_backend("ort", path)
    assert run_cli(lint_main, [str(path)]) == 2  # the lint does not say "ok" about a graph without its weights
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "which is missing" in err


def test_newer_ir_or_opset_than_installed(tmp_path):
    model = _model()
    model.ir_version = onnx.IR_VERSION + 1
    with pytest.raises(QYoloError, match=f"has ONNX IR version {onnx.IR_VERSION + 1}, newer than this installation"):
        load_onnx(_save(model, tmp_path / "ir.onnx"))
    model = _model()
    model.opset_import[0].version = onnx.defs.onnx_opset_version() + 1
    with pytest.raises(QYoloError, match="newer than this installation knows"):
        load_onnx(_save(model, tmp_path / "opset.onnx"))


@pytest.mark.parametrize("backend", ["ort", "openvino"])
@pytest.mark.parametrize("kwargs,message", [
    ({"channels": 1}, r"takes 1 channel\(s\); the backends feed RGB images"),
    ({"elem": TensorProto.UINT8}, r"its input 'images' is UINT8, not float32"),
    ({"out_shape": (1, 8192)}, r"has 2 dimensions, not a detector's"),
    ({"meta": {"qyolo.imgsz": "abc"}}, r"its metadata qyolo\.imgsz is 'abc', not a multiple of 32"),
    ({"meta": {"qyolo.names": "[not json"}}, r"its metadata qyolo\.names is '\[not json', not a JSON list"),
    ({"meta": {"qyolo.nc": "2", "qyolo.names": json.dumps(["a"])}}, r"qyolo\.names .* not 2 class names"),
    ({"meta": {"qyolo.w_bits": "eight", "qyolo.a_bits": "8"}}, r"qyolo\.w_bits is 'eight', not a bit width"),
    ({"meta": {"qyolo.head_layout": "sideways"}}, r"qyolo\.head_layout is 'sideways'"),
    ({"op_domain": "com.example"}, r"cannot load .*: .*; export the model for this runtime"),
])
def test_graphs_the_backends_cannot_run_are_one_line(tmp_path, backend, kwargs, message):
    path = _save(_model(**kwargs), tmp_path / "m.onnx")
    with pytest.raises(QYoloError, match=message) as info:
        create_backend(backend, path, threads=1)
    assert "\n" not in str(info.value)


@pytest.mark.slow
def test_fidelity_against_another_models_artifact_is_one_line(tmp_path):
    """A graph that is not the artifact's network (here: not a YOLO at all) is named, not compared."""
    import cv2
    import torch

    from calib import CalibConfig, QuantConfig, calibrate
    from eval.fidelity import FidelityConfig, check_fidelity

    images = tmp_path / "images"
    images.mkdir()
    for i in range(2):
        cv2.imwrite(str(images / f"{i}.jpg"), np.random.default_rng(i).integers(0, 255, (64, 64, 3), np.uint8))
    torch.set_num_threads(1)
    artifact = calibrate(CalibConfig(quant=QuantConfig(), data=images, num_images=2, imgsz=64, batch_size=2,
                                     out=tmp_path / "a.pt", progress=False, threads=1))
    model = _model(out_shape=(1, 2, 4096))
    model.graph.node.append(helper.make_node("QuantizeLinear", ["images", "s", "z"], ["q"]))
    model.graph.initializer.extend([numpy_helper.from_array(np.array(0.1, np.float32), "s"),
                                    numpy_helper.from_array(np.array(0, np.uint8), "z")])
    model.graph.output.append(helper.make_tensor_value_info("q", TensorProto.UINT8, [1, 3, 64, 64]))
    path = _save(model, tmp_path / "other.onnx")
    with pytest.raises(QYoloError, match=r"other\.onnx is not the model of calibrated artifact .*a\.pt: it outputs "
                                         r"\[2, 2, 4096\]"):
        check_fidelity(FidelityConfig(model=path, artifact=artifact, data=images, images=2, progress=False,
                                      backend_options={"threads": 1}))
