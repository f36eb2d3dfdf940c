"""python -m sweep (make table): the paper's Table 1 for any checkpoint: calibration methods x bit widths, six
COCO AP columns, FP32 beside them; fake quantization in PyTorch.

    python -m sweep                                          # the fixture, 7 methods x W8A8/W6A6/W4A4
    python -m sweep --weights weights/yolov5s.pt --calib-data data/coco/train2017 \\
        --val-data data/coco/annotations/instances_val2017.json --imgsz 640 --device cuda
    python -m sweep --methods uh-asym percentile minmax --bits 8-8 4-4 --quantize-matmul

Writes table.json, table.md, ap_vs_bits.png, run.json, artifacts/, metrics/ and ranges/ under --out (default
runs/sweep/<weights stem>); see sweep.run for the rows.
"""
import argparse
import sys

from calib.study_cli import add_study_options, bit_widths, study_fields
from common.atomic import check_output_dir
from common.cli import CliParser, make_config, run_cli
from sweep.config import DEFAULT_BITS, DEFAULT_METHODS, DEFAULT_OUT_DIR, METHODS, SweepConfig
from sweep.run import run_sweep


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="python -m sweep", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_study_options(parser, str(DEFAULT_OUT_DIR))
    rows = parser.add_argument_group("rows")
    rows.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), choices=list(METHODS), metavar="METHOD",
                      help=f"row labels, of {', '.join(METHODS)} (default: all)")
    rows.add_argument("--bits", nargs="+", type=bit_widths, default=list(DEFAULT_BITS),
                      help="W-A bit widths of every method (default 8-8 6-6 4-4)")
    rows.add_argument("--no-ranges", action="store_true",
                      help="skip the per-layer clipping-range figures (out/ranges, one extra calibration pass)")
    rows.add_argument("--quantize-matmul", action="store_true",
                      help="every row also quantizes the inputs of attention MatMuls (YOLO11's C2PSA)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    config = make_config(SweepConfig, **study_fields(args), methods=args.methods, bits=args.bits,
                         ranges=not args.no_ranges, quantize_matmul=args.quantize_matmul)
    check_output_dir(config.out)
    run_sweep(config)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
