"""`python -m eval.bench`: CPU latency (ONNX Runtime, OpenVINO) of ONNX files, FP32 beside INT8, batch 1.

    python -m eval.bench --models fp32.onnx uh-asym-w8a8-cpu.onnx --backends ort openvino --out latency.json
    python -m tools.cpu_speed                              # the default YOLOv5s models at 640 and 256
"""
import argparse
import sys
from pathlib import Path
from typing import Sequence

from common.atomic import check_output_file
from common.cli import CliParser, non_negative_int, positive_int, run_cli, thread_count
from eval.bench import BACKENDS, OPTIONAL_BACKENDS, run_benchmark


def add_timing_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every CPU latency run takes (also `python -m tools.cpu_speed`)."""
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS + OPTIONAL_BACKENDS,
                        help="openvino-bf16: OpenVINO with bf16 float layers, its default on CPUs with bf16 units")
    parser.add_argument("--threads", type=thread_count, default=2)
    parser.add_argument("--warmup", type=non_negative_int, default=10)
    parser.add_argument("--runs", type=positive_int, default=50, help="timed runs per configuration")
    parser.add_argument("--rounds", type=positive_int, default=5,
                        help="the timed runs are interleaved in this many rounds")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/latency.json"))
    parser.add_argument("--plot", type=Path, help="PNG path (default: --out with .png)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="cpu: CPU seconds per call instead of wall time (steadier on a loaded machine, 1 thread)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = CliParser(prog="python -m eval.bench", description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", type=Path, required=True, help="ONNX files to time")
    add_timing_arguments(parser)
    args = parser.parse_args(argv)
    check_output_file(args.out)
    if args.plot:
        check_output_file(args.plot, "--plot")
    run_benchmark(args.models, args.backends, args.threads, args.warmup, args.runs, args.rounds, None, args.out,
                  args.plot, clock=args.clock)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
