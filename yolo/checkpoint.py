"""Load the checkpoints users have, for every family yolo.families lists, without the upstream code on sys.path.

Accepted:
- `.pt` files released by ultralytics/yolov5 or WongKinYiu/yolov7 or written by their train.py, and those the
  `ultralytics` package writes (YOLOv8, YOLO11): a pickled dict whose `ema`/`model` entry is a
  `models.yolo.Model`/`DetectionModel` or `ultralytics.nn.tasks.DetectionModel` (often fp16) carrying its yaml.
  The pickle's classes from the families' training packages (`models.*`, `utils.*`, ...) are replaced by inert stand-ins
  while loading, and every other global must be on common.pt_file's allow-list (nothing in a file is ever run);
  we keep only the yaml, names and state_dict, read from the pickled objects' state without calling them, and
  rebuild the network from our own modules, whose parameter names are the same. The family is recognised from the
  yaml (yolo.registry), never from the file name;
- this project's `{"format": "q-yolo-state-dict", "yaml", "names", "state_dict"}` (the fixture's format);
- a plain state_dict, with its model yaml given as `cfg` (a dict, a yaml file, or a name like "yolov5s").
"""
import functools
import math
import re
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from common.errors import QYoloError
from common.provenance import ARTIFACT_FORMAT
from common.pt_file import read_pt
from yolo.families import FAMILIES
from yolo.model_yaml import read_model_yaml
from yolo.registry import family_of, fuse_model, named_config

_stand_ins: dict[tuple[str, str], type] = {}
# Module names a training package's own module path never ends in: `models.common.os.system` reaches os.system
# through the module `models.common` imports, which is no class of the training code.
_FOREIGN_MODULES = frozenset(sys.stdlib_module_names) | {"torch", "numpy", "cv2", "yaml", "PIL", "pandas", "scipy"}


class _ForeignObject:
    """Stand-in for a non-module class of an upstream repo (kept inert: state stored, never used)."""

    def __init__(self, *args, **kwargs):
        self.pickled_args, self.pickled_kwargs = args, kwargs

    def __setstate__(self, state):
        if isinstance(state, dict) and all(isinstance(key, str) for key in state):
            self.__dict__.update(state)  # what pickle's default BUILD does: vars() reads the record's fields
        else:
            self.state = state


class _ForeignModule(nn.Module):
    """Base of the stand-ins for a family's nn.Module classes: the restored __dict__ (_modules, _parameters,
    _buffers) is all that is read from them."""


def _in_package(module: str, packages) -> str | None:
    """The package of `packages` that `module` lies in, or None."""
    return next((p for p in packages if module == p or module.startswith(p + ".")), None)


def _foreign_kind(module: str) -> type | None:
    """_ForeignModule for classes of a family's model packages, _ForeignObject for its other packages, else None."""
    if any(_in_package(module, f.pickle_module_packages) for f in FAMILIES):
        return _ForeignModule
    if any(_in_package(module, f.pickle_other_packages) for f in FAMILIES):
        return _ForeignObject
    return None


# CapWords, or CapWords after a version prefix (ultralytics' v10Detect)
CLASS_NAME = re.compile(r"(v\d+)?[A-Z][A-Za-z0-9_]*")


def _training_class(module: str, name: str) -> bool:
    """Whether (module, name) can be a class of a family's training code: a CapWords name in a module of its
    packages whose path names no standard-library or third-party module (a function or a module reached
    through an import is no checkpoint content)."""
    packages = [p for f in FAMILIES for p in f.pickle_module_packages + f.pickle_other_packages]
    package = _in_package(module, packages)
    if package is None or not CLASS_NAME.fullmatch(name):
        return False
    inner = module[len(package):].split(".")[1:]
    return all(part.isidentifier() and part not in _FOREIGN_MODULES for part in inner)


def _stand_in(module: str, name: str) -> type | None:
    """The inert class that replaces the training code's class `module.name`; None when it is none."""
    base = _foreign_kind(module)
    if base is None or not _training_class(module, name):
        return None
    key = (module, name)
    if key not in _stand_ins:
        _stand_ins[key] = type(name, (base,), {"__module__": f"qyolo_foreign.{module}"})
    return _stand_ins[key]


def read_checkpoint(path: str | Path) -> Any:
    """The checkpoint's content, read through the allow-list (common.pt_file) with the families' training-code
    classes replaced by inert stand-ins; errors become one clear line."""
    path = Path(path)
    if path.is_dir():
        raise QYoloError(f"checkpoint {path} is a folder; give the checkpoint file (e.g. {path}/yolov5s.pt)")
    if path.suffix.lower() == ".onnx":
        raise QYoloError(f"{path} is an ONNX model, not a PyTorch checkpoint; run it with an ONNX backend "
                         "(python -m eval --backend ort or openvino)")
    if not path.exists():
        raise QYoloError(f"checkpoint {path} does not exist; check the --weights path")
    return read_pt(path, "checkpoint", resolve=_stand_in)


def _size_from(value: Any) -> int | None:
    """An image size as checkpoints record it: an int, or [h, w] / [train, test] lists (the largest counts)."""
    if isinstance(value, (list, tuple)) and value:
        sizes = [_size_from(v) for v in value]
        return max(sizes) if all(sizes) else None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0 and value % 32 == 0:
        return value
    return None


def trained_imgsz(path: str | Path) -> int | None:
    """The image size a checkpoint was trained at, where its training code recorded it (the ultralytics package's
    train_args.imgsz, yolov5 train.py's opt.imgsz / opt.img_size, this project's imgsz); None when it did not or
    the file cannot be read (loading it later says why). Remembered per file version: configs ask for every
    width and method they validate, and a checkpoint can weigh hundreds of MB."""
    try:
        stat = Path(path).stat()
    except OSError:
        return None
    return _recorded_imgsz(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _recorded_imgsz(path: str, mtime_ns: int, size: int) -> int | None:
    try:
        ckpt = read_checkpoint(path)
    except QYoloError:
        return None
    if not isinstance(ckpt, dict):
        return None
    for key in ("train_args", "opt"):
        args = ckpt.get(key)
        args = vars(args) if hasattr(args, "__dict__") and not isinstance(args, dict) else args
        if isinstance(args, dict):
            for name in ("imgsz", "img_size"):
                if recorded := _size_from(args.get(name)):
                    return recorded
    return _size_from(ckpt.get("imgsz"))


def is_artifact(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("format") == ARTIFACT_FORMAT


def is_calibrated_artifact(path: str | Path) -> bool:
    """True when `path` is a calibrated artifact (calib's file) rather than an FP32 checkpoint."""
    return is_artifact(read_checkpoint(path))


def _resolve_cfg(cfg: dict | str | Path | None, path: Path) -> dict:
    if cfg is None:
        raise QYoloError(f"checkpoint {path} is a plain state_dict without its model yaml; pass the yaml "
                         "(e.g. --cfg yolov5s.yaml, --cfg yolov5s or --cfg yolov7-tiny)")
    if isinstance(cfg, dict):
        return cfg
    text = str(cfg)
    named = named_config(Path(text).stem) if not Path(text).exists() else None
    if named is not None:
        return named
    return read_model_yaml(text)


def _pickled_modules(net: nn.Module, path: Path) -> list[tuple[str, nn.Module]]:
    """(name, module) of a pickled module tree, read from the restored __dict__s alone: no method of the file's
    objects runs (a crafted checkpoint's state_dict or forward hooks never do) and a malformed tree is one line."""
    found, pending, seen = [], [("", net)], set()
    while pending:
        name, module = pending.pop()
        if id(module) in seen:
            continue
        seen.add(id(module))
        children = vars(module).get("_modules", {})
        if not isinstance(children, dict):
            raise QYoloError(f"checkpoint {path}: module {name or 'model'} is malformed (its _modules is a "
                             f"{type(children).__name__}); the file is damaged: re-download or re-export it")
        found.append((name, module))
        for key, child in reversed(list(children.items())):
            if child is None:
                continue
            # a class of a family's helper package (yolov5's utils.activations) arrives as an inert record
            if not isinstance(child, (nn.Module, _ForeignObject)) or not isinstance(key, str):
                raise QYoloError(f"checkpoint {path}: module {name or 'model'} holds a {type(child).__name__} "
                                 "where a submodule belongs; the file is damaged: re-download or re-export it")
            pending.append((f"{name}.{key}" if name else key, child))
    return found


def _pickled_state_dict(modules: list[tuple[str, nn.Module]], path: Path) -> dict[str, torch.Tensor]:
    """What Module.state_dict() returns for the tree (parameters and persistent buffers), read without calling it."""
    state = {}
    for name, module in modules:
        fields = vars(module)
        skip = fields.get("_non_persistent_buffers_set") or set()
        for kind in ("_parameters", "_buffers"):
            entries = fields.get(kind, {})
            if not isinstance(entries, dict):
                raise QYoloError(f"checkpoint {path}: module {name or 'model'} has a malformed {kind}; the file "
                                 "is damaged: re-download or re-export it")
            for key, value in entries.items():
                if value is None or (kind == "_buffers" and key in skip):
                    continue
                if not isinstance(value, torch.Tensor):
                    raise QYoloError(f"checkpoint {path}: {name}.{key} is a {type(value).__name__}, not a tensor; "
                                     "the file is damaged: re-download or re-export it")
                state[f"{name}.{key}" if name else str(key)] = value.detach()
    return state


def _norm_eps(modules: list[tuple[str, nn.Module]], path: Path) -> dict[str, float]:
    """BatchNorm eps by module name: upstream training code sets 1e-3 on every BN, and eps is no state_dict entry."""
    eps = {}
    for name, module in modules:
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            value = vars(module).get("eps")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
                raise QYoloError(f"checkpoint {path}: BatchNorm {name} has eps {value!r}, not a small positive "
                                 "number; the file is damaged: re-download or re-export it")
            eps[name] = float(value)
    return eps


def _clean_activation(act: nn.Module) -> nn.Module:
    """A fresh module of the pickled activation's torch.nn class with its settings (inplace, negative_slope, ...)
    and tensors copied: the pickled object itself may carry hooks."""
    fresh = type(act).__new__(type(act))
    nn.Module.__init__(fresh)
    for key, value in vars(act).items():
        if not key.startswith("_") and key != "training" and isinstance(value, (bool, int, float, str)):
            if isinstance(value, float) and not math.isfinite(value):
                continue
            setattr(fresh, key, value)
    for kind in ("_parameters", "_buffers"):
        for key, value in (vars(act).get(kind) or {}).items():
            if isinstance(value, torch.Tensor):
                tensor = value.detach().clone()
                getattr(fresh, kind)[key] = nn.Parameter(tensor) if kind == "_parameters" else tensor
    return fresh


def _activations(modules: list[tuple[str, nn.Module]]) -> dict[str, nn.Module]:
    """Activation modules by owner name: not state_dict entries either, and a release may change a block's default
    (ultralytics 8.4 dropped the SiLU of SPPF.cv1; older checkpoints keep it)."""
    found = {}
    for name, module in modules:
        act = vars(module).get("_modules", {}).get("act")
        if isinstance(act, nn.Module) and type(act).__module__.startswith("torch.nn.modules."):
            found[name] = _clean_activation(act)
    return found


def class_names_of(value: Any, source: str) -> list[str] | None:
    """Class names as a list of strings from a list or an {index: name} dict (None when absent)."""
    if value is None:
        return None
    if isinstance(value, dict) and all(isinstance(k, int) and not isinstance(k, bool) for k in value):
        value = [value[k] for k in sorted(value)]
    if not isinstance(value, (list, tuple)) or not all(isinstance(n, (str, int)) and not isinstance(n, bool)
                                                        for n in value):
        raise QYoloError(f"{source}: the class names are a {type(value).__name__} of non-text values, not a list "
                         "of names; the file is damaged: re-download or re-export it")
    return [str(n) for n in value]


def _checked_state_dict(value: Any, path: Path) -> dict[str, torch.Tensor]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in value.items()):
        raise QYoloError(f"checkpoint {path}: its state_dict is not a mapping of names to tensors; the file is "
                         "damaged: re-download or re-export it")
    return value


def _unpack(obj: Any, path: Path, cfg) -> tuple[dict, dict[str, torch.Tensor], list[str] | None, dict[str, float],
                                                dict[str, nn.Module]]:
    """(yaml, state_dict, names, BatchNorm eps and activations by name when the file records them) from any
    accepted layout; the state_dict is a checked mapping of names to tensors, names a list of strings or None."""
    model_cfg, state_dict, names, norm_eps, activations = _layout(obj, path, cfg)
    return (model_cfg, _checked_state_dict(state_dict, path), class_names_of(names, f"checkpoint {path}"),
            norm_eps, activations)


def _layout(obj: Any, path: Path, cfg) -> tuple[Any, Any, Any, dict[str, float], dict[str, nn.Module]]:
    if isinstance(obj, dict) and obj.get("format") == "q-yolo-state-dict":
        return obj.get("yaml"), obj.get("state_dict"), obj.get("names"), {}, {}
    if is_artifact(obj):
        raise QYoloError(f"{path} is a calibrated artifact, not an FP32 checkpoint; give it as --artifact "
                         "(python -m export), or evaluate it with python -m eval --weights (fake quantization)")
    if isinstance(obj, dict) and ("model" in obj or "ema" in obj):
        net = obj.get("ema") or obj.get("model")
        if not isinstance(net, nn.Module) or not isinstance(vars(net).get("yaml"), dict):
            raise QYoloError(f"checkpoint {path} has a 'model' entry that is not a YOLO model with a yaml "
                             f"(found {type(net).__name__}); this format is not supported")
        modules = _pickled_modules(net, path)
        return (vars(net)["yaml"], _pickled_state_dict(modules, path), vars(net).get("names"),
                _norm_eps(modules, path), _activations(modules))
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return _resolve_cfg(cfg, path), obj, None, {}, {}
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        return _resolve_cfg(cfg, path), obj["state_dict"], obj.get("names"), {}, {}
    kind = f"a dict with keys {sorted(map(str, obj))[:8]}" if isinstance(obj, dict) else f"a {type(obj).__name__}"
    raise QYoloError(f"checkpoint {path} is {kind}: not a YOLO checkpoint (expected an upstream .pt with a "
                     "'model'/'ema' entry, a q-yolo state-dict file, or a plain state_dict plus --cfg)")


def _is_plain_state_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and "yaml" not in obj and "model" not in obj and "ema" not in obj


def load_weights(model: nn.Module, state_dict: dict[str, torch.Tensor], what: str, fix: str) -> None:
    """model.load_state_dict(state_dict) with every disagreement one line: the first tensor, both shapes, `fix`.

    (load_state_dict(strict=False) still raises a many-line RuntimeError on shape mismatches.) Non-finite weights
    are refused too: a NaN in a float layer would otherwise silently cost accuracy in every later stage.
    """
    expected = model.state_dict()  # an empty tensor (a quantizer's range before calibration) takes any shape
    for key, value in state_dict.items():
        if key in expected and expected[key].numel() and tuple(expected[key].shape) != tuple(value.shape):
            raise QYoloError(f"{what}: tensor {key} has shape {list(value.shape)} in the file but "
                             f"{list(expected[key].shape)} in the model its yaml builds; {fix}")
    missing = [key for key in expected if key not in state_dict]
    unexpected = [key for key in state_dict if key not in expected]
    if missing or unexpected:
        raise QYoloError(f"{what} does not match its model yaml: missing {missing[:4]}, unexpected "
                         f"{unexpected[:4]}; {fix}")
    for key, value in state_dict.items():
        if value.dtype.is_floating_point and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise QYoloError(f"{what}: tensor {key} holds {bad} NaN/Inf value(s); the weights are damaged "
                             "(a diverged training run or a broken conversion): use an intact checkpoint")
    model.load_state_dict(state_dict, strict=True)


def load_model(path: str | Path, cfg: dict | str | Path | None = None, fuse: bool = True,
               device: str | torch.device = "cpu") -> nn.Module:
    """An FP32 model in eval mode (deployment form when `fuse`), from any accepted checkpoint layout."""
    path = Path(path)
    obj = read_checkpoint(path)
    model_cfg, state_dict, names, norm_eps, activations = _unpack(obj, path, cfg)
    model_cfg = dict(model_cfg)
    state_dict = {k: v.float() if v.dtype.is_floating_point else v for k, v in state_dict.items()
                  if not k.endswith("anchor_grid")}  # yolov5 before v6 and yolov7 save the anchor grid as a buffer
    source = (f"model yaml {cfg}" if _is_plain_state_dict(obj) and not isinstance(cfg, dict) else
              f"the model yaml inside checkpoint {path}")
    family = family_of(model_cfg, source=source)
    model_cfg["nc"] = family.infer_nc(model_cfg, state_dict)
    model = family.build_model(model_cfg, ch=int(model_cfg.get("ch", 3)), names=names)
    for name, module in model.named_modules():
        if name in norm_eps:
            module.eps = norm_eps[name]
        if name in activations and isinstance(getattr(module, "act", None), nn.Module):
            module.act = activations[name]
    if not any(k.endswith((".bn.weight", ".running_mean")) for k in state_dict):
        if not fuse:
            raise QYoloError(f"checkpoint {path} was saved with BatchNorm already folded; load it with fuse=True")
        fuse_model(model)  # match the saved (fused) layout before loading
    fix = ("give the --cfg that matches the weights (e.g. the model size they were trained as)" if
           _is_plain_state_dict(obj) else "the file's model yaml and weights disagree: re-export or re-download it")
    load_weights(model, state_dict, f"checkpoint {path}", fix)
    if fuse:
        fuse_model(model)
    return model.float().eval().to(device)
