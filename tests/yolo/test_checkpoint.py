"""Checkpoint loading: the original ultralytics pickled format, our state-dict format, and bad files."""
import argparse
import sys
import types

import pytest
import torch

from common.errors import QYoloError
from yolo import modules as our_modules
from yolo.checkpoint import load_model, trained_imgsz
from yolo.configs import yolov5_cfg
from yolo.model import DetectionModel
from yolo.registry import build_model


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
    model = build_model(yolov5_cfg(scale, nc=nc), names=[f"c{i}" for i in range(nc)])
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
        from yolo.registry import fuse_model
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
        from yolo.registry import fuse_model
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


def test_state_dict_of_another_model_size_names_the_tensor_and_both_shapes(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "v5s.pt"
    torch.save(build_model(yolov5_cfg("s")).state_dict(), path)
    with pytest.raises(QYoloError, match=rf"^checkpoint {path}: tensor model\.0\.conv\.weight has shape "
                                         r"\[32, 3, 6, 6\] in the file but \[16, 3, 6, 6\] in the model its yaml "
                                         r"builds; give the --cfg that matches the weights"):
        load_model(path, cfg="yolov5n")
    assert load_model(path, cfg="yolov5s") is not None


def test_project_file_whose_yaml_and_weights_disagree(tmp_path):
    from yolo.checkpoint import read_checkpoint
    from yolo.fixture import FIXTURE_WEIGHTS

    checkpoint = read_checkpoint(FIXTURE_WEIGHTS)
    checkpoint["yaml"] = yolov5_cfg("s")
    path = tmp_path / "mixed.pt"
    torch.save(checkpoint, path)
    with pytest.raises(QYoloError, match=r"tensor model\.0\.conv\.weight has shape \[16, 3, 6, 6\] in the file but "
                                         r"\[32, 3, 6, 6\] .*; the file's model yaml and weights disagree"):
        load_model(path)


def test_folder_and_onnx_given_as_checkpoint_say_what_they_are(tmp_path):
    with pytest.raises(QYoloError, match=rf"^checkpoint {tmp_path} is a folder; give the checkpoint file"):
        load_model(tmp_path)
    (tmp_path / "m.onnx").write_bytes(b"\x08\x07")
    with pytest.raises(QYoloError, match=r"m\.onnx is an ONNX model, not a PyTorch checkpoint; run it with an ONNX "
                                         r"backend \(python -m eval --backend ort or openvino\)"):
        load_model(tmp_path / "m.onnx")


@pytest.mark.parametrize("payload, expected", [
    ({"train_args": {"imgsz": 320}, "model": None}, 320),  # the ultralytics package's trainer
    ({"opt": {"imgsz": 416}}, 416),  # yolov5 v6+ train.py (vars(opt))
    ({"opt": {"img_size": [512, 384]}}, 512),  # older train.py: [train, test]
    ({"opt": argparse.Namespace(imgsz=608)}, 608),  # an argparse namespace pickled as is
    ({"imgsz": 256, "state_dict": {}}, 256),  # this project's fixtures
    ({"train_args": {"imgsz": 300}}, None),  # not a multiple of 32: not a size a model was trained at
    ({"opt": {"imgsz": True}}, None),
    ({"model": None}, None),  # yolov7 train.py records none
    ([1, 2, 3], None),
])
def test_trained_imgsz_from_what_each_trainer_records(tmp_path, payload, expected):
    path = tmp_path / "ckpt.pt"
    torch.save(payload, path)
    assert trained_imgsz(path) == expected


def test_trained_imgsz_of_unreadable_files_is_none(tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    assert trained_imgsz(tmp_path / "bad.pt") is None and trained_imgsz(tmp_path / "missing.pt") is None


def test_calibration_defaults_to_the_trained_size(tmp_path):
    from calib import CalibConfig

    path = tmp_path / "ckpt.pt"
    torch.save({"train_args": {"imgsz": 320}}, path)
    assert CalibConfig(weights=path).imgsz == 320 and CalibConfig(weights=path, imgsz=640).imgsz == 640
    torch.save({"model": None}, path)
    assert CalibConfig(weights=path).imgsz == 640
