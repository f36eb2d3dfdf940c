"""YOLOv8 and YOLO11 as the `ultralytics` package builds them: their yamls (n/s/m/l/x scales), yaml parser and
anchor-free head, registered as the families "yolov8" (C2f) and "yolo11" (C3k2 + C2PSA).

The yaml rules follow the ultralytics parser: a yaml carries `scales: {n: [depth, width, max_channels], ...}` and
the chosen `scale`; widths are min(c, max_channels) * width rounded up to a multiple of 8; C3k2 uses C3k blocks at
scales m/l/x; the head's class branch is YOLOv8's plain convs unless the yaml uses C3k2 (YOLO11's depthwise
branch). Checkpoints pickled by the package (`ultralytics.nn.tasks.DetectionModel`) load without it installed.
"""
import copy
from functools import partial

from torch import nn

from common.errors import QYoloError
from yolo.families import ultralytics_modules as um
from yolo.family import ANCHOR_FREE, Family, HeadLayout
from yolo.fuse import fuse_modules
from yolo.model import DetectionModel, append_layer, make_divisible, resolve_module, yaml_arg
from yolo.module_registry import ModuleRegistry

_V8_SCALES = {"n": [0.33, 0.25, 1024], "s": [0.33, 0.50, 1024], "m": [0.67, 0.75, 768], "l": [1.00, 1.00, 512],
              "x": [1.00, 1.25, 512]}
V11_SCALES = {"n": [0.50, 0.25, 1024], "s": [0.50, 0.50, 1024], "m": [0.50, 1.00, 512], "l": [1.00, 1.00, 512],
               "x": [1.00, 1.50, 512]}

_V8 = {
    "backbone": [[-1, 1, "Conv", [64, 3, 2]], [-1, 1, "Conv", [128, 3, 2]], [-1, 3, "C2f", [128, True]],
                 [-1, 1, "Conv", [256, 3, 2]], [-1, 6, "C2f", [256, True]], [-1, 1, "Conv", [512, 3, 2]],
                 [-1, 6, "C2f", [512, True]], [-1, 1, "Conv", [1024, 3, 2]], [-1, 3, "C2f", [1024, True]],
                 [-1, 1, "SPPF", [1024, 5]]],
    "head": [[-1, 1, "nn.Upsample", [None, 2, "nearest"]], [[-1, 6], 1, "Concat", [1]], [-1, 3, "C2f", [512]],
             [-1, 1, "nn.Upsample", [None, 2, "nearest"]], [[-1, 4], 1, "Concat", [1]], [-1, 3, "C2f", [256]],
             [-1, 1, "Conv", [256, 3, 2]], [[-1, 12], 1, "Concat", [1]], [-1, 3, "C2f", [512]],
             [-1, 1, "Conv", [512, 3, 2]], [[-1, 9], 1, "Concat", [1]], [-1, 3, "C2f", [1024]],
             [[15, 18, 21], 1, "Detect", ["nc"]]],
}
_V11 = {
    "backbone": [[-1, 1, "Conv", [64, 3, 2]], [-1, 1, "Conv", [128, 3, 2]], [-1, 2, "C3k2", [256, False, 0.25]],
                 [-1, 1, "Conv", [256, 3, 2]], [-1, 2, "C3k2", [512, False, 0.25]], [-1, 1, "Conv", [512, 3, 2]],
                 [-1, 2, "C3k2", [512, True]], [-1, 1, "Conv", [1024, 3, 2]], [-1, 2, "C3k2", [1024, True]],
                 [-1, 1, "SPPF", [1024, 5]], [-1, 2, "C2PSA", [1024]]],
    "head": [[-1, 1, "nn.Upsample", [None, 2, "nearest"]], [[-1, 6], 1, "Concat", [1]], [-1, 2, "C3k2", [512, False]],
             [-1, 1, "nn.Upsample", [None, 2, "nearest"]], [[-1, 4], 1, "Concat", [1]], [-1, 2, "C3k2", [256, False]],
             [-1, 1, "Conv", [256, 3, 2]], [[-1, 13], 1, "Concat", [1]], [-1, 2, "C3k2", [512, False]],
             [-1, 1, "Conv", [512, 3, 2]], [[-1, 10], 1, "Concat", [1]], [-1, 2, "C3k2", [1024, True]],
             [[16, 19, 22], 1, "Detect", ["nc"]]],
}


def scaled_cfg(graph: dict, scales: dict, scale: str, nc: int = 80, **keys) -> dict:
    """A yaml dict as the package's model yamls hold it: the graph, its scales and the chosen one, extra keys."""
    if scale not in scales:
        raise ValueError(f"unknown scale {scale!r}; choose one of {sorted(scales)}")
    return {"nc": nc, **keys, "scales": copy.deepcopy(scales), "scale": scale, **copy.deepcopy(graph)}


def ultralytics_cfg(arch: str, scale: str = "n", nc: int = 80) -> dict:
    """The yaml dict of ultralytics' yolov8.yaml (arch "yolov8") or yolo11.yaml ("yolo11") at `scale`."""
    graphs = {"yolov8": (_V8, _V8_SCALES), "yolo11": (_V11, V11_SCALES)}
    if arch not in graphs:
        raise ValueError(f"unknown ultralytics architecture {arch!r}; choose one of {sorted(graphs)}")
    graph, scales = graphs[arch]
    return scaled_cfg(graph, scales, scale, nc)


def _multiples(cfg: dict) -> tuple[float, float, float, str | None]:
    scales, scale = cfg.get("scales"), cfg.get("scale")
    if scales:
        scale = scale or next(iter(scales))
        if scale not in scales:
            raise QYoloError(f"model yaml asks for scale {scale!r}, which its scales {sorted(scales)} lack")
        depth, width, max_channels = scales[scale]
        return depth, width, max_channels, scale
    return cfg.get("depth_multiple", 1.0), cfg.get("width_multiple", 1.0), float("inf"), scale


def parse_ultralytics(cfg: dict, ch: list[int], registry: ModuleRegistry) -> tuple[nn.Sequential, list[int]]:
    """Layers of an ultralytics detection yaml and the indices whose outputs later layers read."""
    if cfg.get("activation"):
        raise QYoloError("model yaml sets a custom activation; this ultralytics variant is not supported")
    depth, width, max_channels, scale = _multiples(cfg)
    nc, reg_max, end2end = cfg["nc"], cfg.get("reg_max", 16), bool(cfg.get("end2end"))
    legacy = not any(str(layer[2]) in ("C3k2", "C2fCIB") for layer in cfg["backbone"] + cfg["head"])
    layers, save, c2 = [], [], ch[-1]
    for i, (f, n, m, args) in enumerate(cfg["backbone"] + cfg["head"]):
        spec = resolve_module(registry, m, i)
        args = [yaml_arg(a, nc, None) for a in args]
        n_ = max(round(n * depth), 1) if n > 1 else n
        if spec.role in ("channels", "channels_repeat"):
            c1, c2 = ch[f], make_divisible(min(args[0], max_channels) * width, 8)
            args = [c1, c2, *args[1:]]
            if spec.role == "channels_repeat":
                args.insert(2, n_)
                n_ = 1
            if spec.cls is um.C3k2 and scale in ("m", "l", "x"):
                args[3:4] = [True]
            if spec.cls is um.SPPF:  # legacy rows [c2, k] keep cv1's activation (ultralytics 8.4's parser)
                args = [*args, *(5, 3, False)[len(args) - 2:], len(args) <= 3]
        elif spec.role == "concat":
            c2 = sum(ch[x] for x in f)
        elif spec.role == "head":
            args = [args[0], reg_max, legacy, [ch[x] for x in f], end2end]
        else:
            c2 = ch[f]
        ch = append_layer(layers, save, ch, i, f, str(m), n_, spec.cls, args, c2)
    return nn.Sequential(*layers), sorted(save)


def _head_index(cfg: dict) -> int:
    return len(cfg["backbone"]) + len(cfg["head"]) - 1


def _infer_nc(cfg: dict, state_dict: dict) -> int:
    """Class count from the first class-branch output conv (out channels = nc; the one-to-one branch's in a fused
    end-to-end checkpoint)."""
    h = _head_index(cfg)
    weight = state_dict.get(f"model.{h}.cv3.0.2.weight", state_dict.get(f"model.{h}.one2one_cv3.0.2.weight"))
    return int(weight.shape[0]) if weight is not None else int(cfg["nc"])


def float_head_modules(model: nn.Module) -> tuple[str, ...]:
    """Module-name globs kept in float by default: each branch's output conv (box distances or DFL logits, class
    logits; of both branches of an end-to-end head) and the DFL conv, not the branches' 3x3 convs, which quantize
    like the rest of the network."""
    h = _head_index(model.yaml)
    return (f"model.{h}.cv2.*.2", f"model.{h}.cv3.*.2", f"model.{h}.one2one_cv2.*.2", f"model.{h}.one2one_cv3.*.2",
            f"model.{h}.dfl.conv")


# Heads of the package's other tasks: their checkpoints are refused by what they are, in one line.
OTHER_TASKS = {
    **dict.fromkeys(("Segment", "Segment26"), "an ultralytics instance-segmentation"),
    **dict.fromkeys(("YOLOESegment", "YOLOESegment26"), "an ultralytics YOLOE instance-segmentation"),
    **dict.fromkeys(("Pose", "Pose26"), "an ultralytics pose-estimation"),
    **dict.fromkeys(("OBB", "OBB26"), "an ultralytics oriented-box (OBB)"),
    "Classify": "an ultralytics image-classification", "SemanticSegment": "an ultralytics semantic-segmentation",
    "Depth": "an ultralytics depth-estimation", "WorldDetect": "an ultralytics YOLO-World open-vocabulary",
    "YOLOEDetect": "an ultralytics YOLOE open-vocabulary", "RTDETRDecoder": "an ultralytics RT-DETR",
}


def _registry(name: str, blocks: dict[str, tuple[type, str]], heads: dict | None = None) -> ModuleRegistry:
    registry = ModuleRegistry(name)
    for key, (cls, role) in {"Conv": (um.Conv, "channels"), "SPPF": (um.SPPF, "channels"),
                             "Concat": (um.Concat, "concat"), "nn.Upsample": (nn.Upsample, "same"),
                             **(heads or {"Detect": (um.Detect, "head")}), **blocks}.items():
        registry.add(key, cls, role)
    return registry


def ultralytics_family(name: str, blocks: dict, signature: set[str], configs: dict | None = None,
                       head_layout: HeadLayout = ANCHOR_FREE, claims=None, heads: dict | None = None,
                       float_text: str = "Detect branch output convs and DFL conv") -> Family:
    """A family of the ultralytics package: its blocks beside the shared ones (Conv, SPPF, Concat,
    Upsample, Detect; `heads` replace Detect), its named configs (default: ultralytics_cfg at n/s/m/l/x)."""
    return Family(
        name=name,
        modules=_registry(name, blocks, heads),
        signature=frozenset(signature),
        build=DetectionModel,
        fuse=fuse_modules,
        head_layout=head_layout,
        pickle_module_packages=("ultralytics.nn",),
        pickle_other_packages=("ultralytics",),
        configs=configs if configs is not None else {f"{name}{s}": partial(ultralytics_cfg, name, s) for s in "nsmlx"},
        infer_nc=_infer_nc,
        parse=parse_ultralytics,
        float_modules=float_head_modules,
        float_modules_text=float_text,
        claims=claims,
        other_tasks=OTHER_TASKS,
    )


def is_yolo26(cfg: dict) -> bool:
    """YOLO26 builds from YOLO11's blocks; its yaml is told apart by its head: end-to-end, or DFL-free (reg_max 1)."""
    return bool(cfg.get("end2end")) or cfg.get("reg_max", 16) == 1


YOLOV8 = ultralytics_family("yolov8", {"C2f": (um.C2f, "channels_repeat")}, {"C2f"})
YOLO11_BLOCKS = {"C3k2": (um.C3k2, "channels_repeat"), "C2PSA": (um.C2PSA, "channels_repeat")}
YOLO11 = ultralytics_family("yolo11", YOLO11_BLOCKS, {"C3k2", "C2PSA"}, claims=lambda cfg: not is_yolo26(cfg))
