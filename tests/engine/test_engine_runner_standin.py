"""engine.runner.TrtRunner and the `tensorrt` eval backend through the TensorRT stand-in, on both API generations:
outputs equal ONNX Runtime's on the same graph (the stand-in runs the plan's ONNX on the memory the runner
binds), stream ordering with the caller, static-batch padding, and the failures TensorRT reports by return value."""
import json

import numpy as np
import onnxruntime as ort
import pytest
from engine_onnx_samples import write_model

from common.errors import QYoloError
from engine.build import build_engine
from engine.config import EngineConfig
from engine.runner import TrtRunner
from eval.backends.base import create_backend


def reference(onnx_path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return session.run(["pred"], {"images": x})[0]


def build(onnx_path, tmp_path, name="e.engine", **kwargs):
    return build_engine(EngineConfig(onnx=onnx_path, output=tmp_path / name, timing_cache=None, **kwargs))


@pytest.fixture
def qdq(tmp_path):
    return write_model(tmp_path / "qdq.onnx", qdq="int8")


def test_runner_computes_the_onnx_over_chunks(trt, qdq, tmp_path):
    runner = TrtRunner(build(qdq, tmp_path, batch=4))
    x = np.random.default_rng(1).random((6, 3, 32, 32), dtype=np.float32)  # 6 images: chunks of 4 and 2
    np.testing.assert_allclose(runner(x), reference(qdq, x), rtol=1e-6, atol=1e-6)
    assert runner.input_hw == (32, 32) and runner.max_batch == 4 and runner.prediction_name == "pred"
    assert sorted(runner._buffers) == [(2, 3, 32, 32), (4, 3, 32, 32)]  # one set of buffers per shape
    runner.close()
    assert runner.context is None and runner.engine is None


def test_static_batch_engine_pads_the_last_chunk(trt, tmp_path):
    onnx_path = write_model(tmp_path / "static.onnx", qdq="int8", batch=2)
    runner = TrtRunner(build(onnx_path, tmp_path, batch=2))
    x = np.random.default_rng(2).random((3, 3, 32, 32), dtype=np.float32)
    expected = np.concatenate([reference(onnx_path, x[:2]), reference(onnx_path, np.concatenate(
        [x[2:], np.zeros_like(x[2:])]))[:1]])
    np.testing.assert_allclose(runner(x), expected, rtol=1e-6, atol=1e-6)


def test_infer_torch_waits_for_the_callers_stream(trt, gpu, qdq, tmp_path):
    """The caller's input may still be being written by work queued on its current stream: the runner's stream
    must wait for it before copying, or it reads what was there before."""
    runner = TrtRunner(build(qdq, tmp_path, batch=2))
    torch = runner.torch
    data = np.random.default_rng(3).random((2, 3, 32, 32), dtype=np.float32)
    batch = torch.zeros((2, 3, 32, 32), device=runner.device)  # "device" memory, still zeros
    caller = torch.cuda.current_stream(runner.device)
    gpu.submit(caller.cuda_stream, lambda: batch.copy_(torch.from_numpy(data)))  # queued, not yet run
    outputs = runner.infer_torch(batch)
    np.testing.assert_allclose(outputs["pred"].numpy(), reference(qdq, data), rtol=1e-6, atol=1e-6)


def test_outputs_are_ready_on_the_callers_stream(trt, gpu, qdq, tmp_path):
    runner = TrtRunner(build(qdq, tmp_path, batch=2))
    x = np.random.default_rng(4).random((2, 3, 32, 32), dtype=np.float32)
    outputs = runner.infer_torch(runner.torch.from_numpy(x))
    assert not runner.stream.pending  # the caller's stream was ordered after the launch
    np.testing.assert_allclose(outputs["pred"].numpy(), reference(qdq, x), rtol=1e-6, atol=1e-6)


def test_a_refused_input_shape_is_a_user_error(trt, qdq, tmp_path):
    runner = TrtRunner(build(qdq, tmp_path, batch=2))
    trt.__standin__.faults.add("set_input_shape")  # the binding returns False, it does not raise
    with pytest.raises(QYoloError, match=r"TensorRT refused input shape \(1, 3, 32, 32\)"):
        runner(np.zeros((1, 3, 32, 32), np.float32))


def test_a_refused_tensor_address_is_a_user_error(trt, qdq, tmp_path):
    runner = TrtRunner(build(qdq, tmp_path, batch=2))
    trt.__standin__.faults.add("set_tensor_address")
    with pytest.raises(QYoloError, match="TensorRT refused the address of tensor 'images'"):
        runner(np.zeros((1, 3, 32, 32), np.float32))


def test_shapes_outside_the_profile_are_refused_before_tensorrt(trt, qdq, tmp_path):
    runner = TrtRunner(build(qdq, tmp_path, batch=2))
    with pytest.raises(QYoloError, match="outside the engine's profile"):
        runner.buffers((2, 3, 64, 64))


def test_engine_from_another_tensorrt_is_refused_with_the_rebuild_command(trt, qdq, tmp_path):
    engine = build(qdq, tmp_path)
    sidecar_path = engine.with_name(engine.name + ".json")
    record = json.loads(sidecar_path.read_text())
    record["tensorrt_version"] = "10.3.0.26"
    sidecar_path.write_text(json.dumps(record))
    with pytest.raises(QYoloError, match=rf"built by TensorRT 10.3.0.26, but this is TensorRT {trt.__version__}.*"
                                         rf"--onnx {qdq}"):
        TrtRunner(engine)


def test_an_engine_tensorrt_cannot_load_names_the_likely_causes(trt, tmp_path):
    engine = tmp_path / "foreign.engine"
    engine.write_bytes(b"ftrt" + bytes(64))  # no sidecar: built elsewhere
    with pytest.raises(QYoloError, match="could not load engine .*Likely causes"):
        TrtRunner(engine)
    with pytest.raises(QYoloError, match="does not exist"):
        TrtRunner(tmp_path / "missing.engine")


def test_tensorrt_eval_backend(trt, qdq, tmp_path):
    backend = create_backend("tensorrt", build(qdq, tmp_path, batch=4), device="cuda:0", threads=2)
    x = np.random.default_rng(5).random((5, 3, 32, 32), dtype=np.float32)
    assert backend.precision == "int8" and backend.input_size == 32 and backend.max_batch == 4
    np.testing.assert_allclose(backend(x), reference(qdq, x), rtol=1e-6, atol=1e-6)
    with pytest.raises(QYoloError, match="takes \\(32, 32\\) inputs"):
        backend(np.zeros((1, 3, 64, 64), np.float32))
    with pytest.raises(QYoloError, match="not a CUDA device"):
        create_backend("tensorrt", tmp_path / "e.engine", device="cpu")
    backend.close()
    assert backend.runner is None
