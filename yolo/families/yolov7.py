"""YOLOv7 (WongKinYiu/yolov7): ELAN backbone, SPPCSPC, RepConv outputs, IDetect head with implicit knowledge.

Training-form checkpoints are pickles of `models.yolo.Model` with `models.common.*` blocks, like YOLOv5's; the
yaml tells the two apart (MP/SP/SPPCSPC/RepConv/IDetect are YOLOv7's). Deployment form: Conv+BN folded, RepConv
re-parameterised, ImplicitA/M folded (yolo.fuse protocol). Head output: the same anchor-based [B, N, 5+nc].
"""
from functools import partial

from yolo.families.yolov7_configs import MODELS, yolov7_cfg
from yolo.families.yolov7_modules import REGISTRY
from yolo.family import ANCHOR_OBJECTNESS, Family
from yolo.fuse import fuse_modules
from yolo.model import DetectionModel

YOLOV7 = Family(
    name="yolov7",
    modules=REGISTRY,
    signature=frozenset({"MP", "SP", "SPPCSPC", "RepConv", "IDetect", "ReOrg", "Shortcut"}),
    build=DetectionModel,
    fuse=fuse_modules,
    head_layout=ANCHOR_OBJECTNESS,
    pickle_module_packages=("models",),
    configs={name: partial(yolov7_cfg, name) for name in MODELS},
)
