"""The model families the project knows (YOLOv5, YOLOv7, ...) and how a model yaml is matched to one.

A family is a sibling module under yolo/families/ that registers a `Family`: its yaml module vocabulary, how to
build and fuse its model, its head's output layout, its quantization defaults and the packages its training code
pickled checkpoints from. Everything else (checkpoint loading, calibration, export, evaluation) asks this
registry instead of knowing a family.

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


def _anchor_head_nc(cfg: dict, state_dict: dict[str, torch.Tensor]) -> int:
    """Class count from the first output conv of an anchor-based head (out = anchors per cell * (nc + 5))."""
    head_index = len(cfg["backbone"]) + len(cfg["head"]) - 1
    weight = state_dict.get(f"model.{head_index}.m.0.weight")
    na = len(cfg["anchors"][0]) // 2 if isinstance(cfg["anchors"], list) else cfg["anchors"]
    return int(weight.shape[0]) // na - 5 if weight is not None else int(cfg["nc"])


@dataclass(frozen=True)
class Family:
    """One model family.

    modules: its yaml vocabulary (name -> class, role). signature: names only this family uses.
    build(cfg, ch, names) -> the model in eval mode; fuse(model) -> its deployment form, in place.
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
    infer_nc: Callable[[dict, dict], int] = _anchor_head_nc
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


FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    FAMILIES[family.name] = family
    return family


def _load_families() -> None:
    import yolo.families  # noqa: F401  (each family module registers itself on import)


def yaml_module_names(cfg: Any) -> list[str]:
    """Module type names of a yaml's layers, in order (empty when the yaml has no layer lists)."""
    layers = (cfg.get("backbone") or []) + (cfg.get("head") or []) if isinstance(cfg, dict) else []
    return [ModuleRegistry.canonical(str(layer[2])) for layer in layers
            if isinstance(layer, (list, tuple)) and len(layer) == 4]


def family_of(cfg: Any, source: str = "model yaml") -> Family:
    """The family whose vocabulary the yaml uses; a QYoloError naming what was found otherwise."""
    _load_families()
    names = yaml_module_names(cfg)
    if not names:
        raise QYoloError(f"{source} has no backbone/head layer lists; it is not a YOLO model yaml")
    if isinstance(cfg, dict) and "family" in cfg and cfg["family"] in FAMILIES:
        return FAMILIES[cfg["family"]]
    matches = [f for f in FAMILIES.values() if f.recognises(cfg)]
    if len(matches) == 1:
        return matches[0]
    for family in FAMILIES.values():
        task = next((family.other_tasks[n] for n in names if n in family.other_tasks), None)
        if task is not None:
            head = next(n for n in names if n in family.other_tasks)
            raise QYoloError(f"{source} describes {task} model (head {head}), which is not supported: supported "
                             f"are the detection models of {', '.join(FAMILIES)} (e.g. yolo11n.pt, not yolo11n-seg.pt)")
    known = {name: f.modules.names() for name, f in FAMILIES.items()}
    unknown = sorted({n for n in names if not any(n in f.modules for f in FAMILIES.values())})
    found = sorted(set(names))
    if unknown:
        raise QYoloError(f"{source} uses module type(s) {unknown} that no supported family ({sorted(FAMILIES)}) "
                         f"defines (its modules: {found}); this model family is not supported")
    if not matches:
        raise QYoloError(f"{source} mixes modules of different families ({found}); no supported family "
                         f"({sorted(FAMILIES)}) builds it. Known vocabularies: {known}")
    raise QYoloError(f"{source} (modules {found}) fits several families {[f.name for f in matches]}; "
                     "add \"family: <name>\" to the yaml to choose")


def family_of_model(model: nn.Module) -> Family:
    """The family a built model belongs to (models built here carry its name; otherwise their yaml says)."""
    _load_families()
    name = getattr(model, "family", None)
    if isinstance(name, str) and name in FAMILIES:
        return FAMILIES[name]
    return family_of(getattr(model, "yaml", None), source=f"model {type(model).__name__}")


def _head(model: nn.Module) -> nn.Module | None:
    layers = getattr(model, "model", None)
    return layers[-1] if isinstance(layers, nn.Sequential) and len(layers) else None


def head_layout_of(model: nn.Module) -> HeadLayout:
    """The output layout of `model`: its head's own when the head says (one head may give either of two outputs,
    e.g. the end-to-end top-k or its dense candidates), else its family's; a module built elsewhere (no family, no
    yaml) is read as YOLOv5's."""
    layout = getattr(_head(model), "layout", None)
    if isinstance(layout, HeadLayout):
        return layout
    if getattr(model, "family", None) is None and not isinstance(getattr(model, "yaml", None), dict):
        return ANCHOR_OBJECTNESS
    return family_of_model(model).head_layout


@contextlib.contextmanager
def candidate_outputs(model: nn.Module):
    """Within the block, a head that selects its detections (end-to-end top-k) outputs every candidate instead,
    decoded (head_layout_of then says how): analyses that compare two outputs candidate by candidate (the
    sensitivity proxy) need rows that stay aligned, which a top-k selection does not. Other heads are unchanged."""
    head = _head(model)
    if head is None or not hasattr(head, "select_top_k"):
        yield model
        return
    before = head.select_top_k
    head.select_top_k = False
    try:
        yield model
    finally:
        head.select_top_k = before


def build_model(cfg: dict, ch: int = 3, nc: int | None = None, names: list[str] | None = None) -> nn.Module:
    """The model its yaml describes, built by the family that recognises the yaml (eval mode, training form)."""
    return family_of(cfg).build(cfg, ch=ch, nc=nc, names=names)


def model_names() -> list[str]:
    """Every model name a family knows (yolov5s, yolov7-tiny, yolov8n, ...), sorted."""
    _load_families()
    return sorted(name for family in FAMILIES.values() for name in family.configs)


def named_config(name: str) -> dict | None:
    """A yaml dict for a known model name ("yolov5s", "yolov7-tiny", ...), None when no family has it."""
    _load_families()
    for family in FAMILIES.values():
        if name in family.configs:
            return family.configs[name]()
    return None

