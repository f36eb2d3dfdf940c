"""Building blocks of the `ultralytics` package's YOLOv8, YOLO11 and YOLO26 detectors (YOLOv10's own blocks:
yolo/families/yolov10_modules.py), laid out so state_dict keys match.

Conv and Concat are the same modules as YOLOv5's (yolo.modules); the rest is written here from the published
architecture: C2f (v8), C3k2 / C3k and C2PSA with its attention block (11; C3k2 with attention blocks in 26),
SPPF, and the anchor-free Detect head with its DFL box decoding and, for the end-to-end models (YOLOv10, YOLO26),
its one-to-one branch. Detect returns [B, 4 + nc, N] decoded rows (cx, cy, w, h, class probabilities), or the
one-to-one branch's detections [B, max_det, 6].
"""
import copy
import math

import torch
from torch import nn

from common.matmul import MatMul
from yolo.families.end_to_end import top_k_detections
from yolo.family import ANCHOR_FREE, END_TO_END, HeadLayout
from yolo.modules import Concat, Conv


class Bottleneck(nn.Module):
    """Two convs (kernel sizes k) with a residual add when the widths allow it."""

    def __init__(self, c1: int, c2: int, shortcut: bool = True, g: int = 1, k: tuple = (3, 3), e: float = 0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, k[0], 1)
        self.cv2 = Conv(c_, c2, k[1], 1, g=g)
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """CSP block of YOLOv8: split in two halves, chain n bottlenecks on the second, concat every stage."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = False, g: int = 1, e: float = 0.5):
        super().__init__()
        self.c = int(c2 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut, g, k=(3, 3), e=1.0) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = list(self.cv1(x).chunk(2, 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class C3k(nn.Module):
    """YOLOv5-style C3 block whose bottlenecks use k x k convs on both sides (YOLO11's inner block at m/l/x)."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5, k: int = 3):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c1, c_, 1, 1)
        self.cv3 = Conv(2 * c_, c2, 1)
        self.m = nn.Sequential(*(Bottleneck(c_, c_, shortcut, g, k=(k, k), e=1.0) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class C3k2(C2f):
    """YOLO11's C2f variant: its inner blocks are C3k (c3k=True) or plain half-width bottlenecks; with attn
    (YOLO26's last stage) each is a bottleneck followed by a PSA attention block."""

    def __init__(self, c1: int, c2: int, n: int = 1, c3k: bool = False, e: float = 0.5, attn: bool = False,
                 g: int = 1, shortcut: bool = True):
        super().__init__(c1, c2, n, shortcut, g, e)

        def block() -> nn.Module:
            if attn:
                return nn.Sequential(Bottleneck(self.c, self.c, shortcut, g),
                                     PSABlock(self.c, attn_ratio=0.5, num_heads=max(self.c // 64, 1)))
            return C3k(self.c, self.c, 2, shortcut, g) if c3k else Bottleneck(self.c, self.c, shortcut, g)

        self.m = nn.ModuleList(block() for _ in range(n))


class SPPF(nn.Module):
    """n chained k x k max pools on a halved width, concatenated, with a residual add when `shortcut` (YOLO26).

    `cv1` is activated only where the yaml row is a legacy one ([c2, k]: YOLOv8, YOLO11, YOLOv10), as the
    ultralytics 8.4 parser builds it; YOLO26's rows ([c2, k, n, shortcut]) leave it linear. Checkpoints carry
    their own activations, which the checkpoint loader restores."""

    def __init__(self, c1: int, c2: int, k: int = 5, n: int = 3, shortcut: bool = False, act_cv1: bool = False):
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1, 1, act=act_cv1)
        self.cv2 = Conv(c_ * (n + 1), c2, 1, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)
        self.n = n
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]
        for _ in range(self.n):
            y.append(self.m(y[-1]))
        y = self.cv2(torch.cat(y, 1))
        return x + y if self.add else y


class Attention(nn.Module):
    """Multi-head self-attention over the H*W positions: one qkv 1x1 conv, two MatMuls and a Softmax, a depthwise
    positional conv on v, and a 1x1 projection. The two MatMuls are modules (`qk`, `av`) so that the quantization
    rules can wrap them (float by default; QuantConfig.quantize_matmul quantizes their inputs)."""

    def __init__(self, dim: int, num_heads: int = 8, attn_ratio: float = 0.5):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.key_dim = int(self.head_dim * attn_ratio)
        self.scale = self.key_dim ** -0.5
        self.qkv = Conv(dim, dim + 2 * self.key_dim * num_heads, 1, act=False)
        self.proj = Conv(dim, dim, 1, act=False)
        self.pe = Conv(dim, dim, 3, 1, g=dim, act=False)
        self.qk, self.av = MatMul(), MatMul()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(x).view(b, self.num_heads, 2 * self.key_dim + self.head_dim, h * w).split(
            [self.key_dim, self.key_dim, self.head_dim], dim=2)
        attn = self.qk((q * self.scale).transpose(-2, -1), k).softmax(dim=-1)  # over keys: [B, heads, N, N]
        x = self.av(v, attn.transpose(-2, -1)).view(b, c, h, w) + self.pe(v.reshape(b, c, h, w))
        return self.proj(x)


class PSABlock(nn.Module):
    """Attention then a two-conv feed-forward, each with a residual add."""

    def __init__(self, c: int, attn_ratio: float = 0.5, num_heads: int = 4, shortcut: bool = True):
        super().__init__()
        self.attn = Attention(c, attn_ratio=attn_ratio, num_heads=num_heads)
        self.ffn = nn.Sequential(Conv(c, c * 2, 1), Conv(c * 2, c, 1, act=False))
        self.add = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x) if self.add else self.attn(x)
        return x + self.ffn(x) if self.add else self.ffn(x)


class C2PSA(nn.Module):
    """YOLO11's attention stage: half the channels go through n PSA blocks, then both halves are fused."""

    def __init__(self, c1: int, c2: int, n: int = 1, e: float = 0.5):
        super().__init__()
        if c1 != c2:
            raise ValueError(f"C2PSA keeps its width: c1 ({c1}) must equal c2 ({c2})")
        self.c = int(c1 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv(2 * self.c, c1, 1)
        self.m = nn.Sequential(*(PSABlock(self.c, attn_ratio=0.5, num_heads=max(self.c // 64, 1)) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.cv1(x).split((self.c, self.c), dim=1)
        return self.cv2(torch.cat((a, self.m(b)), 1))


class DWConv(Conv):
    """Depthwise Conv (groups = gcd of the widths)."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, d: int = 1, act: bool = True):
        super().__init__(c1, c2, k, s, g=math.gcd(c1, c2), d=d, act=act)


class DFL(nn.Module):
    """Distribution focal loss integral: softmax over reg_max bins, expectation by a fixed 1x1 conv (0..reg_max-1)."""

    def __init__(self, c1: int = 16):
        super().__init__()
        self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(c1, dtype=torch.float).view(1, c1, 1, 1)
        self.c1 = c1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, a = x.shape
        return self.conv(x.view(b, 4, self.c1, a).transpose(2, 1).softmax(1)).view(b, 4, a)


def make_anchors(feats: list[torch.Tensor], strides: torch.Tensor, offset: float = 0.5):
    """Cell-centre points (grid units) [N, 2] and their strides [N, 1] for the per-scale maps, row-major."""
    points, stride_rows = [], []
    for feat, stride in zip(feats, strides):
        h, w = feat.shape[2:]
        sy, sx = torch.meshgrid(torch.arange(h, dtype=feat.dtype, device=feat.device) + offset,
                                torch.arange(w, dtype=feat.dtype, device=feat.device) + offset, indexing="ij")
        points.append(torch.stack((sx, sy), -1).view(-1, 2))
        stride_rows.append(torch.full((h * w, 1), float(stride), dtype=feat.dtype, device=feat.device))
    return torch.cat(points), torch.cat(stride_rows)


class Detect(nn.Module):
    """Anchor-free head: per scale a box branch (cv2: 4 * reg_max DFL logits) and a class branch (cv3: nc logits).

    legacy (YOLOv8): the class branch is two 3x3 Convs; otherwise (YOLO11, YOLO26, YOLOv10) two depthwise 3x3 +
    1x1 pairs. reg_max 1 (YOLO26): the box branch gives the four distances directly, no DFL.
    end2end (YOLOv10, YOLO26): a second, one-to-one copy of both branches (one2one_cv2 / one2one_cv3) trained to
    give one candidate per object; with `end2end` set it is the branch that runs, and its best (candidate, class)
    pairs are the detections (yolo.families.end_to_end), no NMS. `fuse` keeps only the branch that runs.
    The last nn.Conv2d of each branch is an output conv, and with the DFL conv it stays in float by default.

    eval forward -> (pred, per-scale maps): pred is [B, 4 + nc, N] (cx, cy, w, h, class probabilities) for the
    one-to-many branch, [B, min(max_det, N), 6] (x1, y1, x2, y2, score, class) for the one-to-one branch
    (`select_top_k` off: its dense [B, 4 + nc, N] candidates); train forward -> per-scale maps [B, 4*reg_max + nc,
    h, w] of the branch that runs.
    """

    def __init__(self, nc: int = 80, reg_max: int = 16, legacy: bool = True, ch: tuple = (), end2end: bool = False):
        super().__init__()
        self.nc, self.nl, self.reg_max = nc, len(ch), reg_max
        self.no = nc + 4 * reg_max
        self.legacy = legacy
        self.stride = torch.zeros(self.nl)
        c2, c3 = max(16, ch[0] // 4, 4 * reg_max), max(ch[0], min(nc, 100))
        self.cv2 = nn.ModuleList(nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * reg_max, 1))
                                 for x in ch)
        if legacy:
            self.cv3 = nn.ModuleList(nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1)) for x in ch)
        else:
            self.cv3 = nn.ModuleList(nn.Sequential(nn.Sequential(DWConv(x, x, 3), Conv(x, c3, 1)),
                                                   nn.Sequential(DWConv(c3, c3, 3), Conv(c3, c3, 1)),
                                                   nn.Conv2d(c3, nc, 1)) for x in ch)
        self.dfl = DFL(reg_max) if reg_max > 1 else nn.Identity()
        if end2end:
            self.one2one_cv2, self.one2one_cv3 = copy.deepcopy(self.cv2), copy.deepcopy(self.cv3)
        self.end2end = end2end  # run the one-to-one branch (when there is one)
        self.select_top_k = True  # the one-to-one branch's output: its detections (False: every candidate)
        self.max_det = 300  # as ultralytics' head and validator

    @property
    def one_to_one(self) -> bool:
        """Whether the one-to-one branch runs: asked for, or the only one left after fusion."""
        return getattr(self, "one2one_cv2", None) is not None and (self.end2end or self.cv2 is None)

    @property
    def layout(self) -> HeadLayout:
        return END_TO_END if self.one_to_one and self.select_top_k else ANCHOR_FREE

    def forward(self, x: list[torch.Tensor]):
        box, cls = (self.one2one_cv2, self.one2one_cv3) if self.one_to_one else (self.cv2, self.cv3)
        maps = [torch.cat((box[i](x[i]), cls[i](x[i])), 1) for i in range(self.nl)]
        if self.training:
            return maps
        if not (self.one_to_one and self.select_top_k):
            return self.decode(maps), maps
        # split, not slicing: the exported graph then gathers from real [B, N, 4] / [B, N, nc] tensors (a slice
        # of the whole [B, N, 4 + nc] became a GatherElements on it that OpenVINO rejects)
        boxes, scores = self.decode(maps, xyxy=True).transpose(1, 2).split((4, self.nc), -1)
        return top_k_detections(boxes, scores, self.max_det), maps

    def decode(self, maps: list[torch.Tensor], xyxy: bool = False) -> torch.Tensor:
        """Per-scale maps -> [B, 4 + nc, N]: box distances to xywh (or xyxy) boxes in input pixels, sigmoid class
        scores."""
        b = maps[0].shape[0]
        flat = torch.cat([m.view(b, self.no, -1) for m in maps], 2)
        box, cls = flat.split((4 * self.reg_max, self.nc), 1)
        points, strides = (t.transpose(0, 1) for t in make_anchors(maps, self.stride))
        lt, rb = self.dfl(box).chunk(2, 1)
        x1y1, x2y2 = points - lt, points + rb
        boxes = torch.cat((x1y1, x2y2) if xyxy else ((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * strides
        return torch.cat((boxes, cls.sigmoid()), 1)

    def fuse(self) -> None:
        """Deployment form: the branch that does not run is dropped (as ultralytics' own fuse does)."""
        if getattr(self, "one2one_cv2", None) is None:
            return
        if self.one_to_one:
            self.cv2 = self.cv3 = None
        else:
            self.one2one_cv2 = self.one2one_cv3 = None

    def bind_strides(self, strides: torch.Tensor) -> None:
        """Strides from the model's probe forward, then ultralytics' bias priors (box 2.0; ~5 objects/640 image)."""
        self.stride = strides
        for box_branch, cls_branch in ((self.cv2, self.cv3), (getattr(self, "one2one_cv2", None),
                                                               getattr(self, "one2one_cv3", None))):
            for a, b, s in zip(box_branch or (), cls_branch or (), strides):
                a[-1].bias.data[:] = 2.0
                b[-1].bias.data[:self.nc] = math.log(5 / self.nc / (640 / float(s)) ** 2)


__all__ = ["Bottleneck", "C2f", "C3k", "C3k2", "SPPF", "Attention", "PSABlock", "C2PSA", "DWConv", "DFL", "Detect",
           "Conv", "Concat", "make_anchors"]
