"""`python -m tools.cpu_speed` (make bench-cpu-speed): YOLOv5 (random weights) FP32 vs INT8 CPU latency at several
input sizes, batch 1, ONNX Runtime and OpenVINO, interleaved runs; JSON + PNG + table.

Builds the models once (tools.bench_models: calibration and export chained on synthetic images), then times
them with `eval.bench.run_benchmark`. For your own ONNX files use `python -m eval.bench --models ...`.
"""
import argparse
import sys
from pathlib import Path
from typing import Sequence

from common.cli import run_cli
from eval.bench import run_benchmark
from eval.bench.__main__ import add_timing_arguments
from tools.bench_models import build_models


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.cpu_speed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--imgsz", nargs="+", type=int, default=[640, 256], help="input sizes of the models")
    parser.add_argument("--arch", default="yolov5s", help="yolov5n..x, yolov8n..x or yolo11n..x")
    parser.add_argument("--model-root", type=Path, default=Path("runs/bench/models"))
    parser.add_argument("--rebuild", action="store_true", help="re-export the models")
    add_timing_arguments(parser)
    args = parser.parse_args(argv)
    models = [(path, size) for size in args.imgsz
              for path in build_models(args.arch, size, args.model_root, rebuild=args.rebuild)]
    run_benchmark(models, args.backends, args.threads, args.warmup, args.runs, args.rounds, args.arch, args.out,
                  args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
