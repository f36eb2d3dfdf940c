"""YOLO26 as the `ultralytics` package builds it (yolo26.yaml, n/s/m/l/x), registered as the family "yolo26".

YOLO11's blocks with three changes: SPPF with a residual add and a linear cv1, C3k blocks in every head stage and
attention blocks in the last one, and an end-to-end head without DFL (reg_max 1) whose one-to-one branch gives
the detections, no NMS. Its yaml uses only YOLO11's module names; `end2end` / `reg_max: 1` tell them apart.
"""
from functools import partial

from yolo.families.ultralytics import V11_SCALES, YOLO11_BLOCKS, is_yolo26, scaled_cfg, ultralytics_family
from yolo.family import END_TO_END

_Y26 = {
    "backbone": [[-1, 1, "Conv", [64, 3, 2]], [-1, 1, "Conv", [128, 3, 2]], [-1, 2, "C3k2", [256, False, 0.25]],
                 [-1, 1, "Conv", [256, 3, 2]], [-1, 2, "C3k2", [512, False, 0.25]], [-1, 1, "Conv", [512, 3, 2]],
                 [-1, 2, "C3k2", [512, True]], [-1, 1, "Conv", [1024, 3, 2]], [-1, 2, "C3k2", [1024, True]],
                 [-1, 1, "SPPF", [1024, 5, 3, True]], [-1, 2, "C2PSA", [1024]]],
    "head": [[-1, 1, "nn.Upsample", [None, 2, "nearest"]], [[-1, 6], 1, "Concat", [1]], [-1, 2, "C3k2", [512, True]],
             [-1, 1, "nn.Upsample", [None, 2, "nearest"]], [[-1, 4], 1, "Concat", [1]], [-1, 2, "C3k2", [256, True]],
             [-1, 1, "Conv", [256, 3, 2]], [[-1, 13], 1, "Concat", [1]], [-1, 2, "C3k2", [512, True]],
             [-1, 1, "Conv", [512, 3, 2]], [[-1, 10], 1, "Concat", [1]], [-1, 1, "C3k2", [1024, True, 0.5, True]],
             [[16, 19, 22], 1, "Detect", ["nc"]]],
}


def yolo26_cfg(scale: str = "n", nc: int = 80) -> dict:
    """The yaml dict of ultralytics' yolo26.yaml at `scale`."""
    return scaled_cfg(_Y26, V11_SCALES, scale, nc, end2end=True, reg_max=1)


YOLO26 = ultralytics_family(
    "yolo26", YOLO11_BLOCKS, {"C3k2", "C2PSA"}, configs={f"yolo26{s}": partial(yolo26_cfg, s) for s in "nsmlx"},
    head_layout=END_TO_END, claims=is_yolo26, float_text="one-to-one head's box and class output convs")
