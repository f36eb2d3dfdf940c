"""YOLOv5 DetectionModel built from the model's own yaml dict (v6.x / v7.0 format).

Layer indices, attribute names (`.f`, `.i`, `.type`, `.np`) and state_dict keys follow ultralytics/yolov5, so
checkpoints trained there load with `load_state_dict` and produce the same raw outputs.
"""
import contextlib
import copy
import math

import torch
from torch import nn

from common.errors import QYoloError
from yolo.modules import C3, MODULE_REGISTRY, SPPF, Bottleneck, Concat, Conv, Detect

# Types whose first two args are (c_in, c_out) and whose c_out is scaled by width_multiple.
_CHANNEL_MODULES = (Conv, Bottleneck, C3, SPPF)
# Types whose 3rd arg is a repeat count consumed by the module itself (depth_multiple applies).
_REPEAT_INSIDE = (C3,)


def make_divisible(x: float, divisor: int = 8) -> int:
    return int(math.ceil(x / divisor) * divisor)


def _resolve_type(name) -> type[nn.Module]:
    if isinstance(name, type):
        return name
    key = name if name in MODULE_REGISTRY else name.replace("torch.nn.", "nn.")
    if key not in MODULE_REGISTRY:
        raise QYoloError(f"model yaml uses module type {name!r}, which is not registered; known types: "
                         f"{sorted(MODULE_REGISTRY)} (add it with yolo.modules.register_module)")
    return MODULE_REGISTRY[key]


def parse_model(cfg: dict, ch: list[int]) -> tuple[nn.Sequential, list[int]]:
    """Build the layer list from the yaml's backbone + head, returning (layers, indices whose outputs are kept)."""
    anchors, nc = cfg["anchors"], cfg["nc"]
    gd, gw = cfg.get("depth_multiple", 1.0), cfg.get("width_multiple", 1.0)
    na = (len(anchors[0]) // 2) if isinstance(anchors, list) else anchors
    no = na * (nc + 5)
    layers, save, c2 = [], [], ch[-1]
    for i, (f, n, m, args) in enumerate(cfg["backbone"] + cfg["head"]):
        module_type = _resolve_type(m)
        args = list(args)
        for j, a in enumerate(args):
            if isinstance(a, str):
                with contextlib.suppress(NameError):
                    args[j] = {"None": None, "nc": nc, "anchors": anchors, "True": True, "False": False}.get(a, a)
        n_ = max(round(n * gd), 1) if n > 1 else n
        if module_type in _CHANNEL_MODULES:
            c1, c2 = ch[f], args[0]
            if c2 != no:
                c2 = make_divisible(c2 * gw, 8)
            args = [c1, c2, *args[1:]]
            if module_type in _REPEAT_INSIDE:
                args.insert(2, n_)
                n_ = 1
        elif module_type is nn.BatchNorm2d:
            args = [ch[f]]
        elif module_type is Concat:
            c2 = sum(ch[x] for x in f)
        elif module_type is Detect:
            args.append([ch[x] for x in f])
            if isinstance(args[1], int):
                args[1] = [list(range(args[1] * 2))] * len(f)
        else:
            c2 = ch[f]
        module = nn.Sequential(*(module_type(*args) for _ in range(n_))) if n_ > 1 else module_type(*args)
        module.i, module.f = i, f
        module.type = m if isinstance(m, str) else m.__name__
        module.np = sum(p.numel() for p in module.parameters())
        save.extend(x % i for x in ([f] if isinstance(f, int) else f) if x != -1)
        layers.append(module)
        if i == 0:
            ch = []
        ch.append(c2)
    return nn.Sequential(*layers), sorted(save)


class DetectionModel(nn.Module):
    """YOLOv5 detection model. eval forward -> (pred [B, N, 5+nc], raw per-scale maps); train forward -> raw."""

    def __init__(self, cfg: dict, ch: int = 3, nc: int | None = None, names: list[str] | None = None):
        super().__init__()
        self.yaml = copy.deepcopy(cfg)
        if nc is not None:
            self.yaml["nc"] = nc
        self.model, self.save = parse_model(self.yaml, ch=[ch])
        nc = self.yaml["nc"]
        self.names = list(names) if names else list(self.yaml.get("names", [str(i) for i in range(nc)]))
        detect = self.model[-1]
        if not isinstance(detect, Detect):
            raise QYoloError("model yaml does not end with a Detect layer; only detection models are supported")
        s = 256  # probe size for the strides, as YOLOv5
        detect.inplace = True
        self.train()
        with torch.no_grad():
            detect.stride = torch.tensor([s / x.shape[-2] for x in self.forward(torch.zeros(1, ch, s, s))])
        detect.anchors /= detect.stride.view(-1, 1, 1)
        self.stride = detect.stride
        detect.initialize_biases()
        self.eval()

    @property
    def detect(self) -> Detect:
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
        # Keep Detect's stride and cached grids on the same device/dtype as the weights.
        self = super()._apply(fn, *args, **kwargs)
        detect = self.model[-1]
        detect.stride = fn(detect.stride)
        detect.grid = [torch.empty(0) for _ in detect.grid]
        detect.anchor_grid = [torch.empty(0) for _ in detect.anchor_grid]
        self.stride = detect.stride
        return self
