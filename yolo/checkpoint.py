"""Load the checkpoints users have, for every registered family, without the upstream code on sys.path.

Accepted:
- `.pt` files released by ultralytics/yolov5 or WongKinYiu/yolov7 or written by their train.py, and those the
  `ultralytics` package writes (YOLOv8, YOLO11): a pickled dict whose `ema`/`model` entry is a
  `models.yolo.Model`/`DetectionModel` or `ultralytics.nn.tasks.DetectionModel` (often fp16) carrying its yaml.
  The pickle's classes from the families' training packages (`models.*`, `utils.*`, ...) are replaced by inert stand-ins
  while loading; we keep only the yaml, names and state_dict and rebuild the network from our own modules, whose
  parameter names are the same. The family is recognised from the yaml (yolo.family), never from the file name;
- this project's `{"format": "q-yolo-state-dict", "yaml", "names", "state_dict"}` (the fixture's format);
- a plain state_dict, with its model yaml given as `cfg` (a dict, a yaml file, or a name like "yolov5s").
"""
import copy
import functools
import pickle
import types
from pathlib import Path
from typing import Any

import torch
import yaml as yaml_lib
from torch import nn

from common.errors import QYoloError
from common.provenance import ARTIFACT_FORMAT
from yolo.family import FAMILIES, _load_families, family_of, named_config
from yolo.fuse import fuse_model

_stand_ins: dict[tuple[str, str], type] = {}


class _ForeignObject:
    """Stand-in for a non-module class of an upstream repo (kept inert: state stored, never used)."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state):
        self.state = state


def _in_package(module: str, packages) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _foreign_kind(module: str) -> type | None:
    """nn.Module for classes of a family's model packages, _ForeignObject for its other packages, else None."""
    _load_families()
    if any(_in_package(module, f.pickle_module_packages) for f in FAMILIES.values()):
        return nn.Module
    if any(_in_package(module, f.pickle_other_packages) for f in FAMILIES.values()):
        return _ForeignObject
    return None


def _stand_in(module: str, name: str, base: type) -> type:
    key = (module, name)
    if key not in _stand_ins:
        # Pickled model classes are nn.Modules: give them Module behaviour so the restored __dict__ (_modules,
        # _parameters, _buffers) yields a state_dict.
        _stand_ins[key] = type(name, (base,), {"__module__": f"qyolo_foreign.{module}"})
    return _stand_ins[key]


class _ForeignUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        base = _foreign_kind(module)
        if base is not None:
            return _stand_in(module, name, base)
        return super().find_class(module, name)


_pickle_shim = types.SimpleNamespace(Unpickler=_ForeignUnpickler,
                                     load=lambda f, **kw: _ForeignUnpickler(f, **kw).load(),
                                     __name__="qyolo_foreign_pickle")


def read_checkpoint(path: str | Path) -> Any:
    """torch.load with the upstream classes replaced by stand-ins; errors become one clear line."""
    path = Path(path)
    if path.is_dir():
        raise QYoloError(f"checkpoint {path} is a folder; give the checkpoint file (e.g. {path}/yolov5s.pt)")
    if path.suffix.lower() == ".onnx":
        raise QYoloError(f"{path} is an ONNX model, not a PyTorch checkpoint; run it with an ONNX backend "
                         "(python -m eval --backend ort or openvino)")
    if not path.is_file():
        raise QYoloError(f"checkpoint {path} does not exist; check the --weights path")
    try:
        return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_pickle_shim)
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError, ... for damaged files
        raise QYoloError(f"cannot read checkpoint {path}: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}; "
                         "the file is corrupt, truncated or not a PyTorch checkpoint (re-download or re-export it)"
                         ) from None


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
    try:
        loaded = yaml_lib.safe_load(Path(text).read_text())
    except (OSError, yaml_lib.YAMLError) as exc:
        raise QYoloError(f"cannot read model yaml {text}: {exc}; give a model yaml or a name like yolov5s, "
                         "yolov7-tiny or yolov8n") from None
    if not isinstance(loaded, dict) or "backbone" not in loaded or "head" not in loaded:
        raise QYoloError(f"model yaml {text} has no backbone/head lists; it is not a YOLO model yaml")
    return loaded


def _norm_eps(net: nn.Module) -> dict[str, float]:
    """BatchNorm eps by module name: upstream training code sets 1e-3 on every BN, and eps is no state_dict entry."""
    return {name: float(m.eps) for name, m in net.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}


def _activations(net: nn.Module) -> dict[str, nn.Module]:
    """Activation modules by owner name: not state_dict entries either, and a release may change a block's default
    (ultralytics 8.4 dropped the SiLU of SPPF.cv1; older checkpoints keep it)."""
    return {name: m.act for name, m in net.named_modules()
            if isinstance(getattr(m, "act", None), nn.Module) and type(m.act).__module__.startswith("torch.nn")}


def _unpack(obj: Any, path: Path, cfg) -> tuple[dict, dict[str, torch.Tensor], list[str] | None, dict[str, float],
                                                dict[str, nn.Module]]:
    """(yaml, state_dict, names, BatchNorm eps and activations by name when the file records them) from any
    accepted layout."""
    if isinstance(obj, dict) and obj.get("format") == "q-yolo-state-dict":
        return obj["yaml"], obj["state_dict"], obj.get("names"), {}, {}
    if is_artifact(obj):
        raise QYoloError(f"{path} is a calibrated artifact, not an FP32 checkpoint; give it as --artifact "
                         "(python -m export), or evaluate it with python -m eval --weights (fake quantization)")
    if isinstance(obj, dict) and ("model" in obj or "ema" in obj):
        net = obj.get("ema") or obj.get("model")
        if not isinstance(net, nn.Module) or not isinstance(getattr(net, "yaml", None), dict):
            raise QYoloError(f"checkpoint {path} has a 'model' entry that is not a YOLO model with a yaml "
                             f"(found {type(net).__name__}); this format is not supported")
        names = getattr(net, "names", None)
        if isinstance(names, dict):
            names = [names[k] for k in sorted(names)]
        return net.yaml, net.state_dict(), names, _norm_eps(net), _activations(net)
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
    family = family_of(model_cfg, source=f"the model yaml inside checkpoint {path}")
    model_cfg["nc"] = family.infer_nc(model_cfg, state_dict)
    model = family.build(model_cfg, ch=int(model_cfg.get("ch", 3)), names=names)
    for name, module in model.named_modules():
        if name in norm_eps:
            module.eps = norm_eps[name]
        if name in activations and isinstance(getattr(module, "act", None), nn.Module):
            module.act = copy.deepcopy(activations[name])
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
