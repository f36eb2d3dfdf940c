"""YOLOv7 model yamls (the training layouts of yolov7-tiny, yolov7 and yolov7x) generated from their block pattern.

The layer lists equal WongKinYiu/yolov7's cfg/training/*.yaml layer for layer (same indices, so checkpoints'
state_dict keys line up); they are written here as the repeated blocks the architecture is made of:
  ELAN      two 1x1 branches, a chain of 3x3 convs on the second, a Concat of chosen taps, a 1x1 transition;
  MP-down   a MaxPool branch (1x1 conv) and a strided 3x3 branch, concatenated (plus a lateral input in the head);
  SPPCSPC   yolov7/yolov7x's pyramid pooling block; yolov7-tiny spells its smaller version out with SP pools.
"""
import copy

V7_ANCHORS = [[12, 16, 19, 36, 40, 28], [36, 75, 76, 55, 72, 146], [142, 110, 192, 243, 459, 401]]
TINY_ANCHORS = [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]]
LEAKY = "nn.LeakyReLU(0.1)"


class _Layers:
    """An append-only layer list that knows the index of the last layer added."""

    def __init__(self, act: str | None = None):
        self.rows: list[list] = []
        self.act = act

    @property
    def last(self) -> int:
        return len(self.rows) - 1

    def add(self, f, module: str, args: list) -> int:
        self.rows.append([f, 1, module, args])
        return self.last

    def conv(self, c: int, k: int = 1, s: int = 1, f=-1) -> int:
        return self.add(f, "Conv", [c, k, s] if self.act is None else [c, k, s, None, 1, self.act])

    def elan(self, hidden: int, hidden3: int, n3: int, taps: list[int], out: int) -> int:
        self.conv(hidden)
        self.conv(hidden, f=-2)
        for _ in range(n3):
            self.conv(hidden3, 3)
        self.add(taps, "Concat", [1])
        return self.conv(out)

    def mp_down(self, c: int, lateral: int | None = None) -> int:
        self.add(-1, "MP", [])
        self.conv(c)
        self.conv(c, f=-3)
        self.conv(c, 3, 2)
        return self.add([-1, -3] + ([lateral] if lateral is not None else []), "Concat", [1])

    def upsample_merge(self, c: int, lateral: int) -> int:
        self.conv(c)
        self.add(-1, "nn.Upsample", [None, 2, "nearest"])
        self.conv(c, f=lateral)
        return self.add([-1, -2], "Concat", [1])


def _v7_layout(stem: int, outs: list[int], n3: int, taps: list[int], head_taps: list[int], head_wide: bool,
               spp: int, out_module: str) -> tuple[list, list]:
    """yolov7 (stem 32, outs 256/512/1024/1024) and yolov7x (stem 40, wider, deeper ELANs)."""
    net = _Layers()
    net.conv(stem, 3, 1)
    net.conv(2 * stem, 3, 2)
    net.conv(2 * stem, 3, 1)
    net.conv(4 * stem, 3, 2)
    stages = []
    for i, (hidden, out) in enumerate(zip((64, 128, 256, 256), outs)):
        if i:
            net.mp_down(outs[i - 1] // 2)
        stages.append(net.elan(hidden, hidden, n3, taps, out))
    backbone = net.rows
    net.rows = []
    offset = len(backbone)
    at = lambda index: index + offset  # noqa: E731  (head indices count on from the backbone's)
    spp_i = at(net.add(-1, "SPPCSPC", [spp]))
    td_out, p3_out = spp // 2, spp // 4
    net.upsample_merge(td_out, stages[2])
    td = at(net.elan(256, 256 if head_wide else 128, n3, head_taps, td_out))
    net.upsample_merge(p3_out, stages[1])
    p3 = at(net.elan(128, 128 if head_wide else 64, n3, head_taps, p3_out))
    net.mp_down(p3_out, lateral=td)
    p4 = at(net.elan(256, 256 if head_wide else 128, n3, head_taps, td_out))
    net.mp_down(td_out, lateral=spp_i)
    p5 = at(net.elan(512, 512 if head_wide else 256, n3, head_taps, spp))
    outs_i = [at(net.add(src, out_module, [c, 3, 1])) for src, c in ((p3, 2 * p3_out), (p4, 2 * td_out), (p5, 2 * spp))]
    net.add(outs_i, "IDetect", ["nc", "anchors"])
    return backbone, net.rows


def _tiny_layout() -> tuple[list, list]:
    net = _Layers(act=LEAKY)
    net.conv(32, 3, 2)
    net.conv(64, 3, 2)
    stages = []
    for i, (hidden, out) in enumerate(((32, 64), (64, 128), (128, 256), (256, 512))):
        if i:
            net.add(-1, "MP", [])
        stages.append(net.elan(hidden, hidden, 2, [-1, -2, -3, -4], out))
    backbone = net.rows
    net.rows = []
    offset = len(backbone)
    at = lambda index: index + offset  # noqa: E731
    net.conv(256)
    net.conv(256, f=-2)
    for k, f in ((5, -1), (9, -2), (13, -3)):
        net.add(f, "SP", [k])
    net.add([-1, -2, -3, -4], "Concat", [1])
    net.conv(256)
    net.add([-1, -7], "Concat", [1])
    spp = at(net.conv(256))
    net.upsample_merge(128, stages[2])
    td = at(net.elan(64, 64, 2, [-1, -2, -3, -4], 128))
    net.upsample_merge(64, stages[1])
    p3 = at(net.elan(32, 32, 2, [-1, -2, -3, -4], 64))
    net.conv(128, 3, 2)
    net.add([-1, td], "Concat", [1])
    p4 = at(net.elan(64, 64, 2, [-1, -2, -3, -4], 128))
    net.conv(256, 3, 2)
    net.add([-1, spp], "Concat", [1])
    p5 = at(net.elan(128, 128, 2, [-1, -2, -3, -4], 256))
    outs = [at(net.conv(c, 3, 1, f=src)) for src, c in ((p3, 128), (p4, 256), (p5, 512))]
    net.add(outs, "IDetect", ["nc", "anchors"])
    return backbone, net.rows


_LAYOUTS = {
    "yolov7-tiny": (_tiny_layout, TINY_ANCHORS),
    "yolov7": (lambda: _v7_layout(32, [256, 512, 1024, 1024], 4, [-1, -3, -5, -6], [-1, -2, -3, -4, -5, -6],
                                  head_wide=False, spp=512, out_module="RepConv"), V7_ANCHORS),
    "yolov7x": (lambda: _v7_layout(40, [320, 640, 1280, 1280], 6, [-1, -3, -5, -7, -8], [-1, -3, -5, -7, -8],
                                   head_wide=True, spp=640, out_module="Conv"), V7_ANCHORS),
}
MODELS = tuple(_LAYOUTS)


def yolov7_cfg(name: str = "yolov7", nc: int = 80, width_multiple: float = 1.0, depth_multiple: float = 1.0) -> dict:
    """The yaml dict of cfg/training/<name>.yaml with `nc` classes (and optionally other multiples)."""
    if name not in _LAYOUTS:
        raise ValueError(f"unknown YOLOv7 model {name!r}; choose one of {list(_LAYOUTS)}")
    layout, anchors = _LAYOUTS[name]
    backbone, head = layout()
    return {"nc": nc, "depth_multiple": depth_multiple, "width_multiple": width_multiple,
            "anchors": copy.deepcopy(anchors), "backbone": backbone, "head": head}
