"""`python -m tools.cpu_speed` (make bench-cpu-speed): a named architecture (random weights) FP32 vs INT8 CPU
latency at several input sizes, batch 1, ONNX Runtime and OpenVINO, interleaved runs; JSON + PNG + table.

Builds the models once (bench.models: calibration and export chained on synthetic images), then times
them with `bench.cpu.run_benchmark`. For your own ONNX files use `python -m bench.cpu --models ...`.
"""
import sys
from pathlib import Path
from typing import Sequence

from bench.cpu import add_timing_arguments, run_benchmark
from bench.models import build_models
from common.cli import CliParser, image_size, run_cli
from yolo.family import model_names


def main(argv: Sequence[str] | None = None) -> int:
    parser = CliParser(prog="python -m tools.cpu_speed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--imgsz", nargs="+", type=image_size, default=[640, 256], help="input sizes of the models")
    parser.add_argument("--arch", default="yolov5s", choices=model_names(), help="architecture of the models")
    parser.add_argument("--model-root", type=Path, default=Path("runs/bench/models"))
    parser.add_argument("--rebuild", action="store_true", help="re-export the models")
    parser.add_argument("--anchors", action="store_true",
                        help="also time ONNX Runtime quantize_static's and NNCF's graphs of the FP32 model")
    parser.add_argument("--op-profile", type=Path,
                        help="then write the per-operator profile of the same models here (bench.op_profile)")
    add_timing_arguments(parser)
    args = parser.parse_args(argv)
    models = [(path, size) for size in args.imgsz
              for path in build_models(args.arch, size, args.model_root, rebuild=args.rebuild, anchors=args.anchors)]
    run_benchmark(models, args.backends, args.threads, args.warmup, args.runs, args.rounds, args.arch, args.out,
                  args.plot, clock=args.clock)
    if args.op_profile:
        from bench.op_profile import run_profiles

        profiled = [b for b in args.backends if b in ("ort", "openvino")]  # the op profile reads f32 OpenVINO only
        run_profiles([path for path, _ in models], profiled, args.threads, out=args.op_profile)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
