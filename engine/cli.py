"""`python -m engine {build,inspect}`: thin argument parsing over engine.build and engine.inspector. Engine latency
is a benchmark: `python -m bench trt`."""
import argparse
import json
from pathlib import Path
from typing import Sequence

from common.cli import CliParser, image_size, make_config, non_negative_int, positive_int
from common.errors import QYoloError
from engine.config import DEFAULT_TIMING_CACHE, PRECISIONS, TYPINGS, EngineConfig
from engine.inspector import format_precision_report, parse_layers, summarize_layers
from engine.sidecar import read_sidecar


def _parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="python -m engine", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    build = sub.add_parser("build", help="ONNX (QDQ or FP32) -> TensorRT engine + sidecar + layer report")
    build.add_argument("--onnx", required=True, type=Path)
    build.add_argument("--out", type=Path, help="engine path (default: the ONNX path with .engine)")
    build.add_argument("--precision", choices=PRECISIONS, default="int8",
                       help="int8: explicit Q/DQ from the ONNX (float layers FP16 on TensorRT 10); fp16; fp32")
    build.add_argument("--batch", type=positive_int, default=1, help="largest batch (profile max, and opt by default)")
    build.add_argument("--min-batch", type=positive_int, default=1)
    build.add_argument("--opt-batch", type=positive_int, help="batch TensorRT tunes for (default: --batch)")
    build.add_argument("--imgsz", type=image_size, help="only for ONNX files with dynamic height/width")
    build.add_argument("--workspace-gib", type=float, default=4.0)
    build.add_argument("--timing-cache", type=Path, default=DEFAULT_TIMING_CACHE,
                       help="tactic timing cache reused across builds ('none' to disable)")
    build.add_argument("--typing", choices=TYPINGS, default="auto",
                       help="auto: strongly typed on TensorRT 11+, builder flags on 10")
    build.add_argument("--optimization-level", type=int, help="builder optimization level 0..5")
    build.add_argument("--device", type=non_negative_int, default=0)
    build.add_argument("--verbose", action="store_true", help="TensorRT's verbose log")

    inspect = sub.add_parser("inspect", help="print an engine's sidecar and layer precisions (no GPU needed)")
    inspect.add_argument("engine", type=Path)

    return parser


def _build(args) -> int:
    from engine.build import build_engine

    timing_cache = None if str(args.timing_cache).lower() == "none" else args.timing_cache
    cfg = make_config(EngineConfig, onnx=args.onnx, output=args.out, precision=args.precision, batch=args.batch,
                      min_batch=args.min_batch, opt_batch=args.opt_batch, imgsz=args.imgsz,
                      workspace_gib=args.workspace_gib, timing_cache=timing_cache, typing=args.typing,
                      optimization_level=args.optimization_level, device=args.device, verbose=args.verbose)
    print(build_engine(cfg))
    return 0


def _inspect(args) -> int:
    sidecar = read_sidecar(args.engine)
    if sidecar is None:
        raise QYoloError(f"no sidecar for {args.engine}; it was not built by `python -m engine build`")
    print(json.dumps({k: v for k, v in sidecar.items() if k not in ("layers", "onnx_convolutions")}, indent=2))
    layers_path = args.engine.with_name(args.engine.name + ".layers.json")
    if layers_path.is_file():
        try:
            layers = parse_layers(layers_path.read_text())
        except ValueError as exc:  # not JSON, or no "Layers" list
            raise QYoloError(f"{layers_path} is not an engine-inspector JSON ({exc}); rebuild the engine") from None
        summary = summarize_layers(layers, sidecar.get("onnx_convolutions") or None)
    elif isinstance(sidecar.get("layers"), dict):
        summary = sidecar["layers"]
    else:
        raise QYoloError(f"the sidecar of {args.engine} has no 'layers' summary and there is no {layers_path.name}; "
                         "it is incomplete: rebuild the engine (python -m engine build)")
    print(format_precision_report(summary, sidecar.get("requested_precision", "")))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return {"build": _build, "inspect": _inspect}[args.command](args)

