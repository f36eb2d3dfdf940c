"""A YOLO detection model built from its own yaml dict, for any family whose layers the yaml parser can wire.

Layer indices, attribute names (`.f`, `.i`, `.type`, `.np`) and state_dict keys follow the upstream repositories
(ultralytics/yolov5, WongKinYiu/yolov7), so their checkpoints load with `load_state_dict` and produce the same raw
outputs. Module names resolve in the family's own registry (yolo.module_registry); the family is recognised from
the yaml (yolo.family) unless given.
"""
import copy
import math
import re

import torch
from torch import nn

from common.errors import QYoloError
from yolo.family import Family
from yolo.model_yaml import check_model_size
from yolo.module_registry import ModuleRegistry

_CONSTANTS = {"None": None, "True": True, "False": False}
# Activation arguments written as Python in the yaml (YOLOv7-tiny: nn.LeakyReLU(0.1)); parsed, never eval'ed.
_ACTIVATION = re.compile(r"^nn\.(LeakyReLU|ReLU|SiLU|Identity|Hardswish|Sigmoid)\(\s*([0-9.eE+-]*)\s*\)$")


def make_divisible(x: float, divisor: int = 8) -> int:
    return int(math.ceil(x / divisor) * divisor)


def yaml_arg(a, nc: int, anchors):
    """A yaml layer argument as the module takes it: constants, nc, anchors and activations resolved."""
    if not isinstance(a, str):
        return a
    if a in _CONSTANTS:
        return _CONSTANTS[a]
    if a == "nc":
        return nc
    if a == "anchors":
        return anchors
    match = _ACTIVATION.match(a.replace("torch.nn.", "nn."))
    if match:
        kind, value = match.groups()
        return getattr(nn, kind)(float(value)) if value else getattr(nn, kind)()
    return a


def resolve_module(registry: ModuleRegistry, name, index: int):
    """The registry's entry for yaml layer `index`'s module name; one line naming it when the family lacks it."""
    if name not in registry:
        raise QYoloError(f"model yaml layer {index} uses module type {name!r}, which the {registry.family} family "
                         f"does not define; known types: {registry.names()}")
    return registry[name]


def parse_model(cfg: dict, ch: list[int], registry: ModuleRegistry) -> tuple[nn.Sequential, list[int]]:
    """Build the layer list from the yaml's backbone + head, returning (layers, indices whose outputs are kept)."""
    anchors, nc = cfg["anchors"], cfg["nc"]
    gd, gw = cfg.get("depth_multiple", 1.0), cfg.get("width_multiple", 1.0)
    na = (len(anchors[0]) // 2) if isinstance(anchors, list) else anchors
    no = na * (nc + 5)
    layers, save, c2 = [], [], ch[-1]
    for i, (f, n, m, args) in enumerate(cfg["backbone"] + cfg["head"]):
        spec = resolve_module(registry, m, i)
        args = [yaml_arg(a, nc, anchors) for a in args]
        n_ = max(round(n * gd), 1) if n > 1 else n
        if spec.role in ("channels", "channels_repeat"):
            c1, c2 = ch[f], args[0]
            if c2 != no:
                c2 = make_divisible(c2 * gw, 8)
            args = [c1, c2, *args[1:]]
            if spec.role == "channels_repeat":
                args.insert(2, n_)
                n_ = 1
        elif spec.role == "batchnorm":
            args = [ch[f]]
        elif spec.role == "concat":
            c2 = sum(ch[x] for x in f)
        elif spec.role == "shortcut":
            c2 = ch[f[0]]
        elif spec.role == "space_to_depth":
            c2 = ch[f] * 4
        elif spec.role == "head":
            args.append([ch[x] for x in f])
            if isinstance(args[1], int):
                args[1] = [list(range(args[1] * 2))] * len(f)
        else:
            c2 = ch[f]
        ch = append_layer(layers, save, ch, i, f, m, n_, spec.cls, args, c2)
    return nn.Sequential(*layers), sorted(save)


def append_layer(layers: list, save: list, ch: list[int], i: int, f, m, n: int, cls: type, args: list,
                 c2: int) -> list[int]:
    """Build yaml row `i` (`n` repeats of cls(*args)) with the attributes checkpoints and the forward pass read
    (.i, .f, .type, .np), append it, note which earlier outputs it reads; returns the channel list after it."""
    module = nn.Sequential(*(cls(*args) for _ in range(n))) if n > 1 else cls(*args)
    module.i, module.f = i, f
    module.type = m if isinstance(m, str) else m.__name__
    module.np = sum(p.numel() for p in module.parameters())
    save.extend(x % i for x in ([f] if isinstance(f, int) else f) if x != -1)
    layers.append(module)
    return [*([] if i == 0 else ch), c2]


class DetectionModel(nn.Module):
    """A YOLO detection model. eval forward -> (decoded pred, raw per-scale maps); train forward -> raw maps.

    The last layer is the family's head; it learns its strides from a probe forward (`bind_strides`).
    """

    def __init__(self, cfg: dict, ch: int = 3, nc: int | None = None, names: list[str] | None = None, *,
                 family: Family):
        super().__init__()
        self.yaml = copy.deepcopy(cfg)
        if nc is not None:
            self.yaml["nc"] = nc
        self.family = family.name
        parse = family.parse or parse_model
        check_model_size(parse, self.yaml, ch, family.modules, "the model yaml")
        self.model, self.save = parse(self.yaml, ch=[ch], registry=family.modules)
        nc = self.yaml["nc"]
        self.names = list(names) if names else list(self.yaml.get("names", [str(i) for i in range(nc)]))
        head = self.model[-1]
        if type(head).__name__ not in family.float_head_classes:
            raise QYoloError(f"model yaml ends with {type(head).__name__}, not a detection head of the "
                             f"{family.name} family ({list(family.float_head_classes)}); only detection models "
                             "are supported")
        s = 256  # probe size for the strides, as upstream
        self.train()
        with torch.no_grad():
            strides = torch.tensor([s / x.shape[-2] for x in self.forward(torch.zeros(1, ch, s, s))])
        head.bind_strides(strides)
        self.stride = head.stride
        self.eval()

    @property
    def detect(self) -> nn.Module:
        return self.model[-1]

    def forward(self, x: torch.Tensor):
        y = []
        for m in self.model:
            if m.f != -1:
                x = y[m.f] if isinstance(m.f, int) else [x if j == -1 else y[j] for j in m.f]
            x = m(x)
            y.append(x if m.i in self.save else None)
        return x

    def _apply(self, fn, *args, **kwargs):
        # Keep the head's stride and cached grids on the same device/dtype as the weights.
        self = super()._apply(fn, *args, **kwargs)
        head = self.model[-1]
        head.stride = fn(head.stride)
        if hasattr(head, "grid"):
            head.grid = [torch.empty(0) for _ in head.grid]
            head.anchor_grid = [torch.empty(0) for _ in head.anchor_grid]
        self.stride = head.stride
        return self
