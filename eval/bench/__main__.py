"""`python -m eval.bench`: CPU latency (ONNX Runtime, OpenVINO), FP32 vs INT8, batch 1.

    python -m eval.bench                                   # YOLOv5s (random weights) at 640 and 256, 2 threads
    python -m eval.bench --models fp32.onnx uh_asym_w8a8_cpu.onnx --backends ort openvino --out latency.json
"""
import argparse
import sys
from pathlib import Path
from typing import Sequence

from common.cli import run_cli
from eval.bench import BACKENDS, run_benchmark


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.bench", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", type=Path, help="ONNX files (default: build YOLOv5s FP32/INT8)")
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--imgsz", nargs="+", type=int, default=[640, 256],
                        help="input sizes of the default models (given --models, their own size is used)")
    parser.add_argument("--arch", default="yolov5s", help="architecture of the default models (yolov5n..x, yolov8n..x, yolo11n..x)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--runs", type=int, default=50, help="timed runs per configuration")
    parser.add_argument("--rounds", type=int, default=5, help="the timed runs are interleaved in this many rounds")
    parser.add_argument("--model-root", type=Path, default=Path("runs/bench/models"))
    parser.add_argument("--rebuild", action="store_true", help="re-export the default models")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/latency.json"))
    parser.add_argument("--plot", type=Path, help="PNG path (default: --out with .png)")
    args = parser.parse_args(argv)
    run_benchmark(args.models, args.backends, args.imgsz, args.threads, args.warmup, args.runs, args.rounds,
                  args.arch, args.model_root, args.out, args.plot, args.rebuild)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
