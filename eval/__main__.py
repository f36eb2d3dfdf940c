"""python -m eval: COCO mAP of a model (FP32 .pt, calibrated artifact, ONNX, engine) on a dataset."""
import argparse
import sys

from common.cli import run_cli
from eval.evaluate import EvalConfig, evaluate
from eval.report import format_table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval", description=__doc__)
    parser.add_argument("--weights", "--model", dest="model", required=True,
                        help=".pt checkpoint, calibrated artifact, .onnx, or TensorRT engine")
    parser.add_argument("--data", required=True, help="COCO instances JSON, its folder, or a YOLO data yaml")
    parser.add_argument("--backend", default="torch", help="torch | ort | openvino | tensorrt")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for the backend")
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--conf-thres", type=float, default=0.001)
    parser.add_argument("--iou-thres", type=float, default=0.6)
    parser.add_argument("--out", default=None, help="metrics .json path or an output folder")
    args = parser.parse_args(argv)
    options = {"threads": args.threads} if args.threads else {}
    try:
        cfg = EvalConfig(model=args.model, data=args.data, backend=args.backend, imgsz=args.imgsz, batch=args.batch,
                         device=args.device, conf_thres=args.conf_thres, iou_thres=args.iou_thres,
                         max_images=args.max_images, out=args.out, backend_options=options)
    except ValueError as exc:
        parser.error(str(exc))
    metrics = evaluate(cfg)
    print(format_table([metrics]))
    print(f"{metrics['num_images']} images, {metrics['num_detections']} detections, {metrics['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
