"""The command-line options every study shares (`python -m sweep`, `python -m sensitivity`, `python -m mixed`), in
option groups, and the fields of calib.study's configs they fill: one spelling, one default, one check each."""
import argparse

from common.cli import image_size, positive_int, thread_count_or_zero, torch_device


def bit_widths(text: str) -> tuple[int, int]:
    """'8-8' / 'w4a8' / '4' -> (w_bits, a_bits), each in 2..8 (an option type)."""
    parts = [p for p in text.lower().replace("w", "").replace("a", "-").split("-") if p]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or not all(2 <= v <= 8 for v in values):
        raise argparse.ArgumentTypeError(f"expected bit widths W-A with each in 2..8, like 8-8, 4-4 or w4a8; "
                                         f"got {text!r}")
    return values[0], values[1]


def add_study_options(parser: argparse.ArgumentParser, out_root: str) -> None:
    """The model, data and run options of every calib.study.CalibrationStudy; out_root: the default output root."""
    model = parser.add_argument_group("model")
    model.add_argument("--weights", default=None, help="FP32 checkpoint (default: the embedded fixture)")
    model.add_argument("--cfg", default=None, help="model yaml or name for a plain state_dict checkpoint")
    data = parser.add_argument_group("data")
    data.add_argument("--calib-data", default=None, help="calibration images (default: the synthetic split)")
    data.add_argument("--val-data", default=None, help="validation set for AP (default: the synthetic val split)")
    data.add_argument("--num-images", type=positive_int, default=None,
                      help="calibration images (default: 256 of the synthetic split, else 1500)")
    data.add_argument("--imgsz", type=image_size, default=None,
                      help="default: the size the checkpoint was trained at where it records one, else 640")
    data.add_argument("--ap-images", type=positive_int, default=None,
                      help="score AP on the first N validation images only (default: all)")
    run = parser.add_argument_group("run")
    run.add_argument("--batch", type=positive_int, default=16, help="calibration and evaluation batch")
    run.add_argument("--device", type=torch_device, default=None, help="cpu, cuda, cuda:<index> (default: cuda "
                                                                       "where present)")
    run.add_argument("--threads", type=thread_count_or_zero, default=1,
                     help="torch CPU threads (default 1: predictable on shared machines; 0 = torch's)")
    run.add_argument("--seed", type=int, default=0, help="seed of the image samples")
    run.add_argument("--out", default=None, help=f"output folder (default {out_root}/<weights stem>)")
    run.add_argument("--no-progress", action="store_true")


def add_calibrator_options(parser: argparse.ArgumentParser, scheme_help: str = "asym (default) or sym") -> None:
    """The options of a calib.study.LayerStudy: its one calibrator and the proxy's images."""
    group = parser.add_argument_group("calibrator")
    group.add_argument("--method", default="uh", help="minmax | percentile | mse | entropy | uh (default uh)")
    group.add_argument("--scheme", default="asym", help=scheme_help)
    group.add_argument("--proxy-images", type=positive_int, default=8, help="images the proxy runs on (default 8)")


def study_fields(args: argparse.Namespace) -> dict:
    """The CalibrationStudy fields of parsed study options."""
    return {"weights": args.weights, "cfg": args.cfg, "calib_data": args.calib_data, "val_data": args.val_data,
            "num_images": args.num_images, "imgsz": args.imgsz, "ap_images": args.ap_images, "batch": args.batch,
            "device": args.device, "threads": args.threads or None, "seed": args.seed, "out": args.out,
            "progress": not args.no_progress}


def layer_study_fields(args: argparse.Namespace) -> dict:
    """The LayerStudy fields of parsed study and calibrator options."""
    return {**study_fields(args), "method": args.method, "scheme": args.scheme, "proxy_images": args.proxy_images}
