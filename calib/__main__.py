"""python -m calib: calibrate a checkpoint (YOLOv5, YOLOv7, YOLOv8, YOLO11) into a calibrated artifact (+ JSON
sidecar).

Defaults run on the embedded fixture model and its synthetic calibration images, e.g.
    python -m calib --method uh --scheme asym --w-bits 8 --a-bits 8
    python -m calib --weights weights/yolov5s.pt --data data/coco/train2017 --num-images 1500 --imgsz 640 --device cuda
"""
import argparse
import sys

from calib.config import QuantConfig
from calib.stage import CalibConfig, calibrate
from common.cli import (
    CliParser,
    finite_float,
    image_size,
    make_config,
    positive_int,
    run_cli,
    thread_count,
    torch_device,
)
from common.errors import QYoloError
from common.provenance import sidecar_path


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="python -m calib", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=None, help="FP32 checkpoint (default: the embedded fixture)")
    parser.add_argument("--cfg", default=None, help="model yaml or name (yolov5s) for a plain state_dict checkpoint")
    parser.add_argument("--data", default=None,
                        help="calibration images: a folder, or a dataset (COCO JSON/folder, YOLO data yaml); "
                             "default: the synthetic calibration split")
    parser.add_argument("--method", default="uh", help="minmax | percentile | mse | entropy | uh (default uh)")
    parser.add_argument("--scheme", default="asym",
                        help="activation grid: asym (uint8, the published UH; cpu profile) or sym (int8, TensorRT)")
    parser.add_argument("--w-bits", type=positive_int, default=8, help="weight bits, 2..8")
    parser.add_argument("--a-bits", type=positive_int, default=8, help="activation bits, 2..8")
    parser.add_argument("--num-images", type=positive_int, default=None,
                        help="calibration images (default 256 on the synthetic split, else 1500 as the paper)")
    parser.add_argument("--batch-size", "--batch", dest="batch_size", type=positive_int, default=16,
                        help="images per forward pass (default 16). The histogram methods (uh, percentile, mse, "
                             "entropy) size their bins from the first batch's range and grow from there, so another "
                             "--batch can move a range by a few percent: keep it fixed when comparing runs")
    parser.add_argument("--imgsz", type=image_size, default=None,
                        help="letterbox size (default: the size the checkpoint was trained at where it records one, "
                             "else 640)")
    parser.add_argument("--device", type=torch_device, default="cpu", help="cpu, cuda or cuda:<index>")
    parser.add_argument("--skip", action="append", default=[], metavar="GLOB",
                        help="module-name glob kept in float (repeatable), e.g. 'model.9.*'")
    parser.add_argument("--quantize-first-conv", action="store_true", help="quantize the stem conv too")
    parser.add_argument("--quantize-head", action="store_true",
                        help="quantize the head output convs too (the family's Detect, IDetect, ...)")
    parser.add_argument("--quantize-matmul", action="store_true",
                        help="quantize the inputs of the attention MatMuls too (YOLO11's C2PSA; the Softmax stays "
                             "float); default: they stay float")
    parser.add_argument("--percentile", type=finite_float, default=None,
                        help="the percentile the percentile method keeps (default 99.99); --method percentile only")
    parser.add_argument("--seed", type=int, default=0, help="seed of the calibration image sample")
    parser.add_argument("--threads", type=thread_count, default=None, help="torch CPU threads")
    parser.add_argument("--out", default=None, help="artifact path (default runs/calib/<method>-<scheme>-w<W>a<A>.pt)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.percentile is not None and args.method != "percentile":
        raise QYoloError(f"--percentile applies to --method percentile, not {args.method}; drop it or change the "
                         "method")
    quant = make_config(QuantConfig, method=args.method, scheme=args.scheme, w_bits=args.w_bits, a_bits=args.a_bits,
                        percentile=99.99 if args.percentile is None else args.percentile, skip=tuple(args.skip),
                        skip_first_conv=not args.quantize_first_conv, quantize_matmul=args.quantize_matmul,
                        float_head_classes=() if args.quantize_head else QuantConfig.float_head_classes)
    config = make_config(CalibConfig, quant=quant, weights=args.weights, cfg=args.cfg, data=args.data,
                         num_images=args.num_images, batch_size=args.batch_size, imgsz=args.imgsz, device=args.device,
                         seed=args.seed, threads=args.threads, out=args.out, progress=not args.no_progress)
    path = calibrate(config)
    print(f"calibrated artifact: {path}")
    print(f"sidecar:             {sidecar_path(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
