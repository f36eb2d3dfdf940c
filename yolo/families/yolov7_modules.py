"""YOLOv7 building blocks, named and laid out as in WongKinYiu/yolov7 so state_dict keys match.

`REGISTRY` is the YOLOv7 family's yaml vocabulary. Each block with a deployment form has `fuse()` (the generic
protocol of yolo.fuse): Conv folds its BatchNorm, RepConv re-parameterises its three branches into one 3x3 conv,
IDetect folds its ImplicitA/ImplicitM into the output convs. BatchNorm eps is 1e-3, as upstream's training
code sets it on every BN (eps is not in the state_dict, so it must match for the same outputs).
"""

import torch
from torch import nn
from torch.nn import functional as F

from yolo.fuse import fuse_conv_and_bn
from yolo.module_registry import ModuleRegistry
from yolo.modules import Concat, Detect

REGISTRY = ModuleRegistry("yolov7")
BN_EPS = 1e-3


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=0.03)


def _activation(act) -> nn.Module:
    return nn.SiLU() if act is True else (act if isinstance(act, nn.Module) else nn.Identity())


@REGISTRY.register("Conv", "channels")
class Conv(nn.Module):
    """Conv2d + BatchNorm2d + activation (SiLU, or the module given: yolov7-tiny passes LeakyReLU(0.1))."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, p: int | None = None, g: int = 1, act=True):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2 if p is None else p, groups=g, bias=False)
        self.bn = _bn(c2)
        self.act = _activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)) if hasattr(self, "bn") else self.conv(x))

    def fuse(self) -> None:
        if hasattr(self, "bn"):
            self.conv = fuse_conv_and_bn(self.conv, self.bn)
            delattr(self, "bn")


@REGISTRY.register("MP")
class MP(nn.Module):
    """Stride-k max pool (the downsampling branch of the MP blocks)."""

    def __init__(self, k: int = 2):
        super().__init__()
        self.m = nn.MaxPool2d(kernel_size=k, stride=k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.m(x)


@REGISTRY.register("SP")
class SP(nn.Module):
    """Same-size max pool (yolov7-tiny's pyramid pooling)."""

    def __init__(self, k: int = 3, s: int = 1):
        super().__init__()
        self.m = nn.MaxPool2d(kernel_size=k, stride=s, padding=k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.m(x)


@REGISTRY.register("ReOrg", "space_to_depth")
class ReOrg(nn.Module):
    """Space to depth: [B, C, H, W] -> [B, 4C, H/2, W/2] (the P6 models' stem)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]], 1)


@REGISTRY.register("Shortcut", "shortcut")
class Shortcut(nn.Module):
    def __init__(self, dimension: int = 0):
        super().__init__()
        self.d = dimension

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        return x[0] + x[1]


@REGISTRY.register("SPPCSPC", "channels_repeat")
class SPPCSPC(nn.Module):
    """CSP spatial pyramid pooling: 5/9/13 max pools on one branch, a 1x1 shortcut branch, a 1x1 merge."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = False, g: int = 1, e: float = 0.5,
                 k: tuple[int, ...] = (5, 9, 13)):
        super().__init__()
        c_ = int(2 * c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c1, c_, 1, 1)
        self.cv3 = Conv(c_, c_, 3, 1)
        self.cv4 = Conv(c_, c_, 1, 1)
        self.m = nn.ModuleList(nn.MaxPool2d(kernel_size=x, stride=1, padding=x // 2) for x in k)
        self.cv5 = Conv(4 * c_, c_, 1, 1)
        self.cv6 = Conv(c_, c_, 3, 1)
        self.cv7 = Conv(2 * c_, c2, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.cv4(self.cv3(self.cv1(x)))
        y1 = self.cv6(self.cv5(torch.cat([x1] + [m(x1) for m in self.m], 1)))
        return self.cv7(torch.cat((y1, self.cv2(x)), 1))


@REGISTRY.register("RepConv", "channels")
class RepConv(nn.Module):
    """RepVGG block: 3x3 conv+BN, 1x1 conv+BN and (when shapes allow) an identity BN, summed, then activation.

    fuse() re-parameterises the three branches into `rbr_reparam`, one 3x3 conv with bias (the deploy form).
    """

    def __init__(self, c1: int, c2: int, k: int = 3, s: int = 1, p: int | None = None, g: int = 1, act=True,
                 deploy: bool = False):
        super().__init__()
        if k != 3 or (p is not None and p != 1):
            raise ValueError(f"RepConv needs a 3x3 kernel with padding 1, got k={k}, p={p}")
        self.groups, self.in_channels, self.out_channels = g, c1, c2
        self.act = _activation(act)
        if deploy:
            self.rbr_reparam = nn.Conv2d(c1, c2, 3, s, 1, groups=g, bias=True)
            return
        self.rbr_identity = _bn(c1) if c2 == c1 and s == 1 else None
        self.rbr_dense = nn.Sequential(nn.Conv2d(c1, c2, 3, s, 1, groups=g, bias=False), _bn(c2))
        self.rbr_1x1 = nn.Sequential(nn.Conv2d(c1, c2, 1, s, 0, groups=g, bias=False), _bn(c2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "rbr_reparam"):
            return self.act(self.rbr_reparam(x))
        identity = self.rbr_identity(x) if self.rbr_identity is not None else 0
        return self.act(self.rbr_dense(x) + self.rbr_1x1(x) + identity)

    @torch.no_grad()
    def fuse(self) -> None:
        if hasattr(self, "rbr_reparam"):
            return
        dense = fuse_conv_and_bn(*self.rbr_dense)
        one = fuse_conv_and_bn(*self.rbr_1x1)
        weight = dense.weight.double() + F.pad(one.weight.double(), [1, 1, 1, 1])
        bias = dense.bias.double() + one.bias.double()
        if self.rbr_identity is not None:  # identity as a 3x3 conv with a centred 1 per channel, then its BN
            per_group = self.in_channels // self.groups
            eye = torch.zeros(self.in_channels, per_group, 3, 3, dtype=torch.float64, device=weight.device)
            eye[torch.arange(self.in_channels), torch.arange(self.in_channels) % per_group, 1, 1] = 1.0
            bn = self.rbr_identity
            scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
            weight += eye * scale.view(-1, 1, 1, 1)
            bias += bn.bias.double() - bn.running_mean.double() * scale
        self.rbr_reparam = dense
        self.rbr_reparam.weight.copy_(weight.to(dense.weight.dtype))
        self.rbr_reparam.bias.copy_(bias.to(dense.bias.dtype))
        del self.rbr_dense, self.rbr_1x1, self.rbr_identity


class ImplicitA(nn.Module):
    """A learned per-channel offset added to the head's input."""

    def __init__(self, channel: int, mean: float = 0.0, std: float = 0.02):
        super().__init__()
        self.implicit = nn.Parameter(torch.zeros(1, channel, 1, 1))
        nn.init.normal_(self.implicit, mean=mean, std=std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.implicit + x


class ImplicitM(nn.Module):
    """A learned per-channel scale applied to the head's output."""

    def __init__(self, channel: int, mean: float = 1.0, std: float = 0.02):
        super().__init__()
        self.implicit = nn.Parameter(torch.ones(1, channel, 1, 1))
        nn.init.normal_(self.implicit, mean=mean, std=std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.implicit * x


@REGISTRY.register("IDetect", "head")
class IDetect(Detect):
    """YOLOv7's head: Detect with an ImplicitA before and an ImplicitM after each output conv (same decode).

    fuse() folds both into the output convs: m(x + a) * m_ = (W x + W a + b) * m_, so W' = m_ W, b' = m_ (b + W a);
    afterwards `ia`/`im` are gone and the forward is plain Detect's.
    """

    class_prior_offset = 0.99  # yolov7's class-bias prior log(0.6 / (nc - 0.99))

    def __init__(self, nc: int = 80, anchors: tuple = (), ch: tuple = (), inplace: bool = True):
        super().__init__(nc, anchors, ch, inplace)
        self.ia = nn.ModuleList(ImplicitA(x) for x in ch)
        self.im = nn.ModuleList(ImplicitM(self.no * self.na) for _ in ch)

    def forward(self, x: list[torch.Tensor]):
        if hasattr(self, "ia"):
            x = [self.im[i](self.m[i](self.ia[i](x[i]))) for i in range(self.nl)]
            return self.decode(x)
        return super().forward(x)

    @torch.no_grad()
    def fuse(self) -> None:
        if not hasattr(self, "ia"):
            return
        for conv, ia, im in zip(self.m, self.ia, self.im):
            w = conv.weight.double()
            a = ia.implicit.double().view(-1)
            m = im.implicit.double().view(-1)
            bias = (conv.bias.double() + w.flatten(1) @ a) * m
            conv.weight.copy_((w * m.view(-1, 1, 1, 1)).to(conv.weight.dtype))
            conv.bias.copy_(bias.to(conv.bias.dtype))
        del self.ia, self.im


REGISTRY.add("Detect", Detect, "head")
REGISTRY.add("Concat", Concat, "concat")
REGISTRY.add("nn.Upsample", nn.Upsample)
REGISTRY.add("nn.MaxPool2d", nn.MaxPool2d)
REGISTRY.add("nn.BatchNorm2d", nn.BatchNorm2d, "batchnorm")
