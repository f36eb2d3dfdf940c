"""bench.models: every quantized benchmark graph keeps the model family's head output convs in float."""
import onnx
import pytest

from bench.models import VARIANTS, build_models


def _float_convs(path) -> int:
    """Convs whose weight is a float initializer, not the output of a DequantizeLinear."""
    graph = onnx.load(str(path)).graph
    dequantized = {out for node in graph.node if node.op_type == "DequantizeLinear" for out in node.output}
    return sum(1 for node in graph.node if node.op_type == "Conv" and node.input[1] not in dequantized)


@pytest.mark.slow
def test_yolov7_tiny_graphs_keep_the_idetect_convs_in_float(tmp_path):
    paths = dict(zip(VARIANTS, build_models("yolov7-tiny", 64, tmp_path, calib_images=1, nc=2)))
    float_convs = {name: _float_convs(path) for name, path in paths.items()}
    assert float_convs["fp32"] > 50  # nothing quantized
    # stem conv + the 3 IDetect output convs; the int8-stem graphs quantize the stem conv only
    assert {name: n for name, n in float_convs.items() if name != "fp32"} == {
        "minmax-asym-w8a8-cpu": 4, "minmax-asym-w8a8-cpuexact": 4, "minmax-sym-w8a8-trt": 4,
        "minmax-asym-w8a8-int8stem-cpuexact": 3, "minmax-sym-w8a8-int8stem-trt": 3}
