"""python -m sensitivity: per-layer quantization sensitivity of a checkpoint (ranked table, JSON, PNG).

    python -m sensitivity                                   # the fixture, UH asym W4A4, synthetic data
    python -m sensitivity --weights weights/yolov5s.pt --calib-data data/coco/train2017 \\
        --val-data data/coco/annotations/instances_val2017.json --ap-images 500 --device cuda

Writes <out>/sensitivity.json and <out>/sensitivity.png (default out: runs/sensitivity/<weights stem>).
"""
import argparse
import sys

from common.atomic import check_output_dir
from common.cli import (
    CliParser,
    image_size,
    make_config,
    non_negative_int,
    positive_int,
    run_cli,
    thread_count_or_zero,
    torch_device,
)
from sensitivity.analysis import analyze_sensitivity
from sensitivity.config import SensitivityConfig
from sensitivity.report import format_table, write_outputs


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="python -m sensitivity", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=None, help="FP32 checkpoint (default: the embedded fixture)")
    parser.add_argument("--cfg", default=None, help="model yaml or name for a plain state_dict checkpoint")
    parser.add_argument("--calib-data", default=None, help="calibration images (default: the synthetic split)")
    parser.add_argument("--val-data", default=None, help="validation set for AP (default: the synthetic val split)")
    parser.add_argument("--method", default="uh", help="minmax | percentile | mse | entropy | uh (default uh)")
    parser.add_argument("--scheme", default="asym", help="asym (default) or sym")
    parser.add_argument("--w-bits", type=positive_int, default=4, help="weight bits judged (default 4)")
    parser.add_argument("--a-bits", type=positive_int, default=4, help="activation bits judged (default 4)")
    parser.add_argument("--num-images", type=positive_int, default=None, help="calibration images")
    parser.add_argument("--imgsz", type=image_size, default=None,
                        help="default: the size the checkpoint was trained at where it records one, else 640")
    parser.add_argument("--batch", type=positive_int, default=16, help="calibration and evaluation batch")
    parser.add_argument("--device", type=torch_device, default=None, help="cpu, cuda (default: cuda where present)")
    parser.add_argument("--threads", type=thread_count_or_zero, default=1, help="torch CPU threads (0 = torch's)")
    parser.add_argument("--proxy-images", type=positive_int, default=8, help="images the proxy runs on (default 8)")
    parser.add_argument("--top-k", type=non_negative_int, default=6, help="layers per view scored with AP (default 6)")
    parser.add_argument("--ap-images", type=positive_int, default=None, help="first N validation images for AP")
    parser.add_argument("--seed", type=int, default=0, help="seed of the image samples")
    parser.add_argument("--rows", type=positive_int, default=15, help="table rows printed (default 15)")
    parser.add_argument("--out", default=None, help="output folder (default runs/sensitivity/<weights stem>)")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    config = make_config(SensitivityConfig, weights=args.weights, cfg=args.cfg, calib_data=args.calib_data,
                         val_data=args.val_data, method=args.method, scheme=args.scheme, w_bits=args.w_bits,
                         a_bits=args.a_bits, num_images=args.num_images, imgsz=args.imgsz, batch=args.batch,
                         device=args.device, threads=args.threads or None, seed=args.seed,
                         proxy_images=args.proxy_images, top_k=args.top_k, ap_images=args.ap_images, out=args.out,
                         progress=not args.no_progress)
    check_output_dir(config.out)
    report = analyze_sensitivity(config)
    json_path, png_path = write_outputs(report, config.out)
    print(format_table(report, args.rows))
    print(f"wrote {json_path}, {png_path} ({report['timings']['total_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
