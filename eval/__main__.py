"""python -m eval: COCO mAP of a model (FP32 .pt, calibrated artifact, ONNX, engine) on a dataset.

Prints the AP table and writes metrics.json (+ metrics.md and the COCO detections JSON) under --out.
"""
import argparse
import sys
from pathlib import Path

from common.cli import CliParser, fraction, image_size, make_config, positive_int, run_cli, thread_count, torch_device
from eval.fidelity.report import summary_line
from eval.report import format_table, ultralytics_line
from eval.stage import EvalConfig, evaluate, output_paths


def main(argv=None) -> int:
    parser = CliParser(prog="python -m eval", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", "--model", dest="model", required=True,
                        help=".pt checkpoint, calibrated artifact, .onnx, or TensorRT engine")
    parser.add_argument("--data", required=True, help="COCO instances JSON, its folder, or a YOLO data yaml")
    parser.add_argument("--backend", default="torch", help="torch | ort | openvino | tensorrt")
    parser.add_argument("--imgsz", type=image_size, default=None,
                        help="input size (default: the model's fixed input, else the size its export, calibration "
                             "or training recorded, else 640)")
    parser.add_argument("--batch", type=positive_int, default=8)
    parser.add_argument("--device", type=torch_device, default="cpu", help="cpu, cuda or cuda:<index>")
    parser.add_argument("--threads", type=thread_count, default=None, help="CPU threads for the backend")
    parser.add_argument("--max-images", type=positive_int, default=None)
    parser.add_argument("--conf-thres", type=fraction, default=0.001)
    parser.add_argument("--iou-thres", type=fraction, default=None,
                        help="NMS IoU (default: the model's own validator setting, 0.6 YOLOv5/v7, 0.7 YOLOv8/11; "
                             "end-to-end models (YOLOv10/26) take no NMS)")
    parser.add_argument("--rect", action="store_true",
                        help="score on the validator's rectangles (per-batch shapes, half-stride pad, as YOLOv5/v7 "
                             "val.py and yolo val do; --batch sets the batches) to compare AP with theirs; "
                             "needs a model that takes any input size (.pt or calibrated artifact)")
    parser.add_argument("--out", default=None,
                        help="output folder or metrics .json path (default runs/eval/<model stem>-<backend>)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")
    parser.add_argument("--no-fidelity", action="store_true",
                        help="skip the check that a quantized ONNX/engine computes what its calibrated artifact does")
    parser.add_argument("--fidelity-images", type=positive_int, default=16, help="images for that check (default 16)")
    parser.add_argument("--artifact", help="the calibrated artifact to check against (default: the one the model "
                                           "records)")
    args = parser.parse_args(argv)
    options = {"threads": args.threads} if args.threads else {}
    out = args.out or Path("runs/eval") / f"{Path(args.model).stem}-{args.backend}"
    cfg = make_config(EvalConfig, model=args.model, data=args.data, backend=args.backend, imgsz=args.imgsz,
                      batch=args.batch, device=args.device, conf_thres=args.conf_thres, iou_thres=args.iou_thres,
                      max_images=args.max_images, out=out, backend_options=options, progress=not args.no_progress,
                      fidelity=not args.no_fidelity, fidelity_images=args.fidelity_images, artifact=args.artifact,
                      rect=args.rect)
    metrics = evaluate(cfg)
    metrics_path, _ = output_paths(out)
    fidelity = summary_line(metrics["fidelity"]) if metrics.get("fidelity") else None
    print(format_table([metrics]))
    print(ultralytics_line(metrics))
    if fidelity:
        print(fidelity)
    print(f"{metrics['num_images']} images, {metrics['num_detections']} detections, {metrics['seconds']} s; "
          f"metrics in {metrics_path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
