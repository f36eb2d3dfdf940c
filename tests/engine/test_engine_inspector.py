"""Engine-inspector JSON (TensorRT 10 and 11 layouts, hand-written samples) -> layer precisions, INT8 counted."""
import json
from pathlib import Path

import pytest

from engine.inspector import format_precision_report, parse_layers, summarize_layers, tensor_precision

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("tensor, expected", [
    ({"Format/Datatype": "Thirty-two wide channel vectorized row major Int8 format"}, "INT8"),
    ({"Format/Datatype": "Channel major FP16 format where channel % 8 == 0"}, "FP16"),
    ({"Format/Datatype": "Row major linear FP32"}, "FP32"),
    ({"Format/Datatype": "Row major linear UInt8 format"}, "UINT8"),
    ({"Format/Datatype": "Row major linear BFloat16 format"}, "BF16"),
    ({"DataType": "Int8", "Format": "Channel major INT8 format (kHWC4)"}, "INT8"),
    ({"Datatype": "Int8", "Format": "kHWC4"}, "INT8"),
    ({"DataType": "Half", "Format": "Row major linear FP16 format (kLINEAR)"}, "FP16"),
    ({"DataType": "Float", "Format": "Row major linear FP32 format (kLINEAR)"}, "FP32"),
    ({"Format/Datatype": "Row major linear Int32"}, "INT32"),
    ({"Name": "x"}, "unknown"),
])
def test_tensor_precision(tensor, expected):
    assert tensor_precision(tensor) == expected


def test_tensorrt10_sample_counts_int8_layers():
    layers = parse_layers((DATA / "inspector_trt10.json").read_text())
    assert [layer.precision for layer in layers] == ["FP32", "FP16", "FP16", "INT8", "INT8", "FP16", "FP32"]
    summary = summarize_layers(layers)
    assert summary["total_layers"] == 7 and summary["int8_convolution_ratio"] == pytest.approx(1 / 3)
    assert summary["by_precision"] == {"FP16": 3, "FP32": 2, "INT8": 2}
    assert summary["convolutions"] == 3 and summary["int8_convolutions"] == 1
    assert summary["float_convolutions"][0].startswith("model.0.conv.weight")
    assert summary["float_convolutions"][1] == "model.24.m.0.weight + /model.24/m.0/Conv"


def test_tensorrt11_sample_with_split_datatype_field():
    summary = summarize_layers(parse_layers(json.loads((DATA / "inspector_trt11.json").read_text())))
    assert summary["int8_convolutions"] == 1 and summary["convolutions"] == 2
    assert summary["int8_convolution_ratio"] == 0.5 and summary["by_precision"] == {"FP32": 2, "INT8": 1}


def test_tensorrt11_sample_spelled_datatype_reads_the_same():
    """Some 11.x builds write "Datatype"; with a format text naming no type, only that field tells INT8."""
    text = (DATA / "inspector_trt11.json").read_text().replace('"DataType"', '"Datatype"')
    for fmt in ("Channel major INT8 format (kHWC4)", "Row major linear FP32 format (kLINEAR)"):
        text = text.replace(fmt, fmt.split(" (")[1].rstrip(")"))
    summary = summarize_layers(parse_layers(text))
    assert summary["int8_convolutions"] == 1 and summary["by_precision"] == {"FP32": 2, "INT8": 1}
    assert "no convolution runs in INT8" not in format_precision_report(summary, "int8")


def test_names_only_engine_has_no_detail():
    layers = parse_layers(json.dumps({"Layers": ["conv0 + relu", "pool"], "Bindings": ["in", "out"]}))
    assert layers is None
    summary = summarize_layers(layers)
    assert summary["detail_available"] is False and summary["int8_convolution_ratio"] is None
    assert "DETAILED" in format_precision_report(summary, "int8")


def test_not_an_inspector_json():
    with pytest.raises(ValueError, match="Layers"):
        parse_layers("{}")


def test_report_says_whether_int8_took():
    summary = summarize_layers(parse_layers((DATA / "inspector_trt10.json").read_text()))
    report = format_precision_report(summary, "int8")
    assert report.startswith("convolutions in INT8: 1/3 (33%)")
    assert "convolutions left in float" in report and "WARNING" not in report
    # dequantize/reformat steps read INT8 too (2 "INT8 layers" here) but no convolution does: still a warning
    only_reformats = dict(summary, int8_convolutions=0, int8_convolution_ratio=0.0)
    assert "no convolution runs in INT8" in format_precision_report(only_reformats, "int8")
    assert "no convolution runs in INT8" not in format_precision_report(only_reformats, "fp16")


# The Q/DQ graph's convolutions: model.1 and model.2 read a DequantizeLinear, the first conv and the Detect conv not.
CONV_NODES = {"/model.0/conv/Conv": False, "/model.1/conv/Conv": True, "/model.2/cv1/conv/Conv": True,
              "/model.24/m.0/Conv": False}


def test_convolutions_inside_a_myelin_layer_are_counted():
    """TensorRT 10's Myelin backend compiles a subgraph into one layer without ParameterType; its Metadata lists the
    ONNX nodes it holds, and the source ONNX says which of those are Q/DQ convolutions."""
    layers = parse_layers((DATA / "inspector_trt10_myelin.json").read_text())
    assert [layer.is_fused_subgraph for layer in layers] == [False, True]
    assert layers[1].onnx_nodes[:2] == ("/model.1/conv/_input_quantizer/QuantizeLinear", "/model.1/conv/Conv")
    summary = summarize_layers(layers, CONV_NODES)
    assert summary["convolutions"] == 4 and summary["fused_convolutions"] == 3
    assert summary["int8_convolutions"] == 2 and summary["int8_convolution_ratio"] == 0.5
    assert summary["float_convolutions"][1:] == ["/model.24/m.0/Conv"]
    report = format_precision_report(summary, "int8")
    assert report.startswith("convolutions in INT8: 2/4 (50%); 3 of them inside fused Myelin layers")
    assert "WARNING" not in report


def test_a_myelin_layer_without_the_onnx_counts_its_convolutions_by_name():
    layers = parse_layers((DATA / "inspector_trt10_myelin.json").read_text())
    summary = summarize_layers(layers)  # `python -m engine inspect` of an engine whose sidecar predates the record
    assert summary["convolutions"] == 4 and summary["fused_convolutions"] == 3
    assert summary["int8_convolutions"] == 0  # precision unknown without the Q/DQ: the fused layer reads FP16


def test_a_whole_network_in_myelin_still_has_a_ratio():
    """Everything in one ForeignNode, as TensorRT 11 may do: no convolution layer at all. The ratio must come from
    the convolutions the layer holds (the GPU test compares it with 0.5), not be None."""
    text = (DATA / "inspector_trt10_myelin.json").read_text()
    data = json.loads(text)
    data["Layers"] = data["Layers"][1:]
    data["Layers"][0]["LayerType"] = "kgen"
    summary = summarize_layers(parse_layers(data), CONV_NODES)
    assert summary["convolutions"] == 3 and summary["int8_convolution_ratio"] == pytest.approx(2 / 3)
    no_metadata = dict(data["Layers"][0])
    del no_metadata["Metadata"]
    summary = summarize_layers(parse_layers({"Layers": [no_metadata]}), CONV_NODES)
    assert summary["convolutions"] == 0 and summary["int8_convolution_ratio"] is None  # the name says only ends
