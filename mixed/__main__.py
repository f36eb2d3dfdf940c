"""python -m mixed: the fewest layers at 8 bits that bring a W4A4 model within a few AP of W8A8.

    python -m mixed                                        # the fixture, UH asym, W4A4 -> W8A8, target -3 AP
    python -m mixed --ranking runs/sensitivity/fixture/sensitivity.json --max-share 0.25 --full-curve

Writes <out>/mixed.pt (calibrated artifact with per-layer widths, + sidecar), mixed.json (plan, curve, uniform
points) and mixed.png (the Pareto plot); default out: runs/mixed/<weights stem>.
"""
import argparse
import sys

from calib.study_cli import add_calibrator_options, add_study_options, bit_widths, layer_study_fields
from common.atomic import check_output_dir
from common.cli import CliParser, finite_float, fraction, make_config, positive_int, run_cli
from mixed.config import DEFAULT_OUT_DIR, MixedConfig
from mixed.report import format_summary, write_outputs
from mixed.search import search_mixed


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="python -m mixed", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_study_options(parser, str(DEFAULT_OUT_DIR))
    add_calibrator_options(parser, scheme_help="asym (default; cpu profile) or sym (trt profile)")
    plan = parser.add_argument_group("mixed precision")
    plan.add_argument("--low-bits", type=bit_widths, default=(4, 4), help="widths every layer starts at (default 4-4)")
    plan.add_argument("--high-bits", type=bit_widths, default=(8, 8), help="widths of a raised layer (default 8-8)")
    plan.add_argument("--target-drop", type=finite_float, default=3.0, help="AP points below uniform high (default 3)")
    plan.add_argument("--max-share", type=fraction, default=0.25, help="layer budget, share (default 0.25)")
    plan.add_argument("--rank-by", default="float", help="sensitivity view ordering the layers: float | alone")
    plan.add_argument("--ranking", default=None, help="sensitivity.json to take the order from (default: computed)")
    plan.add_argument("--ordering", default="greedy", help="greedy (default: re-ranked on the proxy per step) "
                                                               "or static (the view's ranking as it is)")
    plan.add_argument("--pool", type=positive_int, default=16, help="greedy candidates per step (default 16)")
    plan.add_argument("--full-curve", action="store_true", help="score every budget step (the whole curve)")
    plan.add_argument("--uniform", type=bit_widths, nargs="*", default=[(8, 8), (6, 6), (4, 4)],
                      help="uniform widths scored for the plot (default 8-8 6-6 4-4)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    config = make_config(MixedConfig, **layer_study_fields(args), low_bits=args.low_bits, high_bits=args.high_bits,
                         target_drop=args.target_drop, max_share=args.max_share, rank_by=args.rank_by,
                         ranking=args.ranking, ordering=args.ordering, pool=args.pool, full_curve=args.full_curve,
                         uniform=tuple(args.uniform))
    check_output_dir(config.out)
    report = search_mixed(config)
    json_path, png_path = write_outputs(report, config.out)
    print(format_summary(report))
    print(f"wrote {report['artifact']}, {json_path}, {png_path} ({report['timings']['total_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
