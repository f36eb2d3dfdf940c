"""What a model family is (`Family`) and how its head lays out its output (`HeadLayout`).

A family is a module under yolo/families/ that defines a `Family`: its yaml module vocabulary, how to build and
fuse its model, its head's output layout, its quantization defaults and the packages its training code pickled
checkpoints from. yolo/families/__init__.py lists the families; yolo.registry finds the one a yaml or a model
belongs to. Everything else (checkpoint loading, calibration, export, evaluation) asks the registry instead of
knowing a family.

Recognition uses the yaml alone (never a file name): a family claims a yaml when every module name in it is in
the family's vocabulary and at least one is a name only that family uses (its `signature`).
"""
import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from common.errors import QYoloError
from yolo.module_registry import ModuleRegistry


@dataclass(frozen=True)
class HeadLayout:
    """The decoded output of a detection head, as NMS, scoring and export metadata read it.

    objectness: rows hold (cx, cy, w, h, objectness, nc class probabilities) when True, (cx, cy, w, h, nc class
        probabilities) when False. channels_first: the tensor is [B, C, N] (anchor-free heads) rather than [B, N, C].
    nms_iou: the NMS IoU threshold of the validator these heads' training code scores with (yolov5/yolov7 val.py
        0.6, the ultralytics package's validator 0.7), so FP32 AP here matches the number users know.
    val_resize: how that validator resizes images (yolo.letterbox.RESIZE_STYLES), used when evaluating on its
        rectangles (python -m eval --rect).
    end_to_end: the head selects its detections itself (YOLOv10 / YOLO26 one-to-one head: top-k over candidates
        and classes): rows are [B, max_det, 6] = (x1, y1, x2, y2, score, class index), best first, and scoring
        keeps the rows above the confidence threshold without NMS, as the ultralytics validator does with nms=False.
    """

    name: str
    objectness: bool
    channels_first: bool
    nms_iou: float = 0.6
    val_resize: str = "area-down"
    end_to_end: bool = False

    @property
    def box_fields(self) -> int:
        return 5 if self.objectness else 4

    def rows(self, pred: torch.Tensor) -> torch.Tensor:
        """The output as [B, N, C] rows, whatever its layout."""
        return pred.transpose(1, 2) if self.channels_first else pred

    def num_classes(self, pred: torch.Tensor) -> int:
        """Classes the output predicts: its class channels, or for end-to-end rows the highest class index + 1
        (the rows carry indices, not a channel per class)."""
        if self.end_to_end:
            return int(pred[..., 5].max()) + 1 if pred.size and pred.shape[-1] == 6 else 0
        return int(pred.shape[1 if self.channels_first else -1]) - self.box_fields

    def fields(self, nc: int) -> list[str]:
        if self.end_to_end:
            return list(END_TO_END_FIELDS)
        return ["cx", "cy", "w", "h"] + (["objectness"] if self.objectness else []) + [f"class_{i}" for i in range(nc)]

    def shape(self, batch, num_preds, nc) -> list:
        """The output's shape as export metadata writes it (symbols where a size is not fixed)."""
        if self.end_to_end:
            return [batch, num_preds, len(END_TO_END_FIELDS)]
        channels = self.box_fields + nc if isinstance(nc, int) else f"{self.box_fields}+nc"
        return [batch, channels, num_preds] if self.channels_first else [batch, num_preds, channels]


END_TO_END_FIELDS = ("x1", "y1", "x2", "y2", "score", "class")
ANCHOR_OBJECTNESS = HeadLayout("anchor-objectness", objectness=True, channels_first=False, nms_iou=0.6)
ANCHOR_FREE = HeadLayout("anchor-free", objectness=False, channels_first=True, nms_iou=0.7, val_resize="linear")
END_TO_END = HeadLayout("end-to-end", objectness=False, channels_first=False, nms_iou=0.7, val_resize="linear",
                        end_to_end=True)
HEAD_LAYOUTS = {layout.name: layout for layout in (ANCHOR_OBJECTNESS, ANCHOR_FREE, END_TO_END)}


def head_layout_named(name: str | None) -> HeadLayout:
    """The layout an exported graph's metadata names; graphs written before layouts were recorded are YOLOv5's."""
    if name is None:
        return ANCHOR_OBJECTNESS
    if name not in HEAD_LAYOUTS:
        raise QYoloError(f"unknown head output layout {name!r} in the model's metadata; known: {sorted(HEAD_LAYOUTS)}")
    return HEAD_LAYOUTS[name]


def anchor_head_nc(cfg: dict, state_dict: dict[str, torch.Tensor]) -> int:
    """Class count from the first output conv of an anchor-based head (out = anchors per cell * (nc + 5))."""
    head_index = len(cfg["backbone"]) + len(cfg["head"]) - 1
    weight = state_dict.get(f"model.{head_index}.m.0.weight")
    na = len(cfg["anchors"][0]) // 2 if isinstance(cfg["anchors"], list) else cfg["anchors"]
    return int(weight.shape[0]) // na - 5 if weight is not None else int(cfg["nc"])


@dataclass(frozen=True)
class Family:
    """One model family.

    modules: its yaml vocabulary (name -> class, role). signature: names only this family uses.
    build(cfg, ch=, nc=, names=, family=) -> the model in eval mode (yolo.model.DetectionModel for every family
        so far; `build_model` passes the family itself); fuse(model) -> its deployment form, in place.
    head_layout: the decoded output's layout. float_head_classes: class names of its head modules, whose output
        convs stay in float by default (with the first conv: the paper's skips).
    pickle_module_packages: packages whose pickled classes are nn.Modules of its training code (stand-ins with
        Module behaviour); pickle_other_packages: packages whose classes are inert training state.
    configs: named yamls (e.g. "yolov7-tiny" -> its yaml dict) for plain state_dicts given with a name.
    infer_nc(cfg, state_dict): the class count a checkpoint's weights were trained for.
    parse(cfg, ch, registry) -> (layers, saved indices): the family's yaml parser (None: yolo.model.parse_model).
    float_modules(model) -> module-name globs kept in float by default, for heads whose float part is finer than
        whole head modules (None: every conv of the float_head_classes stays float).
    float_modules_text: those layers in words, for reports (with float_modules; None: named from the head classes).
    claims(cfg): for a family whose vocabulary another family shares (YOLO26 builds from YOLO11's blocks), whether
        a yaml that uses its signature is this family's (None: every such yaml is).
    other_tasks: head names of the non-detection models its training code writes -> what they are ("an
        ultralytics pose-estimation"), so that such a checkpoint is refused by its task, not as an unknown module.
    """

    name: str
    modules: ModuleRegistry
    signature: frozenset[str]
    build: Callable[..., nn.Module]
    fuse: Callable[[nn.Module], nn.Module]
    head_layout: HeadLayout = ANCHOR_OBJECTNESS
    pickle_module_packages: tuple[str, ...] = ("models",)
    pickle_other_packages: tuple[str, ...] = ("utils", "__main__")
    configs: dict[str, Callable[[], dict]] = field(default_factory=dict)
    infer_nc: Callable[[dict, dict], int] = anchor_head_nc
    parse: Callable[..., Any] | None = None
    float_modules: Callable[[nn.Module], tuple[str, ...]] | None = None
    float_modules_text: str | None = None
    claims: Callable[[dict], bool] | None = None
    other_tasks: dict[str, str] = field(default_factory=dict)

    @property
    def float_head_classes(self) -> tuple[str, ...]:
        return self.modules.class_names("head")

    def float_layers(self, model: nn.Module | None = None) -> str:
        """What stays in float by default, in words for reports ("stem conv and IDetect output convs"); with a
        model, only the head classes it contains are named."""
        if self.float_modules_text is not None:
            return f"stem conv, {self.float_modules_text}"
        heads = self.float_head_classes
        if model is not None:
            present = {type(m).__name__ for m in model.modules()}
            heads = tuple(name for name in heads if name in present) or heads
        return f"stem conv and {'/'.join(heads)} output convs"

    def recognises(self, cfg: dict) -> bool:
        names = yaml_module_names(cfg)
        return (all(n in self.modules for n in names) and any(n in self.signature for n in names)
                and (self.claims is None or self.claims(cfg)))

    def build_model(self, cfg: dict, ch: int = 3, nc: int | None = None, names: list[str] | None = None) -> nn.Module:
        """The model `cfg` describes, built by this family (eval mode, training form)."""
        return self.build(cfg, ch=ch, nc=nc, names=names, family=self)


def yaml_module_names(cfg: Any) -> list[str]:
    """Module type names of a yaml's layers, in order (empty when the yaml has no layer lists)."""
    layers = (cfg.get("backbone") or []) + (cfg.get("head") or []) if isinstance(cfg, dict) else []
    return [ModuleRegistry.canonical(str(layer[2])) for layer in layers
            if isinstance(layer, (list, tuple)) and len(layer) == 4]


def head_module(model: nn.Module) -> nn.Module | None:
    layers = getattr(model, "model", None)
    return layers[-1] if isinstance(layers, nn.Sequential) and len(layers) else None


@contextlib.contextmanager
def candidate_outputs(model: nn.Module):
    """Within the block, a head that selects its detections (end-to-end top-k) outputs every candidate instead,
    decoded (head_layout_of then says how): analyses that compare two outputs candidate by candidate (the
    sensitivity proxy) need rows that stay aligned, which a top-k selection does not. Other heads are unchanged."""
    head = head_module(model)
    if head is None or not hasattr(head, "select_top_k"):
        yield model
        return
    before = head.select_top_k
    head.select_top_k = False
    try:
        yield model
    finally:
        head.select_top_k = before
