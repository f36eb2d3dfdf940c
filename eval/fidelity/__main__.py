"""python -m eval.fidelity: is a deployed model computing what its calibrated artifact computes?

    python -m eval.fidelity --model runs/export/m/uh_asym_w8a8_cpu.onnx --backend ort
    python -m eval.fidelity --model a_trt.onnx --backend openvino --artifact a.pt --data data/synthetic/val

Prints a verdict (pass / warn / fail) with the figures behind it, writes them as JSON (--out), and exits 1 on
fail so a deployment script can stop there.
"""
import argparse
import sys

from common.cli import CliParser, image_size, make_config, positive_int, run_cli, thread_count, torch_device
from eval.fidelity import DEFAULT_IMAGES, FidelityConfig, check_fidelity
from eval.fidelity.report import format_reports


def main(argv=None) -> int:
    parser = CliParser(prog="python -m eval.fidelity", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="deployed model: .onnx (ort, openvino) or engine (tensorrt)")
    parser.add_argument("--backend", default="ort", help="ort | openvino | tensorrt")
    parser.add_argument("--artifact", help="the calibrated artifact it came from (default: the one it records)")
    parser.add_argument("--data", help="images to compare on (default: the artifact's calibration images)")
    parser.add_argument("--images", type=positive_int, default=DEFAULT_IMAGES,
                        help=f"images to compare (default {DEFAULT_IMAGES})")
    parser.add_argument("--imgsz", type=image_size, help="input size (default: the model's)")
    parser.add_argument("--device", type=torch_device, default="cpu", help="cpu, or cuda for tensorrt")
    parser.add_argument("--threads", type=thread_count, help="CPU threads for the backend")
    parser.add_argument("--out", help="write the report as JSON here")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    cfg = make_config(FidelityConfig, model=args.model, backend=args.backend, artifact=args.artifact, data=args.data,
                      images=args.images, imgsz=args.imgsz, device=args.device,
                      backend_options={"threads": args.threads} if args.threads else {}, out=args.out,
                      progress=not args.no_progress)
    report = check_fidelity(cfg)
    print(format_reports([report]))
    return 1 if report["verdict"] == "fail" else 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
