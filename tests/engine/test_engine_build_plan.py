"""Typing and builder flags per TensorRT major version (10: flags, 11: strongly typed only)."""
import pytest

from engine.build_plan import effective_precision, plan_build


def test_tensorrt10_int8_uses_int8_and_fp16_flags_weakly_typed():
    plan = plan_build("10.8.0.43", "int8")
    assert not plan.strongly_typed and plan.flags == ("INT8", "FP16") and plan.float_layers == "fp16"


def test_tensorrt10_fp16_and_fp32():
    assert plan_build("10.8.0.43", "fp16").flags == ("FP16",)
    assert plan_build("10.8.0.43", "fp32").flags == ()


def test_tensorrt10_can_be_asked_for_strong_typing():
    plan = plan_build("10.8.0.43", "int8", typing="strong")
    assert plan.strongly_typed and plan.flags == () and plan.float_layers == "fp32"


def test_tensorrt11_never_sets_precision_flags():
    for precision in ("int8", "fp16", "fp32"):
        plan = plan_build("11.1.0", precision)
        assert plan.strongly_typed and plan.flags == ()
    assert plan_build("11.1.0", "fp16").convert_to_fp16_onnx
    assert not plan_build("11.1.0", "int8").convert_to_fp16_onnx


def test_tensorrt11_refuses_weak_typing():
    with pytest.raises(ValueError, match="removed weakly typed"):
        plan_build("11.0.0", "int8", typing="weak")


def test_int8_without_qdq_is_an_fp16_build():
    assert effective_precision("int8", has_qdq=False) == "fp16"
    assert effective_precision("int8", has_qdq=True) == "int8"
    assert plan_build("10.8.0", "int8", has_qdq=False).flags == ("FP16",)
    assert plan_build("11.1.0", "int8", has_qdq=False).convert_to_fp16_onnx
