"""`python -m export`: calibrated artifact (or FP32 checkpoint) -> QDQ ONNX for one profile.

    python -m export --artifact runs/calib/m/uh-sym-w8a8.pt --profile trt --imgsz 640 --out m_trt.onnx
    python -m export --artifact runs/calib/m/uh-asym-w8a8.pt --profile cpu --imgsz 640 --out m_cpu.onnx
    python -m export --weights yolo/assets/fixture.pt --profile fp32 --imgsz 256 --dynamic-batch --out fp32.onnx
"""
import argparse
import sys
from pathlib import Path
from typing import Sequence

from common.cli import CliParser, image_size, make_config, positive_int, run_cli
from common.errors import QYoloError
from export.config import DEFAULT_OPSET, PROFILES, ExportConfig
from export.exporter import export_onnx


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="python -m export", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--artifact", type=Path, help="calibrated artifact from python -m calib (trt, cpu)")
    source.add_argument("--weights", type=Path, help="FP32 checkpoint (fp32 profile)")
    parser.add_argument("--profile", choices=PROFILES, default="trt",
                        help="trt: int8 symmetric, zero point 0; cpu: uint8 activations; fp32: no Q/DQ")
    parser.add_argument("--out", type=Path, required=True, help="output .onnx (a .onnx.json sidecar is written too)")
    parser.add_argument("--imgsz", type=image_size, default=None,
                        help="input size (default: the size the artifact was calibrated at, or the checkpoint "
                             "trained at, else 640)")
    parser.add_argument("--batch", type=positive_int, default=1,
                        help="static batch (example batch with --dynamic-batch)")
    parser.add_argument("--dynamic-batch", action="store_true", help="symbolic batch dimension")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    parser.add_argument("--placement", dest="placement", action="store_true", default=None,
                        help="apply the TensorRT placement rules (default at 8-bit activations)")
    parser.add_argument("--no-placement", dest="placement", action="store_false",
                        help="keep Q/DQ exactly at the artifact's quantizers (no shared Concat scales etc.)")
    parser.add_argument("--integer-ops", dest="integer_ops", action="store_true", default=None,
                        help="cpu profile: add calibrated Q/DQ so ONNX Runtime runs uint8 kernels (default)")
    parser.add_argument("--no-integer-ops", dest="integer_ops", action="store_false",
                        help="cpu profile: only the artifact's Q/DQ (exact vs torch; fast on OpenVINO only)")
    parser.add_argument("--calib-data", type=Path, help="images for the integer-op ranges (default: the "
                                                         "artifact's calibration images)")
    parser.add_argument("--calib-images", type=positive_int, default=64)
    parser.add_argument("--lint", action="store_true", help="run the TensorRT lint on the result (trt profile)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.lint and args.profile != "trt":
        raise QYoloError(f"--lint checks a graph against TensorRT's rules: it applies to --profile trt, not "
                         f"{args.profile}; drop --lint or export the trt profile")
    cfg = make_config(ExportConfig, out=args.out, profile=args.profile, artifact=args.artifact, weights=args.weights,
                      imgsz=args.imgsz, batch=args.batch, dynamic_batch=args.dynamic_batch, opset=args.opset,
                      placement=args.placement, integer_ops=args.integer_ops, calib_data=args.calib_data,
                      calib_images=args.calib_images)
    path = export_onnx(cfg)
    if args.lint:
        from export.lint import lint_model

        report = lint_model(path)
        for finding in report.findings:
            print(finding)
        print(f"lint: {len(report.errors)} errors, {len(report.warnings)} warnings")
        return 1 if report.errors else 0
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
