"""Build-config validation and optimization-profile shapes from batch settings."""
from pathlib import Path

import pytest

from engine.config import EngineConfig, profile_shapes


def test_defaults_and_derived_values():
    cfg = EngineConfig(onnx="runs/export/model.onnx", batch=32)
    assert cfg.engine_path == Path("runs/export/model.engine")
    assert cfg.batches == (1, 32, 32)
    assert cfg.workspace_bytes == 4 << 30
    assert EngineConfig(onnx="m.onnx", output="x/y.engine").engine_path == Path("x/y.engine")
    assert EngineConfig(onnx="m.onnx", batch=16, opt_batch=8).batches == (1, 8, 16)


@pytest.mark.parametrize("kwargs, word", [
    ({"precision": "int4"}, "precision"),
    ({"typing": "loose"}, "typing"),
    ({"batch": 0}, "batch"),
    ({"batch": 4, "min_batch": 5}, "min_batch"),
    ({"batch": 4, "opt_batch": 8}, "opt_batch"),
    ({"batch": 4, "min_batch": 2, "opt_batch": 1}, "opt_batch"),
    ({"imgsz": 250}, "imgsz"),
    ({"workspace_gib": 0}, "workspace_gib"),
    ({"optimization_level": 6}, "optimization_level"),
    ({"device": -1}, "device"),
])
def test_bad_values_name_the_field(kwargs, word):
    with pytest.raises(ValueError, match=word):
        EngineConfig(onnx="m.onnx", **kwargs)


def test_profile_for_dynamic_batch():
    shapes = profile_shapes("images", ["batch", 3, 256, 256], (1, 8, 32))
    assert shapes.min == (1, 3, 256, 256) and shapes.opt == (8, 3, 256, 256) and shapes.max == (32, 3, 256, 256)
    assert shapes.as_dict() == {"input": "images", "min": [1, 3, 256, 256], "opt": [8, 3, 256, 256],
                                "max": [32, 3, 256, 256]}


def test_profile_for_static_batch_uses_it_and_refuses_a_larger_one():
    assert profile_shapes("images", [4, 3, 64, 64], (1, 4, 4)).min == (4, 3, 64, 64)
    with pytest.raises(ValueError, match="static batch of 1.*dynamic batch"):
        profile_shapes("images", [1, 3, 64, 64], (1, 32, 32))


def test_profile_dynamic_hw_needs_imgsz_and_static_hw_must_match():
    with pytest.raises(ValueError, match="give imgsz"):
        profile_shapes("images", [None, 3, "h", "w"], (1, 1, 1))
    assert profile_shapes("images", [None, 3, "h", "w"], (1, 1, 2), imgsz=320).max == (2, 3, 320, 320)
    with pytest.raises(ValueError, match="256x256 in the ONNX, but imgsz 640"):
        profile_shapes("images", [-1, 3, 256, 256], (1, 1, 1), imgsz=640)


def test_profile_rejects_non_image_inputs_and_bad_order():
    with pytest.raises(ValueError, match="rank 4"):
        profile_shapes("x", [1, 3, 256], (1, 1, 1))
    with pytest.raises(ValueError, match="min <= opt <= max"):
        profile_shapes("x", ["b", 3, 8, 8], (2, 1, 4))
