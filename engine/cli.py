"""`python -m engine {build,inspect,bench}`: thin argument parsing over engine.build, engine.inspector and
bench.trt."""
import argparse
import json
from pathlib import Path
from typing import Sequence

from common.atomic import check_output_file, write_json_atomic
from common.cli import CliParser, image_size, make_config, non_negative_int, positive_int
from common.errors import QYoloError
from common.provenance import versions
from engine.config import DEFAULT_TIMING_CACHE, PRECISIONS, TYPINGS, EngineConfig
from engine.inspector import format_precision_report, parse_layers, summarize_layers
from engine.sidecar import read_sidecar


def _batch(text: str):
    """A positive batch size, or 'opt' for the engine's own tuned batch."""
    return text if text == "opt" else positive_int(text)


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

    bench = sub.add_parser("bench", help="latency of engines (CUDA events, optional CUDA graph) + trtexec")
    bench.add_argument("engines", type=Path, nargs="+")
    bench.add_argument("--batches", type=_batch, nargs="+", default=["opt"],
                       help="batch sizes to time; 'opt' (default): the batch each engine was built for (profile opt)")
    bench.add_argument("--warmup", type=non_negative_int, default=50)
    bench.add_argument("--iterations", type=positive_int, default=300)
    bench.add_argument("--no-cuda-graph", action="store_true")
    bench.add_argument("--no-trtexec", action="store_true")
    bench.add_argument("--device", type=non_negative_int, default=0)
    bench.add_argument("--out", type=Path, default=Path("runs/bench/tensorrt_latency.json"))
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


def _bench(args) -> int:
    from bench.trt import bench_engine

    check_output_file(args.out)
    records = []
    for engine in args.engines:
        records += bench_engine(engine, args.batches, warmup=args.warmup, iterations=args.iterations,
                                cuda_graph=not args.no_cuda_graph, use_trtexec=not args.no_trtexec,
                                device=args.device)
    meta = {"batches": args.batches, "warmup": args.warmup, "iterations": args.iterations,
            "cuda_graph": not args.no_cuda_graph, "versions": versions("tensorrt", "torch")}
    write_json_atomic(args.out, {"meta": meta, "records": records})  # the layout of bench.cpu's JSON
    print(args.out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return {"build": _build, "inspect": _inspect, "bench": _bench}[args.command](args)

