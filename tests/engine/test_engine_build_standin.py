"""`python -m engine build` and `inspect` through the TensorRT stand-in, on both API generations: the typing and
flags each generation gets, the sidecar and layer report, timing caches shared between images, and the failures
TensorRT reports by return value (None, -1) instead of raising."""
import json

import pytest
from engine_onnx_samples import write_model
from trt_standin.plan import CACHE_MAGIC, Plan, timing_cache_bytes

from common.cli import run_cli
from common.errors import QYoloError
from engine.build import build_engine
from engine.cli import main as engine_main
from engine.config import EngineConfig


def build_cli(*args: str) -> int:
    return run_cli(engine_main, ["build", *args])


@pytest.fixture
def qdq_onnx(tmp_path):
    return write_model(tmp_path / "qdq.onnx", qdq="int8")


@pytest.fixture
def fp32_onnx(tmp_path):
    return write_model(tmp_path / "fp32.onnx")


def sidecar(engine) -> dict:
    return json.loads(engine.with_name(engine.name + ".json").read_text())


def built_plan(engine) -> Plan:
    return Plan.deserialize(engine.read_bytes())


def test_int8_build_typing_flags_sidecar_and_report(trt, qdq_onnx, tmp_path, capsys):
    engine, cache = tmp_path / "int8.engine", tmp_path / "timing.cache"
    assert build_cli("--onnx", str(qdq_onnx), "--out", str(engine), "--batch", "4", "--opt-batch", "2",
                     "--timing-cache", str(cache), "--optimization-level", "2") == 0
    plan = built_plan(engine)
    record = sidecar(engine)
    if trt.__version__.startswith("10."):  # weakly typed, Q/DQ layers INT8, the rest free to use FP16
        assert (plan.strongly_typed, plan.flags) == (False, ["FP16", "INT8"])
        assert record["build"]["float_layers"] == "fp16"
    else:  # TensorRT 11: no precision flags exist; always strongly typed
        assert (plan.strongly_typed, plan.flags) == (True, [])
        assert record["build"]["float_layers"] == "fp32"
    assert plan.profile == {"images": [[1, 3, 32, 32], [2, 3, 32, 32], [4, 3, 32, 32]]}
    assert record["tensorrt_version"] == trt.__version__ and record["gpu"]["name"] == trt.__standin__.gpu.name
    assert record["precision"] == "int8" and record["profile"]["opt"] == [2, 3, 32, 32]
    assert record["onnx_convolutions"] == {"conv0": True}
    # the sample's only conv is followed by no other: TensorRT hands it to Myelin with the rest of the graph
    assert record["layers"]["convolutions"] == 1 and record["layers"]["fused_convolutions"] == 1
    assert record["layers"]["int8_convolution_ratio"] == 1.0
    assert cache.read_bytes() == timing_cache_bytes(trt.__version__, trt.__standin__.gpu.name)
    layers = json.loads(engine.with_name(engine.name + ".layers.json").read_text())
    assert layers["Layers"][0]["LayerType"] == ("Myelin" if trt.__version__.startswith("10.") else "kgen")
    capsys.readouterr()
    assert run_cli(engine_main, ["inspect", str(engine)]) == 0
    out = capsys.readouterr().out
    assert "convolutions in INT8: 1/1 (100%); 1 of them inside fused Myelin layers" in out
    assert "WARNING" not in out


def test_fp16_build_per_generation(trt, fp32_onnx, tmp_path):
    engine = build_engine(EngineConfig(onnx=fp32_onnx, output=tmp_path / "fp16.engine", precision="fp16", batch=2,
                                       timing_cache=None))
    plan, record = built_plan(engine), sidecar(engine)
    if trt.__version__.startswith("10."):
        assert (plan.strongly_typed, plan.flags, plan.network.float16_graph) == (False, ["FP16"], False)
    else:  # strongly typed FP16 needs the graph itself in FP16: engine.fp16_onnx writes that copy
        assert (plan.strongly_typed, plan.flags, plan.network.float16_graph) == (True, [], True)
        assert record["build"]["fp16_onnx"] and (tmp_path / "fp16.fp16.onnx").is_file()
    assert record["precision"] == "fp16" and record["layers"]["int8_convolutions"] == 0


def test_strong_typing_on_tensorrt_10_and_weak_refused_on_11(trt, qdq_onnx, tmp_path):
    cfg = dict(onnx=qdq_onnx, output=tmp_path / "e.engine", timing_cache=None)
    if trt.__version__.startswith("10."):
        build_engine(EngineConfig(**cfg, typing="strong"))
        assert trt.__standin__.calls[-1] == ("build", [], True)
    else:
        with pytest.raises(QYoloError, match="removed weakly typed networks"):
            build_engine(EngineConfig(**cfg, typing="weak"))


def test_a_timing_cache_tensorrt_cannot_read_is_replaced(trt, qdq_onnx, tmp_path, capfd):
    """runs/ is shared between images: another TensorRT's cache makes create_timing_cache return None, which
    set_timing_cache would refuse with a TypeError. The build warns, starts fresh and saves a cache it can read."""
    cache = tmp_path / "timing.cache"
    cache.write_bytes(b"\x00\x17 a cache from some other TensorRT build")
    engine = build_engine(EngineConfig(onnx=qdq_onnx, output=tmp_path / "e.engine", timing_cache=cache))
    assert engine.is_file() and "was written by another TensorRT version or GPU" in capfd.readouterr().err
    assert cache.read_bytes().startswith(CACHE_MAGIC)


def test_a_timing_cache_of_another_gpu_is_replaced(trt, qdq_onnx, tmp_path, capfd):
    cache = tmp_path / "timing.cache"
    cache.write_bytes(timing_cache_bytes(trt.__version__, "NVIDIA Another GPU"))  # readable, but a mismatch
    build_engine(EngineConfig(onnx=qdq_onnx, output=tmp_path / "e.engine", timing_cache=cache))
    assert "was written by another TensorRT version or GPU" in capfd.readouterr().err
    assert cache.read_bytes() == timing_cache_bytes(trt.__version__, trt.__standin__.gpu.name)


def test_a_refused_optimization_profile_is_a_user_error(trt, qdq_onnx, tmp_path):
    trt.__standin__.faults.add("add_optimization_profile")  # the binding returns -1, it does not raise
    with pytest.raises(QYoloError, match="TensorRT refused the optimization profile"):
        build_engine(EngineConfig(onnx=qdq_onnx, output=tmp_path / "e.engine", timing_cache=None))
    assert not (tmp_path / "e.engine").exists()


def test_parser_errors_are_listed(trt, tmp_path, capsys):
    import onnx
    from onnx import helper

    model = onnx.load(str(write_model(tmp_path / "m.onnx")))
    model.graph.node.append(helper.make_node("FancyOp", ["pred"], ["fancy"], name="fancy0", domain="com.example"))
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    onnx.save(model, str(tmp_path / "custom.onnx"))
    assert build_cli("--onnx", str(tmp_path / "custom.onnx"), "--timing-cache", "none") == 2
    err = capsys.readouterr().err
    assert "TensorRT's ONNX parser rejected" in err and "fancy0" in err and "FancyOp" in err


def test_gpu_without_int8_is_refused_before_the_build(monkeypatch, qdq_onnx, tmp_path):
    from trt_standin import StandInGpu, install_standin

    install_standin(monkeypatch, "10", StandInGpu(name="Tesla P100", capability=(6, 0)))
    with pytest.raises(QYoloError, match="Tesla P100 .compute capability 6.0"):
        build_engine(EngineConfig(onnx=qdq_onnx, output=tmp_path / "e.engine", timing_cache=None))


def test_the_progress_monitor_follows_the_builder(trt, qdq_onnx, tmp_path, capfd):
    build_engine(EngineConfig(onnx=qdq_onnx, output=tmp_path / "e.engine", timing_cache=None))
    err = capfd.readouterr().err
    assert "TensorRT: Building engine" in err and "TensorRT: Tactic selection" in err
