"""The family registry: recognition from the yaml, clear errors for unknown families, head layouts in NMS."""
import pytest
import torch

from common.errors import QYoloError
from yolo.configs import yolov5_cfg
from yolo.family import ANCHOR_FREE, ANCHOR_OBJECTNESS
from yolo.nms import non_max_suppression
from yolo.registry import build_model, families_by_name, family_of, family_of_model, model_names, named_config

FAMILIES = families_by_name()


def test_the_registry_is_the_explicit_list():
    """yolo.families lists the families; the registry finds them there (no registration on import)."""
    from yolo import families

    assert [f.name for f in families.FAMILIES] == ["yolov5", "yolov7", "yolov8", "yolo11", "yolo26", "yolov10"]
    assert list(FAMILIES) == ["yolov5", "yolov7", "yolov8", "yolo11", "yolo26", "yolov10"]
    assert all(FAMILIES[f.name] is f for f in families.FAMILIES)
    assert {"yolov5s", "yolov7-tiny", "yolov8n", "yolo11x", "yolo26n", "yolov10b"} <= set(model_names())


def test_yolov5_yaml_is_recognised_and_built():
    cfg = yolov5_cfg("n", nc=3)
    assert family_of(cfg).name == "yolov5"
    model = build_model(cfg)
    assert model.family == "yolov5" and family_of_model(model) is FAMILIES["yolov5"]
    assert FAMILIES["yolov5"].float_head_classes == ("Detect",)
    assert named_config("yolov5s")["width_multiple"] == 0.5
    assert named_config("no-such-model") is None


def test_float_layers_are_named_per_family():
    """Reports name the layers each family keeps in float; a model names only the head classes it holds."""
    assert FAMILIES["yolov5"].float_layers() == "stem conv and Detect output convs"
    assert FAMILIES["yolov7"].float_layers() == "stem conv and Detect/IDetect output convs"
    tiny = build_model(dict(named_config("yolov7-tiny"), width_multiple=1 / 16))
    assert FAMILIES["yolov7"].float_layers(tiny) == "stem conv and IDetect output convs"
    assert FAMILIES["yolov8"].float_layers() == "stem conv, Detect branch output convs and DFL conv"


def test_unknown_module_type_names_what_was_found():
    cfg = yolov5_cfg("n", nc=3)
    cfg["backbone"][2] = [-1, 3, "RepNCSPELAN4", [128, 64, 32, 1]]
    with pytest.raises(QYoloError, match=r"module type\(s\) \['RepNCSPELAN4'\].*not supported"):
        family_of(cfg)


def test_yaml_without_layers_and_without_signature():
    with pytest.raises(QYoloError, match="no backbone/head"):
        family_of({"nc": 3})
    # only modules every family knows: no family can claim it
    cfg = {"nc": 1, "anchors": 1, "backbone": [[-1, 1, "Concat", [1]]], "head": []}
    with pytest.raises(QYoloError, match="no supported family"):
        family_of(cfg)


def test_layouts_give_the_same_detections():
    """An objectness row with objectness 1 and the same boxes laid out anchor-free yield identical detections."""
    torch.manual_seed(0)
    boxes = torch.rand(1, 50, 4) * 100 + torch.tensor([0, 0, 5, 5])
    cls = torch.rand(1, 50, 3)
    with_obj = torch.cat((boxes, torch.ones(1, 50, 1), cls), 2)
    anchor_free = torch.cat((boxes, cls), 2).transpose(1, 2)
    a = non_max_suppression(with_obj, 0.25, 0.5, layout=ANCHOR_OBJECTNESS)[0]
    b = non_max_suppression(anchor_free, 0.25, 0.5, layout=ANCHOR_FREE)[0]
    assert a.shape[0] > 0 and torch.equal(a, b)
    assert ANCHOR_FREE.num_classes(anchor_free) == 3 and ANCHOR_OBJECTNESS.num_classes(with_obj) == 3


def test_checkpoint_of_an_unknown_family_is_one_clear_error(tmp_path):
    from yolo.checkpoint import load_model

    cfg = yolov5_cfg("n", nc=3)
    cfg["head"][-1] = [[17, 20, 23], 1, "MysteryHead", ["nc", "anchors", 32, 256]]
    path = tmp_path / "mystery.pt"
    torch.save({"format": "q-yolo-state-dict", "yaml": cfg, "state_dict": {}, "names": None}, path)
    with pytest.raises(QYoloError, match=r"checkpoint .*mystery\.pt uses module type\(s\) \['MysteryHead'\]"):
        load_model(path)
