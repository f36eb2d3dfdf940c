"""YOLOv7 (WongKinYiu/yolov7): ELAN backbone, SPPCSPC, RepConv outputs, IDetect head with implicit knowledge.

Training-form checkpoints are pickles of `models.yolo.Model` with `models.common.*` blocks, like YOLOv5's; the
yaml tells the two apart (MP/SP/SPPCSPC/RepConv/IDetect are YOLOv7's). Deployment form: Conv+BN folded, RepConv
re-parameterised, ImplicitA/M folded (yolo.fuse protocol). Head output: the same anchor-based [B, N, 5+nc].
"""
from functools import partial

from yolo.families.yolov7_configs import MODELS, yolov7_cfg
from yolo.families.yolov7_modules import REGISTRY
from yolo.family import ANCHOR_OBJECTNESS, Family, register_family
from yolo.fuse import fuse_modules


def _build(cfg, ch=3, nc=None, names=None):
    from yolo.model import DetectionModel

    return DetectionModel(cfg, ch=ch, nc=nc, names=names, family=YOLOV7)


YOLOV7 = register_family(Family(
    name="yolov7",
    modules=REGISTRY,
    signature=frozenset({"MP", "SP", "SPPCSPC", "RepConv", "IDetect", "ReOrg", "Shortcut"}),
    build=_build,
    fuse=fuse_modules,
    head_layout=ANCHOR_OBJECTNESS,
    pickle_module_packages=("models",),
    configs={name: partial(yolov7_cfg, name) for name in MODELS},
))
