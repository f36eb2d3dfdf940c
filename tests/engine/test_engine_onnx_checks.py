"""What the builder checks before TensorRT sees an ONNX: Q/DQ presence, int8-only, zero points."""
import onnx
import pytest
from engine_onnx_samples import make_model, write_model

from common.errors import QYoloError
from engine.onnx_checks import check_for_tensorrt, summarize_onnx


def test_summary_of_a_trt_profile_graph(tmp_path):
    summary = summarize_onnx(write_model(tmp_path / "q.onnx", qdq="int8"))
    assert summary.input_name == "images" and summary.input_shape == ["batch", 3, 32, 32]
    assert summary.dynamic_batch and summary.opset == 17 and summary.output_names == ["pred"]
    assert (summary.n_quantize, summary.n_dequantize) == (2, 2)
    assert summary.has_qdq and summary.blocking == []
    assert check_for_tensorrt(summary, "int8") == []


def test_int8_build_of_a_graph_without_qdq_warns_it_will_be_fp16(tmp_path, capfd):
    summary = summarize_onnx(write_model(tmp_path / "f.onnx"))
    assert not summary.has_qdq
    warnings = check_for_tensorrt(summary, "int8")
    assert len(warnings) == 1 and "no Q/DQ" in warnings[0] and "FP16" in warnings[0]
    assert "built as FP16" in capfd.readouterr().err
    assert check_for_tensorrt(summary, "fp16") == []


def test_qdq_graph_for_an_fp16_build_says_int8_stays(tmp_path):
    summary = summarize_onnx(write_model(tmp_path / "q.onnx", qdq="int8"))
    assert "will run in INT8" in check_for_tensorrt(summary, "fp16")[0]


def test_uint8_cpu_profile_is_refused_with_the_fix(tmp_path):
    summary = summarize_onnx(write_model(tmp_path / "u.onnx", qdq="uint8", zp_value=128))
    with pytest.raises(QYoloError, match=r"\[type\] act_Q: quantizes to uint8.*--profile trt"):
        check_for_tensorrt(summary, "int8")


def test_nonzero_int8_zero_point_is_refused_naming_the_node(tmp_path):
    summary = summarize_onnx(write_model(tmp_path / "z.onnx", qdq="int8", zp_value=3))
    with pytest.raises(QYoloError, match=r"\[zero-point\] act_Q: zero point \[3\] is not 0"):
        check_for_tensorrt(summary, "int8")


def test_old_opset_with_per_channel_qdq_is_refused(tmp_path):
    model = make_model(qdq="int8", opset=13)
    model.opset_import[0].version = 12  # onnx's checker would not let us build per-channel Q/DQ at 12
    path = tmp_path / "o.onnx"
    onnx.save(model, str(path))
    summary = summarize_onnx(path)
    assert summary.opset == 12
    with pytest.raises(QYoloError, match=r"\[opset\] wq_Q: per-channel Q/DQ needs opset 13.*model is opset 12"):
        check_for_tensorrt(summary, "int8")


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(QYoloError, match="does not exist"):
        summarize_onnx(tmp_path / "none.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00not a protobuf\xff" * 10)
    with pytest.raises(QYoloError, match="not a readable ONNX"):
        summarize_onnx(bad)
