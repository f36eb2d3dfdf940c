"""YOLOv5 (ultralytics/yolov5 v6.x / v7.0): C3/SPPF backbone, anchor-based Detect head with objectness."""
from functools import partial

from yolo.configs import SCALES, yolov5_cfg
from yolo.family import ANCHOR_OBJECTNESS, Family
from yolo.fuse import fuse_modules
from yolo.model import DetectionModel
from yolo.modules import MODULE_REGISTRY

YOLOV5 = Family(
    name="yolov5",
    modules=MODULE_REGISTRY,
    signature=frozenset({"C3", "SPPF"}),
    build=DetectionModel,
    fuse=fuse_modules,
    head_layout=ANCHOR_OBJECTNESS,
    pickle_module_packages=("models",),
    configs={f"yolov5{scale}": partial(yolov5_cfg, scale) for scale in SCALES},
)
