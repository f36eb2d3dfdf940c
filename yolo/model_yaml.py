"""Model yamls from users and checkpoints, checked before anything is built from them.

A yaml names layers as rows [from, number, module, args] under `backbone` and `head`, with multiples (`depth_multiple`,
`width_multiple`, or ultralytics' `scales`). Everything here is structure: a row that is not four fields, a
multiple that is not a positive number, a repeat count no machine could build. The size of the network a valid yaml
describes is then measured by building it on torch's meta device (no memory is allocated) and compared with the
memory this machine has, so `width_multiple: 64` is one line instead of a 100 GB allocation.
"""
import math
from pathlib import Path
from typing import Any

import torch
import yaml

from common.errors import QYoloError, exception_line
from common.input_file import read_text
from common.memory import check_fits

MAX_REPEATS = 1000  # repeats of one yaml row (number x depth multiple); the largest released models use 9
MAX_CHANNELS_IN = 16  # input channels (3 for RGB)


def read_model_yaml(path: str | Path) -> dict:
    """A model yaml file as a checked dict."""
    text = read_text(path, "model yaml", "give a model yaml or a name like yolov5s, yolov7-tiny or yolov8n")
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise QYoloError(f"model yaml {path} is not valid YAML ({str(exc).splitlines()[0]}); fix the file") from None
    check_model_yaml(loaded, f"model yaml {path}")
    return loaded


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _positive(value: Any) -> bool:
    return _number(value) and value > 0


def _check_row(row: Any, where: str, depth: float) -> None:
    if not isinstance(row, (list, tuple)) or len(row) != 4:
        raise QYoloError(f"{where} is {row!r}, not a [from, number, module, args] row")
    source, number, module, args = row
    sources = source if isinstance(source, (list, tuple)) else [source]
    if not sources or not all(isinstance(s, int) and not isinstance(s, bool) for s in sources):
        raise QYoloError(f"{where}: 'from' is {source!r}, not a layer index or a list of them")
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise QYoloError(f"{where}: 'number' is {number!r}, not a positive repeat count")
    if number > 1 and number * depth > MAX_REPEATS:  # the parsers scale repeat counts above 1 only
        raise QYoloError(f"{where} repeats its module {number} x depth {depth:g} times (at most {MAX_REPEATS}); "
                         "fix the number or the depth multiple")
    if not isinstance(module, str) or not module:
        raise QYoloError(f"{where}: 'module' is {module!r}, not a module name")
    if not isinstance(args, (list, tuple)):
        raise QYoloError(f"{where}: 'args' is {args!r}, not a list")


def _depth(cfg: dict, source: str) -> float:
    """The largest depth multiple the yaml may use (its own, or any of its scales)."""
    depths = []
    for key in ("depth_multiple", "width_multiple"):
        if key in cfg and not _positive(cfg[key]):
            raise QYoloError(f"{source}: {key} is {cfg[key]!r}, not a positive number")
    if "depth_multiple" in cfg:
        depths.append(cfg["depth_multiple"])
    scales = cfg.get("scales")
    if scales is not None:
        if not isinstance(scales, dict) or not scales:
            raise QYoloError(f"{source}: scales is {scales!r}, not a mapping of scale -> [depth, width, channels]")
        for scale, values in scales.items():
            if not isinstance(values, (list, tuple)) or len(values) != 3 or not all(map(_positive, values)):
                raise QYoloError(f"{source}: scale {scale!r} is {values!r}, not [depth, width, max_channels] "
                                 "positive numbers")
            depths.append(values[0])
    return max(depths, default=1.0)


def check_model_yaml(cfg: Any, source: str) -> None:
    """Refuse (QYoloError naming `source` and the first bad field) a yaml that is not a YOLO model description."""
    if not isinstance(cfg, dict):
        raise QYoloError(f"{source} is a {type(cfg).__name__}, not a model description (a mapping with backbone "
                         "and head layer lists)")
    depth = _depth(cfg, source)
    if "backbone" not in cfg and "head" not in cfg:
        raise QYoloError(f"{source} has no backbone/head layer lists; it is not a YOLO model yaml")
    for key in ("backbone", "head"):
        rows = cfg.get(key)
        if not isinstance(rows, (list, tuple)):
            raise QYoloError(f"{source}: '{key}' is {type(rows).__name__ if rows is not None else 'missing'}, "
                             "not a list of [from, number, module, args] layer rows; it is not a YOLO model yaml")
        for index, row in enumerate(rows):
            _check_row(row, f"{source}: {key} row {index}", depth)
    if "nc" in cfg and (not isinstance(cfg["nc"], int) or isinstance(cfg["nc"], bool) or not 1 <= cfg["nc"] <= 100_000):
        raise QYoloError(f"{source}: nc is {cfg['nc']!r}, not a class count (1 to 100000)")
    channels = cfg.get("ch", 3)
    if not isinstance(channels, int) or isinstance(channels, bool) or not 1 <= channels <= MAX_CHANNELS_IN:
        raise QYoloError(f"{source}: ch is {channels!r}, not an input channel count (1 to {MAX_CHANNELS_IN})")
    anchors = cfg.get("anchors")
    if anchors is not None and not (
            (isinstance(anchors, int) and not isinstance(anchors, bool) and 1 <= anchors <= 64)
            or (isinstance(anchors, list) and anchors and all(
                isinstance(a, list) and a and len(a) % 2 == 0 and all(map(_positive, a)) for a in anchors))):
        raise QYoloError(f"{source}: anchors is {anchors!r}, not an anchor count or lists of w, h pairs")


def check_model_size(parse, cfg: dict, ch: int, registry, source: str) -> None:
    """Build the layers on the meta device (shapes only) and refuse a network this machine cannot hold: its fp32
    weights about three times over (the model, the loaded weights, the fused copy). A yaml the parser cannot build
    is one line too, naming the error."""
    try:
        with torch.device("meta"):
            layers, _ = parse(cfg, ch=[ch], registry=registry)
    except QYoloError:
        raise
    except (IndexError, KeyError, TypeError, ValueError, ZeroDivisionError, AttributeError, RuntimeError) as exc:
        raise QYoloError(f"{source} cannot be built ({exception_line(exc)}); check its rows against the family's "
                         "yaml files") from None
    params = sum(p.numel() for p in layers.parameters()) + sum(b.numel() for b in layers.buffers())
    check_fits(3 * 4 * params, f"{source} describes a network of {params / 1e6:,.0f} M parameters, which",
               "check its width/depth multiples and channel counts")
