"""Load the YOLOv5 checkpoints users have, without the ultralytics/yolov5 code on sys.path.

Accepted:
- `.pt` files released by ultralytics/yolov5 or written by its train.py: a pickled dict whose `ema`/`model`
  entry is a `models.yolo.DetectionModel`/`Model` (often fp16) carrying its yaml. The pickle's classes from
  `models.*`/`utils.*` are replaced by inert stand-ins while loading; we keep only the yaml, names and state_dict
  and rebuild the network from our own modules, whose parameter names are the same.
- this project's `{"format": "q-yolo-state-dict", "yaml", "names", "state_dict"}` (the fixture's format);
- a plain state_dict, with its model yaml given as `cfg` (a dict, a yaml file, or a name like "yolov5s").
"""
import pickle
import types
from pathlib import Path
from typing import Any

import torch
import yaml as yaml_lib
from torch import nn

from common.errors import QYoloError
from common.provenance import ARTIFACT_FORMAT
from yolo.configs import SCALES, yolov5_cfg
from yolo.fuse import fuse_model
from yolo.model import DetectionModel

_FOREIGN_PACKAGES = ("models", "utils", "__main__")
_stand_ins: dict[tuple[str, str], type] = {}


class _ForeignObject:
    """Stand-in for a non-module class of the yolov5 repo (kept inert: state stored, never used)."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state):
        self.state = state


def _stand_in(module: str, name: str) -> type:
    key = (module, name)
    if key not in _stand_ins:
        # Everything in models.* that was pickled is (in practice) an nn.Module: give it Module behaviour so the
        # restored __dict__ (_modules, _parameters, _buffers) yields a state_dict.
        base = nn.Module if module.startswith("models") else _ForeignObject
        _stand_ins[key] = type(name, (base,), {"__module__": f"qyolo_foreign.{module}"})
    return _stand_ins[key]


class _ForeignUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module.split(".")[0] in _FOREIGN_PACKAGES:
            return _stand_in(module, name)
        return super().find_class(module, name)


_pickle_shim = types.SimpleNamespace(Unpickler=_ForeignUnpickler,
                                     load=lambda f, **kw: _ForeignUnpickler(f, **kw).load(),
                                     __name__="qyolo_foreign_pickle")


def read_checkpoint(path: str | Path) -> Any:
    """torch.load with yolov5's classes replaced by stand-ins; errors become one clear line."""
    path = Path(path)
    if not path.is_file():
        raise QYoloError(f"checkpoint {path} does not exist; check the --weights path")
    try:
        return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_pickle_shim)
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError, ... for damaged files
        raise QYoloError(f"cannot read checkpoint {path}: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}; "
                         "the file is corrupt, truncated or not a PyTorch checkpoint (re-download or re-export it)"
                         ) from None


def is_artifact(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("format") == ARTIFACT_FORMAT


def is_calibrated_artifact(path: str | Path) -> bool:
    """True when `path` is a calibrated artifact (calib's file) rather than an FP32 checkpoint."""
    return is_artifact(read_checkpoint(path))


def _resolve_cfg(cfg: dict | str | Path | None, path: Path) -> dict:
    if cfg is None:
        raise QYoloError(f"checkpoint {path} is a plain state_dict without its model yaml; pass the yaml "
                         "(e.g. --cfg yolov5s.yaml or --cfg yolov5s)")
    if isinstance(cfg, dict):
        return cfg
    text = str(cfg)
    stem = Path(text).stem
    if not Path(text).exists() and stem.startswith("yolov5") and stem[6:] in SCALES:
        return yolov5_cfg(stem[6:])
    try:
        loaded = yaml_lib.safe_load(Path(text).read_text())
    except (OSError, yaml_lib.YAMLError) as exc:
        raise QYoloError(f"cannot read model yaml {text}: {exc}; give a yolov5 model yaml or a name like "
                         "yolov5s") from None
    if not isinstance(loaded, dict) or "backbone" not in loaded or "head" not in loaded:
        raise QYoloError(f"model yaml {text} has no backbone/head lists; it is not a YOLOv5 model yaml")
    return loaded


def _infer_nc(cfg: dict, state_dict: dict[str, torch.Tensor]) -> int:
    """Class count from the first Detect output conv (out = anchors per cell * (nc + 5))."""
    det_idx = len(cfg["backbone"]) + len(cfg["head"]) - 1
    weight = state_dict.get(f"model.{det_idx}.m.0.weight")
    na = len(cfg["anchors"][0]) // 2 if isinstance(cfg["anchors"], list) else cfg["anchors"]
    return int(weight.shape[0]) // na - 5 if weight is not None else int(cfg["nc"])


def _unpack(obj: Any, path: Path, cfg) -> tuple[dict, dict[str, torch.Tensor], list[str] | None]:
    """(yaml, state_dict, names) from any accepted checkpoint layout."""
    if isinstance(obj, dict) and obj.get("format") == "q-yolo-state-dict":
        return obj["yaml"], obj["state_dict"], obj.get("names")
    if is_artifact(obj):
        raise QYoloError(f"{path} is a calibrated artifact, not an FP32 checkpoint; load it with calib.load_calibrated")
    if isinstance(obj, dict) and ("model" in obj or "ema" in obj):
        net = obj.get("ema") or obj.get("model")
        if not isinstance(net, nn.Module) or not isinstance(getattr(net, "yaml", None), dict):
            raise QYoloError(f"checkpoint {path} has a 'model' entry that is not a YOLOv5 model with a yaml "
                             f"(found {type(net).__name__}); this format is not supported")
        names = getattr(net, "names", None)
        if isinstance(names, dict):
            names = [names[k] for k in sorted(names)]
        return net.yaml, net.state_dict(), names
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return _resolve_cfg(cfg, path), obj, None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        return _resolve_cfg(cfg, path), obj["state_dict"], obj.get("names")
    kind = f"a dict with keys {sorted(map(str, obj))[:8]}" if isinstance(obj, dict) else f"a {type(obj).__name__}"
    raise QYoloError(f"checkpoint {path} is {kind}: not a YOLOv5 checkpoint (expected an ultralytics .pt with a "
                     "'model'/'ema' entry, a q-yolo state-dict file, or a plain state_dict plus --cfg)")


def load_model(path: str | Path, cfg: dict | str | Path | None = None, fuse: bool = True,
               device: str | torch.device = "cpu") -> DetectionModel:
    """An FP32 DetectionModel in eval mode (BN folded when `fuse`), from any accepted checkpoint layout."""
    path = Path(path)
    obj = read_checkpoint(path)
    model_cfg, state_dict, names = _unpack(obj, path, cfg)
    model_cfg = dict(model_cfg)
    state_dict = {k: v.float() if v.dtype.is_floating_point else v for k, v in state_dict.items()
                  if not k.endswith("anchor_grid")}  # pre-v6 checkpoints saved the anchor grid as a buffer
    model_cfg["nc"] = _infer_nc(model_cfg, state_dict)
    model = DetectionModel(model_cfg, ch=int(model_cfg.get("ch", 3)), names=names)
    if not any(k.endswith(".bn.weight") for k in state_dict):
        if not fuse:
            raise QYoloError(f"checkpoint {path} was saved with BatchNorm already folded; load it with fuse=True")
        fuse_model(model)  # match the saved (fused) layout before loading
    result = model.load_state_dict(state_dict, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise QYoloError(f"checkpoint {path} does not match its model yaml: missing {result.missing_keys[:4]}, "
                         f"unexpected {result.unexpected_keys[:4]}; the yaml or the file is wrong")
    if fuse:
        fuse_model(model)
    return model.float().eval().to(device)
