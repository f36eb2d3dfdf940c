"""Model yamls (a --cfg file, or the one a checkpoint carries) are checked and sized before anything is built."""
import pytest
import torch

from common.errors import QYoloError
from yolo.checkpoint import load_model
from yolo.configs import yolov5_cfg
from yolo.model_yaml import read_model_yaml
from yolo.registry import build_model, named_config


def _edited(edit, name="yolov5n"):
    cfg = named_config(name)
    edit(cfg)
    return cfg


BAD = [
    ("backbone is a string", lambda c: c.update(backbone="Conv"), r"'backbone' is str, not a list"),
    ("row of three fields", lambda c: c["backbone"].__setitem__(1, [-1, 1, "Conv"]), r"backbone row 1 is"),
    ("row not a list", lambda c: c["head"].__setitem__(0, "Conv"), r"head row 0 is 'Conv'"),
    ("from is text", lambda c: c["backbone"][1].__setitem__(0, "prev"), r"'from' is 'prev'"),
    ("number zero", lambda c: c["backbone"][2].__setitem__(1, 0), r"'number' is 0"),
    ("module not a name", lambda c: c["backbone"][2].__setitem__(2, 5), r"'module' is 5"),
    ("args not a list", lambda c: c["backbone"][2].__setitem__(3, 128), r"'args' is 128"),
    ("width multiple NaN", lambda c: c.update(width_multiple=float("nan")), r"width_multiple is nan"),
    ("depth multiple negative", lambda c: c.update(depth_multiple=-1), r"depth_multiple is -1"),
    ("depth multiple huge", lambda c: c.update(depth_multiple=1e6), r"repeats its module 3 x depth 1e\+06 times"),
    ("nc zero", lambda c: c.update(nc=0), r"nc is 0"),
    ("ch huge", lambda c: c.update(ch=10_000), r"ch is 10000"),
    ("anchors garbage", lambda c: c.update(anchors=[[1, 2, 3]]), r"anchors is \[\[1, 2, 3\]\]"),
    ("from out of range", lambda c: c["head"][2].__setitem__(0, [-1, 60]), r"cannot be built \(IndexError"),
    ("width multiple 64", lambda c: c.update(width_multiple=64), r"network of [\d,]+ M parameters, which needs about "
                                                                r"[\d,.]+ GiB of memory, but"),
]


@pytest.mark.parametrize("name,edit,message", BAD, ids=[case[0] for case in BAD])
def test_bad_yamls_are_one_line(name, edit, message):
    with pytest.raises(QYoloError, match=message) as info:
        build_model(_edited(edit))
    assert "\n" not in str(info.value)


def test_ultralytics_scales_are_checked():
    with pytest.raises(QYoloError, match=r"scale 'n' is \[0.5, 64, 1024\]|network of"):
        build_model(_edited(lambda c: c["scales"].update(n=[0.5, 64, 1024]), "yolov8n"))
    with pytest.raises(QYoloError, match=r"scale 'n' is \[0.5\]"):
        build_model(_edited(lambda c: c["scales"].update(n=[0.5]), "yolov8n"))


@pytest.mark.parametrize("content,message", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is a binary file, not text"),
    (b"\xff\xfe\xfa garbage", "is not UTF-8 text"),
    (b"backbone: [", "is not valid YAML"),
    (b"- just\n- a list\n", "is a list, not a model description"),
    (b"nc: 3\n", "has no backbone/head layer lists"),
])
def test_unreadable_cfg_files_are_one_line(tmp_path, content, message):
    path = tmp_path / "model.yaml"
    path.write_bytes(content)
    with pytest.raises(QYoloError, match=message):
        read_model_yaml(path)


def test_a_checkpoint_whose_yaml_is_broken_is_one_line(tmp_path):
    cfg = yolov5_cfg("n", nc=2)
    model = build_model(cfg)
    broken = dict(cfg, backbone="Conv")
    path = tmp_path / "broken.pt"
    torch.save({"format": "q-yolo-state-dict", "yaml": broken, "names": ["a", "b"], "state_dict": model.state_dict()},
               path)
    with pytest.raises(QYoloError, match=r"the model yaml inside checkpoint .*broken\.pt: 'backbone' is str"):
        load_model(path)
    torch.save({"format": "q-yolo-state-dict", "yaml": cfg, "names": [object.__name__, 3.5],
                "state_dict": model.state_dict()}, path)
    with pytest.raises(QYoloError, match="class names are a list of non-text values"):
        load_model(path)
