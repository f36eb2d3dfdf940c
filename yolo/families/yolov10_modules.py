"""YOLOv10's own building blocks, as the `ultralytics` package builds them (state_dict keys match): SCDown,
C2fCIB with its CIB blocks (RepVGGDW large-kernel variant), PSA and the v10Detect head. The rest (Conv, C2f, SPPF,
attention) is shared with YOLOv8 / YOLO11 (yolo/families/ultralytics_modules.py).
"""
import torch
from torch import nn

from yolo.families.ultralytics_modules import C2f, Detect, PSABlock
from yolo.fuse import fuse_conv_and_bn
from yolo.modules import Conv


class SCDown(nn.Module):
    """Spatial-channel decoupled downsampling: a pointwise conv to the new width, then a strided depthwise conv."""

    def __init__(self, c1: int, c2: int, k: int, s: int):
        super().__init__()
        self.cv1 = Conv(c1, c2, 1, 1)
        self.cv2 = Conv(c2, c2, k=k, s=s, g=c2, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv2(self.cv1(x))


class RepVGGDW(nn.Module):
    """A 7x7 and a 3x3 depthwise conv (each with BatchNorm) summed, then SiLU. `fuse` folds both BatchNorms and
    re-parameterises the pair into one 7x7 conv (the 3x3 kernel zero-padded into the 7x7's centre)."""

    def __init__(self, ed: int):
        super().__init__()
        self.conv = Conv(ed, ed, 7, 1, 3, g=ed, act=False)
        self.conv1 = Conv(ed, ed, 3, 1, 1, g=ed, act=False)
        self.dim = ed
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "conv1"):
            return self.act(self.conv(x) + self.conv1(x))
        return self.act(self.conv(x))

    @torch.no_grad()
    def fuse(self) -> None:
        if not hasattr(self, "conv1"):
            return
        large = fuse_conv_and_bn(self.conv.conv, self.conv.bn) if hasattr(self.conv, "bn") else self.conv.conv
        small = fuse_conv_and_bn(self.conv1.conv, self.conv1.bn) if hasattr(self.conv1, "bn") else self.conv1.conv
        pad = (large.kernel_size[0] - small.kernel_size[0]) // 2
        large.weight.add_(nn.functional.pad(small.weight, [pad] * 4))
        large.bias.add_(small.bias)
        self.conv = large  # a plain Conv2d, as ultralytics' fused form (state_dict key "conv.weight" / "conv.bias")
        del self.conv1


class CIB(nn.Module):
    """Compact inverted block: depthwise 3x3, pointwise, depthwise (3x3, or RepVGGDW when lk), pointwise,
    depthwise 3x3, with a residual add when the widths allow it."""

    def __init__(self, c1: int, c2: int, shortcut: bool = True, e: float = 0.5, lk: bool = False):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = nn.Sequential(Conv(c1, c1, 3, g=c1), Conv(c1, 2 * c_, 1),
                                 RepVGGDW(2 * c_) if lk else Conv(2 * c_, 2 * c_, 3, g=2 * c_),
                                 Conv(2 * c_, c2, 1), Conv(c2, c2, 3, g=c2))
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.cv1(x) if self.add else self.cv1(x)


class C2fCIB(C2f):
    """C2f whose inner blocks are CIBs."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = False, lk: bool = False, g: int = 1,
                 e: float = 0.5):
        super().__init__(c1, c2, n, shortcut, g, e)
        self.m = nn.ModuleList(CIB(self.c, self.c, shortcut, e=1.0, lk=lk) for _ in range(n))


class PSA(nn.Module):
    """Position-sensitive attention: half the channels go through attention and a feed-forward (residual adds),
    then both halves are fused (YOLO11's C2PSA with one fixed block)."""

    def __init__(self, c1: int, c2: int, e: float = 0.5):
        super().__init__()
        if c1 != c2:
            raise ValueError(f"PSA keeps its width: c1 ({c1}) must equal c2 ({c2})")
        self.c = int(c1 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv(2 * self.c, c1, 1)
        block = PSABlock(self.c, attn_ratio=0.5, num_heads=max(self.c // 64, 1))
        self.attn, self.ffn = block.attn, block.ffn  # the module names of ultralytics' PSA (no PSABlock level)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.cv1(x).split((self.c, self.c), dim=1)
        b = b + self.attn(b)
        b = b + self.ffn(b)
        return self.cv2(torch.cat((a, b), 1))


class V10Detect(Detect):
    """YOLOv10's head (yaml name v10Detect): Detect with 16 DFL bins, the depthwise class branch and, always, the
    one-to-one branch it deploys (its yaml gives only the class count)."""

    def __init__(self, nc: int = 80, reg_max: int = 16, legacy: bool = False, ch: tuple = (), end2end: bool = True):
        super().__init__(nc, 16, legacy=False, ch=ch, end2end=True)  # the package ignores the yaml's reg_max here
