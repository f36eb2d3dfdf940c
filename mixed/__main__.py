"""python -m mixed: the fewest layers at 8 bits that bring a W4A4 model within a few AP of W8A8.

    python -m mixed                                        # the fixture, UH asym, W4A4 -> W8A8, target -3 AP
    python -m mixed --ranking runs/sensitivity/fixture/sensitivity.json --max-share 0.25 --full-curve

Writes <out>/mixed.pt (calibrated artifact with per-layer widths, + sidecar), mixed.json (plan, curve, uniform
points) and mixed.png (the Pareto plot); default out: runs/mixed/<weights stem>.
"""
import argparse
import sys

from common.atomic import check_output_dir
from common.cli import (
    CliParser,
    finite_float,
    fraction,
    image_size,
    make_config,
    positive_int,
    run_cli,
    thread_count_or_zero,
    torch_device,
)
from mixed.config import MixedConfig
from mixed.report import format_summary, write_outputs
from mixed.search import search_mixed


def bits(text: str) -> tuple[int, int]:
    """'4-4' / 'w4a8' / '8' -> (w_bits, a_bits)."""
    parts = [p for p in text.lower().replace("w", "").replace("a", "-").split("-") if p]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected bit widths like 4-4 or w4a8, got {text!r}") from None
    if len(values) == 1:
        values *= 2
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"expected bit widths like 4-4 or w4a8, got {text!r}")
    return values[0], values[1]


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="python -m mixed", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=None, help="FP32 checkpoint (default: the embedded fixture)")
    parser.add_argument("--cfg", default=None, help="model yaml or name for a plain state_dict checkpoint")
    parser.add_argument("--calib-data", default=None, help="calibration images (default: the synthetic split)")
    parser.add_argument("--val-data", default=None, help="validation set for AP (default: the synthetic val split)")
    parser.add_argument("--method", default="uh", help="calibration method (default uh)")
    parser.add_argument("--scheme", default="asym", help="asym (default; cpu profile) or sym (trt profile)")
    parser.add_argument("--low-bits", type=bits, default=(4, 4), help="widths every layer starts at (default 4-4)")
    parser.add_argument("--high-bits", type=bits, default=(8, 8), help="widths of a raised layer (default 8-8)")
    parser.add_argument("--target-drop", type=finite_float, default=3.0,
                        help="AP points below uniform high (default 3)")
    parser.add_argument("--max-share", type=fraction, default=0.25, help="layer budget, share (default 0.25)")
    parser.add_argument("--rank-by", default="float", help="sensitivity view ordering the layers: float | alone")
    parser.add_argument("--ranking", default=None, help="sensitivity.json to take the order from (default: computed)")
    parser.add_argument("--ordering", default="greedy", help="greedy (default: re-ranked on the proxy per step) "
                                                                 "or static (the view's ranking as it is)")
    parser.add_argument("--pool", type=positive_int, default=16, help="greedy candidates per step (default 16)")
    parser.add_argument("--proxy-images", type=positive_int, default=8, help="proxy images when ranking here")
    parser.add_argument("--full-curve", action="store_true", help="score every budget step (the whole curve)")
    parser.add_argument("--uniform", type=bits, nargs="*", default=[(8, 8), (6, 6), (4, 4)],
                        help="uniform widths scored for the plot (default 8-8 6-6 4-4)")
    parser.add_argument("--num-images", type=positive_int, default=None, help="calibration images")
    parser.add_argument("--imgsz", type=image_size, default=None,
                        help="default: the size the checkpoint was trained at where it records one, else 640")
    parser.add_argument("--batch", type=positive_int, default=16, help="calibration and evaluation batch")
    parser.add_argument("--device", type=torch_device, default=None, help="cpu, cuda (default: cuda where present)")
    parser.add_argument("--threads", type=thread_count_or_zero, default=1, help="torch CPU threads (0 = torch's)")
    parser.add_argument("--ap-images", type=positive_int, default=None, help="first N validation images for AP")
    parser.add_argument("--seed", type=int, default=0, help="seed of the image samples")
    parser.add_argument("--out", default=None, help="output folder (default runs/mixed/<weights stem>)")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    config = make_config(MixedConfig, weights=args.weights, cfg=args.cfg, calib_data=args.calib_data,
                         val_data=args.val_data, method=args.method, scheme=args.scheme, low_bits=args.low_bits,
                         high_bits=args.high_bits, target_drop=args.target_drop, max_share=args.max_share,
                         rank_by=args.rank_by, ranking=args.ranking,
                         ordering=args.ordering, pool=args.pool, proxy_images=args.proxy_images,
                         full_curve=args.full_curve, uniform=tuple(args.uniform), num_images=args.num_images,
                         imgsz=args.imgsz, batch=args.batch, device=args.device, threads=args.threads or None,
                         ap_images=args.ap_images, seed=args.seed, out=args.out, progress=not args.no_progress)
    check_output_dir(config.out)
    report = search_mixed(config)
    json_path, png_path = write_outputs(report, config.out)
    print(format_summary(report))
    print(f"wrote {report['artifact']}, {json_path}, {png_path} ({report['timings']['total_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
