"""quantize_model: swap quantized modules into any nn.Module by rules on module type and name.

Rules: a module whose type is exactly nn.Conv2d becomes QuantConv2d; exactly nn.MaxPool2d becomes QuantMaxPool2d
(when config.quantize_maxpool); exactly common.matmul.MatMul becomes QuantMatMul (when config.quantize_matmul).
Subclasses are left alone (they may override forward), and already quantized
modules are never wrapped twice. A module stays in float when
- it is the first nn.Conv2d in `model.named_modules()` order and config.skip_first_conv (the stem conv);
- it lies inside a module whose class name is in config.float_head_classes (YOLOv5's Detect output convs);
- its name matches one of the fnmatch globs in config.skip.
Nothing here knows YOLO: the same call works on a plain nn.Sequential or a detector from another codebase.
"""
from fnmatch import fnmatchcase
from functools import partial

import torch
from torch import nn

from calib.config import QuantConfig
from calib.modes import quantizers
from calib.quant_modules import QuantConv2d, QuantMatMul, QuantMaxPool2d
from common.log import get_logger
from common.matmul import MatMul


def _module_device(module: nn.Module, fallback: torch.device) -> torch.device:
    for tensor in list(module.parameters()) + list(module.buffers()):
        return tensor.device
    return fallback


def _skip_reason(name: str, config: QuantConfig, first_conv: str | None, head_prefixes: list[str]) -> str | None:
    if config.skip_first_conv and name == first_conv:
        return "first conv"
    for prefix in head_prefixes:
        if name.startswith(prefix + ".") or name == prefix:
            return "float head"
    for pattern in config.skip:
        if fnmatchcase(name, pattern):
            return f"skip pattern {pattern!r}"
    return None


def quantize_model(model: nn.Module, config: QuantConfig | None = None) -> nn.Module:
    """Replace Conv2d/MaxPool2d (and MatMul) modules of `model` in place by quantized versions; returns `model`.

    Quantizers are named after their module ("model.3.conv.input_quantizer") and start in quantization mode;
    run `collect_and_compute` (or load a calibrated state_dict) before the forward pass.
    Logs how many modules were replaced and which were kept in float, and why.
    """
    config = config or QuantConfig()
    if any(True for _ in quantizers(model)):
        raise ValueError("model already contains TensorQuantizers; quantize a float model")
    modules = dict(model.named_modules())
    first_conv = next((name for name, m in modules.items() if isinstance(m, nn.Conv2d)), None)
    head_prefixes = [name for name, m in modules.items()
                     if type(m).__name__ in config.float_head_classes and name]
    model_device = _module_device(model, torch.device("cpu"))
    replaced, kept = [], []
    for name, module in modules.items():
        kind = type(module)
        if kind is nn.Conv2d:
            make = QuantConv2d.from_float
        elif kind is nn.MaxPool2d and config.quantize_maxpool:
            make = partial(QuantMaxPool2d.from_float, device=model_device)
        elif kind is MatMul:
            if not config.quantize_matmul:
                kept.append(f"{name} (MatMul: quantize_matmul is off)")
                continue
            make = partial(QuantMatMul.from_float, device=model_device)
        else:
            continue
        reason = _skip_reason(name, config, first_conv, head_prefixes)
        if reason:
            kept.append(f"{name} ({reason})")
            continue
        quantized = make(module, config, name)
        _set_submodule(model, name, quantized)
        replaced.append(name)
    check_layer_bits(config, replaced)
    log = get_logger()
    mixed = f", {len(config.layer_bits)} layers at their own widths" if config.layer_bits else ""
    log.info("quantize_model: %d modules quantized (%s, %s, W%dA%d%s), %d kept in float%s", len(replaced),
             config.method, config.scheme, config.w_bits, config.a_bits, mixed, len(kept),
             (": " + ", ".join(kept)) if kept else "")
    if config.quantize_matmul and not any(type(m) is MatMul for m in modules.values()):
        log.warning("quantize_model: quantize_matmul is set but the model has no MatMul module (no attention)")
    if not replaced:
        log.warning("quantize_model: no Conv2d or MaxPool2d was quantized; check the skip rules")
    return model


def check_layer_bits(config: QuantConfig, quantized_layers: list[str]) -> None:
    """Every per-layer width must name a quantized module: a name that matches none is a typo, not a no-op."""
    known = set(quantized_layers)
    unknown = [name for name, _, _ in config.layer_bits if name not in known]
    if unknown:
        raise ValueError(f"layer_bits names {unknown[:3]} but no quantized Conv2d/MaxPool2d has that name; quantized "
                         f"layers look like {', '.join(quantized_layers[:3])}")


def _set_submodule(root: nn.Module, name: str, new: nn.Module) -> None:
    if not name:
        raise ValueError("the model itself is a Conv2d/MaxPool2d; wrap it in an nn.Sequential to quantize it")
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, new)
