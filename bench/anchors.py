"""The runtimes' own INT8 quantizers applied to the project's FP32 graph, as benchmark anchors.

- `ortstatic-w8a8.onnx`: ONNX Runtime `quantize_static` (QDQ format, uint8 activations, per-channel int8 weights,
  MinMax calibration, after ONNX Runtime's recommended `quant_pre_process`).
- `nncf-w8a8.onnx`: OpenVINO's NNCF `quantize` (its ONNX backend, default performance preset) on the same file.

Both leave the Detect head in float: its output convs and the decode after them (found by structure, from the
graph output back to the first convolutions met). Quantizing the decode puts pixel boxes and probabilities on one
uint8 grid and drops AP to zero. Calibration batches are float32 NCHW in [0, 1], as the eval backends feed them.

    from bench.anchors import build_anchors
    paths = build_anchors("fp32.onnx", batches, out_dir)   # {"ortstatic-w8a8": Path, "nncf-w8a8": Path}

NNCF is a benchmark-only dependency (requirements-bench.txt); without it the NNCF anchor is skipped with a warning.
"""
import argparse
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import onnx

from common.atomic import atomic_path
from common.errors import QYoloError
from common.log import get_logger
from common.onnx_file import load_onnx

ANCHORS = ("ortstatic-w8a8", "nncf-w8a8")
PRECISIONS = {"ortstatic-w8a8": "INT8 ORT quantize_static", "nncf-w8a8": "INT8 NNCF"}
CONV_OPS = ("Conv", "QLinearConv", "ConvInteger")


def detect_head_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes from the last convolutions to the graph outputs: the Detect convs and the decode."""
    producers = {out: node for node in model.graph.node for out in node.output}
    head, stack, seen = [], [o.name for o in model.graph.output], set()
    while stack:
        node = producers.get(stack.pop())
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        head.append(node.name)
        if node.op_type not in CONV_OPS:
            stack += [i for i in node.input if i]
    if not any(n.op_type in CONV_OPS for n in model.graph.node if n.name in set(head)):
        raise QYoloError("found no convolution between the graph outputs and the input: not a detector graph")
    return head


def label_anchor(model: onnx.ModelProto, name: str) -> onnx.ModelProto:
    """Metadata naming the tool (the FP32 graph's own says profile fp32, precision FP32: the bench reads it)."""
    meta = {p.key: p.value for p in model.metadata_props}
    meta.update({"qyolo.profile": "anchor", "qyolo.variant": name, "qyolo.precision": PRECISIONS[name]})
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, meta)
    return model


def _check_named(model: onnx.ModelProto, path: Path) -> None:
    if any(not node.name for node in model.graph.node):
        raise QYoloError(f"{path} has unnamed nodes; the anchors exclude the head by node name (re-export it)")


def _reader(input_name: str, batches: Sequence[np.ndarray]):
    """An onnxruntime.quantization CalibrationDataReader over `batches` (ORT imported lazily)."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{input_name: np.ascontiguousarray(b, np.float32)} for b in batches])

        def get_next(self):
            return next(self.items, None)

    return Reader()


def ort_quantize_static(fp32: Path, out: Path, batches: Sequence[np.ndarray]) -> Path:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)  # onnx shapes suffice: no custom ops
        model = load_onnx(prepared)
        _check_named(model, fp32)
        input_name = model.graph.input[0].name
        quantized = Path(tmp) / "quantized.onnx"
        quantize_static(str(prepared), str(quantized), _reader(input_name, batches), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=detect_head_nodes(model))
        with atomic_path(out) as target:
            onnx.save(label_anchor(load_onnx(quantized), "ortstatic-w8a8"), str(target))
    return out


def nncf_quantize(fp32: Path, out: Path, batches: Sequence[np.ndarray]) -> Path:
    import logging

    import nncf
    from nncf.common.logging import nncf_logger

    nncf_logger.setLevel(logging.WARNING)  # one INFO line per node otherwise

    model = load_onnx(fp32)
    _check_named(model, fp32)
    input_name = model.graph.input[0].name
    items = [np.ascontiguousarray(b, np.float32) for b in batches]
    dataset = nncf.Dataset(items, lambda x: {input_name: x})
    quantized = nncf.quantize(model, dataset, subset_size=sum(len(b) for b in items),
                              ignored_scope=nncf.IgnoredScope(names=detect_head_nodes(model)))
    with atomic_path(out) as target:
        onnx.save(label_anchor(quantized, "nncf-w8a8"), str(target))
    return out


def build_anchors(fp32: str | Path, batches: Sequence[np.ndarray], out_dir: str | Path,
                  which: Sequence[str] = ANCHORS, rebuild: bool = False) -> dict[str, Path]:
    """Quantize `fp32` with each anchor tool in `which` (reusing files that exist unless rebuild)."""
    fp32, out_dir = Path(fp32), Path(out_dir)
    log = get_logger()
    made = {}
    for name in which:
        if name not in ANCHORS:
            raise QYoloError(f"unknown anchor {name!r}; choose from {', '.join(ANCHORS)}")
        out = out_dir / f"{name}.onnx"
        if out.is_file() and not rebuild:
            made[name] = out
            continue
        if name == "nncf-w8a8":
            try:
                import nncf  # noqa: F401
            except ImportError:
                log.warning("nncf is not installed: no NNCF anchor (pip install -r requirements-bench.txt)")
                continue
        log.info(f"anchor {name}: quantizing {fp32} on {sum(len(b) for b in batches)} images")
        (ort_quantize_static if name == "ortstatic-w8a8" else nncf_quantize)(fp32, out, batches)
        made[name] = out
    return made


def image_batches(source: str | Path, imgsz: int, num_images: int, batch: int = 1) -> list[np.ndarray]:
    """Calibration images from a folder/dataset, letterboxed as evaluation does, as float32 NCHW batches."""
    from calib.data import CalibrationImages, calibration_image_paths

    paths = calibration_image_paths(source, num_images)
    return [b.numpy() for b in CalibrationImages(paths, imgsz, batch)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from common.cli import image_size, positive_int

    parser.add_argument("--fp32", type=Path, required=True, help="FP32 ONNX graph (python -m export --profile fp32)")
    parser.add_argument("--calib-data", required=True, help="calibration images (folder or COCO json)")
    parser.add_argument("--imgsz", type=image_size, required=True, help="input size (the graph's)")
    parser.add_argument("--num-images", type=positive_int, default=256)
    parser.add_argument("--out-dir", type=Path, help="where <anchor>.onnx go (default: beside --fp32)")
    parser.add_argument("--which", nargs="+", default=list(ANCHORS), choices=ANCHORS)
    parser.add_argument("--rebuild", action="store_true", help="re-quantize even when the files exist")


def run(args: argparse.Namespace) -> int:
    load_onnx(args.fp32)  # a missing or damaged graph is one line before the images are read
    batches = image_batches(args.calib_data, args.imgsz, args.num_images)
    made = build_anchors(args.fp32, batches, args.out_dir or args.fp32.parent, args.which, args.rebuild)
    for name, path in made.items():
        print(f"{name}: {path}")
    return 0
