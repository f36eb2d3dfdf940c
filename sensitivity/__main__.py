"""python -m sensitivity: per-layer quantization sensitivity of a checkpoint (ranked table, JSON, PNG).

    python -m sensitivity                                   # the fixture, UH asym W4A4, synthetic data
    python -m sensitivity --weights weights/yolov5s.pt --calib-data data/coco/train2017 \\
        --val-data data/coco/annotations/instances_val2017.json --ap-images 500 --device cuda

Writes <out>/sensitivity.json and <out>/sensitivity.png (default out: runs/sensitivity/<weights stem>).
"""
import argparse
import sys

from calib.study_cli import add_calibrator_options, add_study_options, layer_study_fields
from common.atomic import check_output_dir
from common.cli import CliParser, make_config, non_negative_int, positive_int, run_cli
from sensitivity.analysis import analyze_sensitivity
from sensitivity.config import DEFAULT_OUT_DIR, SensitivityConfig
from sensitivity.report import format_table, write_outputs


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="python -m sensitivity", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_study_options(parser, str(DEFAULT_OUT_DIR))
    add_calibrator_options(parser)
    judged = parser.add_argument_group("sensitivity")
    judged.add_argument("--w-bits", type=positive_int, default=4, help="weight bits judged (default 4)")
    judged.add_argument("--a-bits", type=positive_int, default=4, help="activation bits judged (default 4)")
    judged.add_argument("--top-k", type=non_negative_int, default=6, help="layers per view scored with AP (default 6)")
    judged.add_argument("--rows", type=positive_int, default=15, help="table rows printed (default 15)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    config = make_config(SensitivityConfig, **layer_study_fields(args), w_bits=args.w_bits, a_bits=args.a_bits,
                         top_k=args.top_k)
    check_output_dir(config.out)
    report = analyze_sensitivity(config)
    json_path, png_path = write_outputs(report, config.out)
    print(format_table(report, args.rows))
    print(f"wrote {json_path}, {png_path} ({report['timings']['total_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
