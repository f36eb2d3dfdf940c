"""`python -m bench <command>`: every benchmark behind one command, each a subcommand with its own options.

    python -m bench cpu --models fp32.onnx uh-asym-w8a8-cpu.onnx      # CPU latency (ONNX Runtime, OpenVINO)
    python -m bench cpu --arch yolov5s --imgsz 640                    # the same on built-in models
    python -m bench trt runs/engines/.../*.engine --batches opt       # TensorRT engines (CUDA events + trtexec)
    python -m bench profile --models fp32.onnx uh-asym-w8a8-cpu.onnx  # time per operator kind
    python -m bench report --metrics runs/bench/.../metrics/*.json    # AP + latency report of `make bench`
"""
import argparse
import importlib
from typing import Sequence

from common.cli import CliParser

# command -> (module with add_arguments(parser) and run(args), what it does); the module's docstring is its --help.
COMMANDS = {
    "cpu": ("bench.cpu", "CPU latency of ONNX files or built-in models, ONNX Runtime and OpenVINO, interleaved"),
    "trt": ("bench.trt", "latency of TensorRT engines: CUDA events, CUDA graph, trtexec beside it"),
    "profile": ("bench.op_profile", "where a graph's CPU time goes, per operator kind"),
    "anchors": ("bench.anchors", "ONNX Runtime's and NNCF's own INT8 graphs of an FP32 ONNX, as anchors"),
    "models": ("bench.models", "build the built-in benchmark models (random weights, FP32 and INT8 graphs)"),
    "report": ("bench.report", "AP + latency report (markdown, JSON, PNG) from eval metrics and latency JSON"),
    "gpu-check": ("bench.gpu_check", "the first run on a GPU machine: tests, engines, fidelity, calibration time"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="python -m bench", description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, (module_name, summary) in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=summary, description=module.__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)
