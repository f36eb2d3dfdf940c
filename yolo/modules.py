"""YOLOv5 (v6.x / v7.0) building blocks, named and laid out as in ultralytics/yolov5 so state_dict keys match.

`MODULE_REGISTRY` is the YOLOv5 family's yaml vocabulary (name -> class and yaml role); `register_module` adds
new types to it. Other families keep their own registries (yolo/families/).
"""
import math
from typing import Callable

import torch
from torch import nn

from yolo.fuse import fuse_conv_and_bn
from yolo.module_registry import ModuleRegistry

MODULE_REGISTRY = ModuleRegistry("yolov5")


def register_module(name: str, role: str = "same") -> Callable[[type[nn.Module]], type[nn.Module]]:
    return MODULE_REGISTRY.register(name, role)


def autopad(k: int, p: int | None = None, d: int = 1) -> int:
    if d > 1:
        k = d * (k - 1) + 1
    return k // 2 if p is None else p


@register_module("Conv", "channels")
class Conv(nn.Module):
    """Conv2d + BatchNorm2d + SiLU. After fusion `bn` is gone and forward skips it."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, p: int | None = None, g: int = 1, d: int = 1,
                 act: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, autopad(k, p, d), groups=g, dilation=d, bias=False)
        self.bn = nn.BatchNorm2d(c2)
        self.act = nn.SiLU() if act is True else (act if isinstance(act, nn.Module) else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "bn"):
            return self.act(self.bn(self.conv(x)))
        return self.act(self.conv(x))

    def fuse(self) -> None:
        """Fold the BatchNorm into the conv (deployment form)."""
        if hasattr(self, "bn"):
            self.conv = fuse_conv_and_bn(self.conv, self.bn)
            delattr(self, "bn")


@register_module("Bottleneck", "channels")
class Bottleneck(nn.Module):
    def __init__(self, c1: int, c2: int, shortcut: bool = True, g: int = 1, e: float = 0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c_, c2, 3, 1, g=g)
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.cv2(self.cv1(x)) if self.add else self.cv2(self.cv1(x))


@register_module("C3", "channels_repeat")
class C3(nn.Module):
    """CSP bottleneck with 3 convolutions."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c1, c_, 1, 1)
        self.cv3 = Conv(2 * c_, c2, 1)
        self.m = nn.Sequential(*(Bottleneck(c_, c_, shortcut, g, e=1.0) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


@register_module("SPPF", "channels")
class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three chained 5x5 max pools."""

    def __init__(self, c1: int, c2: int, k: int = 5):
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c_ * 4, c2, 1, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat((x, y1, y2, self.m(y2)), 1))


@register_module("Concat", "concat")
class Concat(nn.Module):
    def __init__(self, dimension: int = 1):
        super().__init__()
        self.d = dimension

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(x, self.d)


MODULE_REGISTRY.add("nn.Upsample", nn.Upsample)
MODULE_REGISTRY.add("nn.MaxPool2d", nn.MaxPool2d)
MODULE_REGISTRY.add("nn.BatchNorm2d", nn.BatchNorm2d, "batchnorm")


@register_module("Detect", "head")
class Detect(nn.Module):
    """YOLOv5 detection head: 1x1 output convs per scale and the sigmoid/grid/anchor decode (kept in float)."""

    stride: torch.Tensor

    def __init__(self, nc: int = 80, anchors: tuple = (), ch: tuple = (), inplace: bool = True):
        super().__init__()
        self.nc = nc
        self.no = nc + 5
        self.nl = len(anchors)
        self.na = len(anchors[0]) // 2
        self.grid = [torch.empty(0) for _ in range(self.nl)]
        self.anchor_grid = [torch.empty(0) for _ in range(self.nl)]
        self.register_buffer("anchors", torch.tensor(anchors).float().view(self.nl, -1, 2))
        self.m = nn.ModuleList(nn.Conv2d(x, self.no * self.na, 1) for x in ch)
        self.inplace = inplace
        self.stride = torch.zeros(self.nl)

    class_prior_offset = 0.99999  # yolov5's class-bias prior log(0.6 / (nc - 0.99999))

    def forward(self, x: list[torch.Tensor]):
        return self.decode([self.m[i](x[i]) for i in range(self.nl)])

    def decode(self, x: list[torch.Tensor]):
        """Output-conv maps -> (pred [B, N, 5+nc], maps as [B, na, ny, nx, no]); the maps alone in training."""
        z = []
        for i in range(self.nl):
            bs, _, ny, nx = x[i].shape
            x[i] = x[i].view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous()
            if not self.training:
                if self.grid[i].shape[2:4] != x[i].shape[2:4] or self.grid[i].device != x[i].device:
                    self.grid[i], self.anchor_grid[i] = self._make_grid(nx, ny, i)
                xy, wh, conf = x[i].sigmoid().split((2, 2, self.nc + 1), 4)
                xy = (xy * 2 + self.grid[i]) * self.stride[i]
                wh = (wh * 2) ** 2 * self.anchor_grid[i]
                z.append(torch.cat((xy, wh, conf), 4).view(bs, self.na * nx * ny, self.no))
        return x if self.training else (torch.cat(z, 1), x)

    def _make_grid(self, nx: int, ny: int, i: int):
        d, t = self.anchors[i].device, self.anchors[i].dtype
        shape = 1, self.na, ny, nx, 2
        y, x = torch.arange(ny, device=d, dtype=t), torch.arange(nx, device=d, dtype=t)
        yv, xv = torch.meshgrid(y, x, indexing="ij")
        grid = torch.stack((xv, yv), 2).expand(shape) - 0.5  # offset so xy*2 - 0.5 + grid == (xy*2 + grid)
        anchor_grid = (self.anchors[i] * self.stride[i]).view((1, self.na, 1, 1, 2)).expand(shape)
        return grid, anchor_grid

    def bind_strides(self, strides: torch.Tensor) -> None:
        """Learn the strides from the model's probe forward: anchors to grid units, then the bias priors."""
        self.stride = strides
        self.anchors /= self.stride.view(-1, 1, 1)
        self.initialize_biases()

    def initialize_biases(self) -> None:
        """YOLOv5's prior for objectness and class logits (8 objects per 640 image, 0.6/nc class prior)."""
        for mi, s in zip(self.m, self.stride):
            b = mi.bias.view(self.na, -1)
            b.data[:, 4] += math.log(8 / (640 / s) ** 2)
            b.data[:, 5:5 + self.nc] += math.log(0.6 / (self.nc - self.class_prior_offset))
            mi.bias = nn.Parameter(b.view(-1), requires_grad=True)
