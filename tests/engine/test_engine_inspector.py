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
    assert summary["int8_layers"] == 2 and summary["total_layers"] == 7
    assert summary["by_precision"] == {"FP16": 3, "FP32": 2, "INT8": 2}
    assert summary["convolutions"] == 3 and summary["int8_convolutions"] == 1
    assert summary["float_convolutions"][0].startswith("model.0.conv.weight")
    assert summary["float_convolutions"][1] == "model.24.m.0.weight + /model.24/m.0/Conv"


def test_tensorrt11_sample_with_split_datatype_field():
    summary = summarize_layers(parse_layers(json.loads((DATA / "inspector_trt11.json").read_text())))
    assert summary["int8_layers"] == 1 and summary["int8_convolutions"] == 1 and summary["convolutions"] == 2
    assert summary["by_precision"] == {"FP32": 2, "INT8": 1}


def test_names_only_engine_has_no_detail():
    layers = parse_layers(json.dumps({"Layers": ["conv0 + relu", "pool"], "Bindings": ["in", "out"]}))
    assert layers is None
    summary = summarize_layers(layers)
    assert summary["detail_available"] is False and summary["int8_layers"] is None
    assert "DETAILED" in format_precision_report(summary, "int8")


def test_not_an_inspector_json():
    with pytest.raises(ValueError, match="Layers"):
        parse_layers("{}")


def test_report_says_whether_int8_took():
    summary = summarize_layers(parse_layers((DATA / "inspector_trt10.json").read_text()))
    report = format_precision_report(summary, "int8")
    assert "INT8 layers: 2" in report and "convolutions in INT8: 1/3" in report
    assert "convolutions left in float" in report and "WARNING" not in report
    no_int8 = dict(summary, int8_layers=0, by_precision={"FP16": 7})
    assert "no INT8 layer" in format_precision_report(no_int8, "int8")
    assert "no INT8 layer" not in format_precision_report(no_int8, "fp16")
