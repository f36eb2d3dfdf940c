"""Runner/bench/builder pieces that need no GPU: output choice, batch filtering, labels, network flags."""
import types
from pathlib import Path

import pytest

from common.errors import QYoloError
from engine.bench import engine_label, usable_batches
from engine.build import network_flags
from engine.runner import pick_prediction_output


def test_pick_prediction_output():
    assert pick_prediction_output({"pred": (-1, 100, 13), "raw0": (-1, 3, 8, 8, 13)}) == "pred"
    assert pick_prediction_output({"output0": (1, 100, 13)}) == "output0"
    assert pick_prediction_output({"dets": (1, 100, 13), "p3": (1, 3, 8, 8, 13)}) == "dets"
    assert pick_prediction_output({"only": (1, 5)}) == "only"
    with pytest.raises(QYoloError, match="name it 'pred'"):
        pick_prediction_output({"a": (1, 2), "b": (1, 3)})


def test_usable_batches(capfd):
    assert usable_batches([1, 32, 1, 64], max_batch=32) == [1, 32]
    assert "batch 64 exceeds" in capfd.readouterr().err


def test_engine_label_from_sidecar():
    sidecar = {"precision": "int8", "tensorrt_version": "10.8.0.43", "layers": {"int8_layers": 40},
               "onnx_metadata": {"variant": "uh-sym-w8a8"}}
    label = engine_label(sidecar, Path("runs/engines/x.engine"))
    assert label == {"precision": "int8", "engine": "runs/engines/x.engine", "variant": "uh-sym-w8a8",
                     "tensorrt_version": "10.8.0.43", "int8_layers": 40}
    assert engine_label(None, Path("a/b.engine"))["variant"] == "b"


def test_network_flags_with_and_without_strongly_typed_member():
    class Flags:
        STRONGLY_TYPED = 1

    trt10 = types.SimpleNamespace(NetworkDefinitionCreationFlag=Flags)
    assert network_flags(trt10, strongly_typed=True) == 2 and network_flags(trt10, strongly_typed=False) == 0
    trt_without = types.SimpleNamespace(NetworkDefinitionCreationFlag=types.SimpleNamespace())
    assert network_flags(trt_without, strongly_typed=True) == 0
