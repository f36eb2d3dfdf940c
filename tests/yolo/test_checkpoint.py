"""Checkpoint loading: the original ultralytics pickled format, our state-dict format, and bad files."""
import sys
import types

import pytest
import torch

from common.errors import QYoloError
from yolo import modules as our_modules
from yolo.checkpoint import load_model
from yolo.configs import yolov5_cfg
from yolo.model import DetectionModel


def _ultralytics_style_checkpoint(tmp_path, model: DetectionModel, key: str = "model"):
    """Pickle `model` exactly as yolov5's train.py does, with its classes living in models.common / models.yolo."""
    common = types.ModuleType("models.common")
    yolo_mod = types.ModuleType("models.yolo")
    pkg = types.ModuleType("models")
    renamed = {}
    for name in ("Conv", "Bottleneck", "C3", "SPPF", "Concat"):
        renamed[getattr(our_modules, name)] = type(name, (getattr(our_modules, name),), {"__module__": "models.common"})
        setattr(common, name, renamed[getattr(our_modules, name)])
    renamed[our_modules.Detect] = type("Detect", (our_modules.Detect,), {"__module__": "models.yolo"})
    renamed[DetectionModel] = type("DetectionModel", (DetectionModel,), {"__module__": "models.yolo"})
    yolo_mod.Detect, yolo_mod.DetectionModel = renamed[our_modules.Detect], renamed[DetectionModel]
    saved = {k: sys.modules.get(k) for k in ("models", "models.common", "models.yolo")}
    sys.modules.update({"models": pkg, "models.common": common, "models.yolo": yolo_mod})
    try:
        for m in model.modules():
            if type(m) in renamed:
                m.__class__ = renamed[type(m)]
        ckpt = {"epoch": -1, "best_fitness": None, key: model.half(), "ema": None, "updates": None,
                "optimizer": None, "opt": {"imgsz": 640}, "git": None, "date": "2022-08-17"}
        path = tmp_path / "yolov5-original.pt"
        torch.save(ckpt, path)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return path


def _random_model(nc: int = 80, scale: str = "n", seed: int = 0) -> DetectionModel:
    torch.manual_seed(seed)
    model = DetectionModel(yolov5_cfg(scale, nc=nc), names=[f"c{i}" for i in range(nc)])
    for m in model.modules():  # non-trivial BN statistics so fusion is actually exercised
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def test_original_pickle_round_trip_matches_raw_outputs(tmp_path):
    reference = _random_model(nc=12)
    x = torch.rand(2, 3, 128, 160)
    with torch.no_grad():
        ref_pred, ref_raw = reference(x)
    original = _random_model(nc=12)  # same seed: the same weights, to be pickled in fp16 like the releases
    path = _ultralytics_style_checkpoint(tmp_path, original)
    assert "models.yolo" not in sys.modules
    loaded = load_model(path, fuse=False)
    assert loaded.names == [f"c{i}" for i in range(12)]
    assert torch.equal(loaded.stride, torch.tensor([8.0, 16.0, 32.0]))
    with torch.no_grad():
        pred, raw = loaded(x)
    # fp16 storage in the checkpoint is the only difference from the fp32 reference
    half_ref = _random_model(nc=12).half().float().eval()
    with torch.no_grad():
        half_pred, _ = half_ref(x)
    assert torch.allclose(pred, half_pred, atol=1e-5)
    assert torch.allclose(pred, ref_pred, rtol=1e-2, atol=0.5)
    assert [r.shape for r in raw] == [r.shape for r in ref_raw]


def test_fusion_is_equivalent():
    model = _random_model(nc=3)
    x = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        before, _ = model(x)
        from yolo.fuse import fuse_model
        fuse_model(model)
        after, _ = model(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert torch.allclose(before, after, rtol=1e-4, atol=1e-3)


def test_state_dict_with_cfg_and_fused_layout(tmp_path):
    model = _random_model(nc=5)
    path = tmp_path / "plain.pt"
    torch.save(model.state_dict(), path)
    loaded = load_model(path, cfg=yolov5_cfg("n", nc=5))
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        from yolo.fuse import fuse_model
        assert torch.allclose(loaded(x)[0], fuse_model(model)(x)[0], atol=1e-4)
    with pytest.raises(QYoloError, match="plain state_dict"):
        load_model(path)


@pytest.mark.parametrize("content,match", [
    (b"", "cannot read checkpoint"),
    (b"not a checkpoint at all", "cannot read checkpoint"),
])
def test_corrupt_checkpoint(tmp_path, content, match):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(QYoloError, match=match):
        load_model(path)


def test_unknown_format_and_missing(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": [1, 2, 3]}, path)
    with pytest.raises(QYoloError, match="not a YOLO checkpoint"):
        load_model(path)
    with pytest.raises(QYoloError, match="does not exist"):
        load_model(tmp_path / "missing.pt")


def test_truncated_checkpoint(tmp_path):
    good = tmp_path / "good.pt"
    torch.save(_random_model(nc=2).state_dict(), good)
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(QYoloError, match="corrupt, truncated"):
        load_model(bad, cfg="yolov5n")
