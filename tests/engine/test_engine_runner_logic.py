"""Runner/bench/builder pieces that need no GPU: output choice, batch filtering, labels, network flags."""
import types
from pathlib import Path

import pytest

from bench.trt import engine_label, usable_batches
from common.errors import QYoloError
from engine.build import network_flags
from engine.runner import TrtRunner, batch_chunks, pick_prediction_output


def test_pick_prediction_output():
    assert pick_prediction_output({"pred": (-1, 100, 13), "raw0": (-1, 3, 8, 8, 13)}) == "pred"
    assert pick_prediction_output({"output0": (1, 100, 13)}) == "output0"
    assert pick_prediction_output({"dets": (1, 100, 13), "p3": (1, 3, 8, 8, 13)}) == "dets"
    assert pick_prediction_output({"only": (1, 5)}) == "only"
    with pytest.raises(QYoloError, match="name it 'pred'"):
        pick_prediction_output({"a": (1, 2), "b": (1, 3)})


def test_usable_batches(capfd):
    assert usable_batches([1, 32, 1, 64], min_batch=1, max_batch=32) == [1, 32]
    assert "batch 64 is outside the engine's profile 1..32" in capfd.readouterr().err
    assert usable_batches([1, 8], min_batch=8, max_batch=8) == [8]  # a static batch-8 engine: batch 1 skipped
    with pytest.raises(QYoloError, match=r"none of the batches \[1, 2\] fits the engine's profile 8..8"):
        usable_batches([1, 2], min_batch=8, max_batch=8)


def test_batch_chunks_pad_the_last_chunk_of_a_static_engine():
    assert batch_chunks(10, 1, 4) == [(0, 4, 4), (4, 8, 4), (8, 10, 2)]  # dynamic: the tail runs at 2
    assert batch_chunks(10, 4, 4) == [(0, 4, 4), (4, 8, 4), (8, 10, 4)]  # static 4: the tail is padded to 4
    assert batch_chunks(3, 8, 8) == [(0, 3, 8)]
    assert batch_chunks(5, 2, 8) == [(0, 5, 5)]


def test_runner_launches_on_its_own_stream_not_the_legacy_default():
    launched = []
    runner = object.__new__(TrtRunner)
    runner.stream = types.SimpleNamespace(cuda_stream=1234)
    runner.engine_path = Path("m.engine")
    runner.context = types.SimpleNamespace(execute_async_v3=lambda handle: launched.append(handle) or True)
    runner.enqueue()
    assert launched == [1234]


def test_engine_label_from_sidecar():
    metadata = {"qyolo.variant": "uh-sym-w8a8-trt", "qyolo.method": "uh", "qyolo.scheme": "sym", "qyolo.w_bits": "8",
                "qyolo.a_bits": "8"}
    sidecar = {"precision": "int8", "tensorrt_version": "10.8.0.43", "onnx_metadata": metadata,
               "layers": {"int8_convolutions": 40, "convolutions": 60}}
    label = engine_label(sidecar, Path("runs/engines/x.engine"))
    assert label == {"precision": "int8", "engine": "runs/engines/x.engine", "variant": "uh-sym-w8a8-trt",
                     "quantization": {"method": "uh", "scheme": "sym", "w_bits": 8, "a_bits": 8},
                     "tensorrt_version": "10.8.0.43", "int8_convolutions": 40, "convolutions": 60}
    foreign = engine_label(None, Path("a/b.engine"))  # built elsewhere: no sidecar, nothing guessed from the name
    assert foreign["variant"] == "b" and foreign["quantization"] == {} and foreign["precision"] == "unknown"


def test_network_flags_with_and_without_strongly_typed_member():
    class Flags:
        STRONGLY_TYPED = 1

    trt10 = types.SimpleNamespace(NetworkDefinitionCreationFlag=Flags)
    assert network_flags(trt10, strongly_typed=True) == 2 and network_flags(trt10, strongly_typed=False) == 0
    trt_without = types.SimpleNamespace(NetworkDefinitionCreationFlag=types.SimpleNamespace())
    assert network_flags(trt_without, strongly_typed=True) == 0
