"""The family registry: which of the families yolo/families/__init__.py lists a yaml or a model belongs to, and what
follows from that (building it, its deployment form, its output layout, the model names the families know)."""
from typing import Any

from torch import nn

from common.errors import QYoloError
from yolo.families import FAMILIES
from yolo.family import ANCHOR_OBJECTNESS, Family, HeadLayout, head_module, yaml_module_names
from yolo.fuse import fuse_modules


def families_by_name() -> dict[str, Family]:
    return {family.name: family for family in FAMILIES}


def family_of(cfg: Any, source: str = "model yaml") -> Family:
    """The family whose vocabulary the yaml uses; a QYoloError naming what was found otherwise."""
    from yolo.model_yaml import check_model_yaml

    check_model_yaml(cfg, source)
    known = families_by_name()
    if isinstance(cfg, dict) and cfg.get("family") in known:
        return known[cfg["family"]]
    matches = [f for f in FAMILIES if f.recognises(cfg)]
    if len(matches) == 1:
        return matches[0]
    names = yaml_module_names(cfg)
    for family in FAMILIES:
        head = next((n for n in names if n in family.other_tasks), None)
        if head is not None:
            raise QYoloError(f"{source} describes {family.other_tasks[head]} model (head {head}), which is not "
                             f"supported: supported are the detection models of {', '.join(known)} (e.g. yolo11n.pt, "
                             "not yolo11n-seg.pt)")
    unknown = sorted({n for n in names if not any(n in f.modules for f in FAMILIES)})
    found = sorted(set(names))
    if unknown:
        raise QYoloError(f"{source} uses module type(s) {unknown} that no supported family ({sorted(known)}) "
                         f"defines (its modules: {found}); this model family is not supported")
    if not matches:
        vocabularies = {name: f.modules.names() for name, f in known.items()}
        raise QYoloError(f"{source} mixes modules of different families ({found}); no supported family "
                         f"({sorted(known)}) builds it. Known vocabularies: {vocabularies}")
    raise QYoloError(f"{source} (modules {found}) fits several families {[f.name for f in matches]}; "
                     "add \"family: <name>\" to the yaml to choose")


def family_of_model(model: nn.Module) -> Family:
    """The family a built model belongs to (models built here carry its name; otherwise their yaml says)."""
    name = getattr(model, "family", None)
    known = families_by_name()
    if isinstance(name, str) and name in known:
        return known[name]
    return family_of(getattr(model, "yaml", None), source=f"model {type(model).__name__}")


def _has_family(model: nn.Module) -> bool:
    return getattr(model, "family", None) is not None or isinstance(getattr(model, "yaml", None), dict)


def head_layout_of(model: nn.Module) -> HeadLayout:
    """The output layout of `model`: its head's own when the head says (one head may give either of two outputs,
    e.g. the end-to-end top-k or its dense candidates), else its family's; a module built elsewhere (no family, no
    yaml) is read as YOLOv5's."""
    layout = getattr(head_module(model), "layout", None)
    if isinstance(layout, HeadLayout):
        return layout
    return family_of_model(model).head_layout if _has_family(model) else ANCHOR_OBJECTNESS


def fuse_model(model: nn.Module) -> nn.Module:
    """The deployment form of `model`, in place, by its family's rules (yolo.fuse's protocol without a family)."""
    return family_of_model(model).fuse(model) if _has_family(model) else fuse_modules(model)


def build_model(cfg: dict, ch: int = 3, nc: int | None = None, names: list[str] | None = None) -> nn.Module:
    """The model its yaml describes, built by the family that recognises the yaml (eval mode, training form)."""
    return family_of(cfg).build_model(cfg, ch=ch, nc=nc, names=names)


def model_names() -> list[str]:
    """Every model name a family knows (yolov5s, yolov7-tiny, yolov8n, ...), sorted."""
    return sorted(name for family in FAMILIES for name in family.configs)


def named_config(name: str) -> dict | None:
    """A yaml dict for a known model name ("yolov5s", "yolov7-tiny", ...), None when no family has it."""
    return next((family.configs[name]() for family in FAMILIES if name in family.configs), None)
