"""YOLOv10 as the `ultralytics` package builds it (yolov10{n,s,m,b,l,x}.yaml), registered as the family "yolov10".

YOLOv8's backbone with SCDown downsampling, compact inverted blocks (C2fCIB) in the deeper stages, a PSA attention
stage and the v10Detect head, whose one-to-one branch gives the detections without NMS. Unlike the other
families each size has its own yaml: the stages that use C2fCIB (and its large-kernel variant) differ by size.
"""
import copy
from functools import partial

from yolo.families import yolov10_modules as v10
from yolo.families.ultralytics import scaled_cfg, ultralytics_family
from yolo.families.ultralytics_modules import C2f
from yolo.family import END_TO_END

_SCALES = {"n": [0.33, 0.25, 1024], "s": [0.33, 0.50, 1024], "m": [0.67, 0.75, 768], "b": [0.67, 1.00, 512],
           "l": [1.00, 1.00, 512], "x": [1.00, 1.25, 512]}
_BASE = {
    "backbone": [[-1, 1, "Conv", [64, 3, 2]], [-1, 1, "Conv", [128, 3, 2]], [-1, 3, "C2f", [128, True]],
                 [-1, 1, "Conv", [256, 3, 2]], [-1, 6, "C2f", [256, True]], [-1, 1, "SCDown", [512, 3, 2]],
                 [-1, 6, "C2f", [512, True]], [-1, 1, "SCDown", [1024, 3, 2]], [-1, 3, "C2fCIB", [1024, True]],
                 [-1, 1, "SPPF", [1024, 5]], [-1, 1, "PSA", [1024]]],
    "head": [[-1, 1, "nn.Upsample", [None, 2, "nearest"]], [[-1, 6], 1, "Concat", [1]], [-1, 3, "C2fCIB", [512, True]],
             [-1, 1, "nn.Upsample", [None, 2, "nearest"]], [[-1, 4], 1, "Concat", [1]], [-1, 3, "C2f", [256]],
             [-1, 1, "Conv", [256, 3, 2]], [[-1, 13], 1, "Concat", [1]], [-1, 3, "C2fCIB", [512, True]],
             [-1, 1, "SCDown", [512, 3, 2]], [[-1, 10], 1, "Concat", [1]], [-1, 3, "C2fCIB", [1024, True]],
             [[16, 19, 22], 1, "v10Detect", ["nc"]]],
}
# Per size, the rows (index in backbone + head) whose block differs from _BASE (which is yolov10b/l).
_ROWS = {
    "n": {8: ("C2f", [1024, True]), 13: ("C2f", [512]), 19: ("C2f", [512]), 22: ("C2fCIB", [1024, True, True])},
    "s": {8: ("C2fCIB", [1024, True, True]), 13: ("C2f", [512]), 19: ("C2f", [512]),
          22: ("C2fCIB", [1024, True, True])},
    "m": {13: ("C2f", [512])},
    "b": {}, "l": {},
    "x": {6: ("C2fCIB", [512, True])},
}


def yolov10_cfg(scale: str = "n", nc: int = 80) -> dict:
    """The yaml dict of ultralytics' yolov10<scale>.yaml (its one scale only, as the package's file holds it)."""
    if scale not in _ROWS:
        raise ValueError(f"unknown yolov10 scale {scale!r}; choose one of {sorted(_ROWS)}")
    graph = copy.deepcopy(_BASE)
    rows = graph["backbone"] + graph["head"]
    for index, (module, args) in _ROWS[scale].items():
        rows[index][2:] = [module, args]
    return scaled_cfg(graph, {scale: _SCALES[scale]}, scale, nc)


YOLOV10 = ultralytics_family(
    "yolov10", {"C2f": (C2f, "channels_repeat"), "SCDown": (v10.SCDown, "channels"),
                "C2fCIB": (v10.C2fCIB, "channels_repeat"), "PSA": (v10.PSA, "channels")},
    {"SCDown", "C2fCIB", "PSA", "v10Detect"}, configs={f"yolov10{s}": partial(yolov10_cfg, s) for s in _ROWS},
    head_layout=END_TO_END, heads={"v10Detect": (v10.V10Detect, "head"), "Detect": (v10.Detect, "head")},
    float_text="one-to-one head's box and class output convs and DFL conv")
