"""python -m scripts.activation_sides: where each activation's values lie against the range a calibration gave it.

UH (asymmetric, as published) takes the lower bound of a range as the running minimum and searches only the upper
bound, scoring the error on the non-negative values: it was made for SiLU, whose negative side is a sliver in
[-0.28, 0]. After LeakyReLU(0.1) (yolov7-tiny) the negative side reaches a tenth of the most negative
pre-activation and carries real values. For every activation quantizer of a calibrated model this reports:
- from a float pass over calibration images (the first artifact's own, or --data): the share of values below
  zero and the extent of both sides;
- for each artifact given (the same model calibrated differently, e.g. uh-asym and minmax-asym): its range, the
  share of its grid levels below zero, the share of values clipped above, and the mean squared fake-quant error
  split between the negative and the non-negative values.
Prints the quantizers whose grids spend most levels below zero, a summary over all of them, writes JSON (--out).
    python -m scripts.activation_sides --artifacts runs/sweep/fixture/artifacts/uh-asym-w8a8.pt \
        runs/sweep/fixture/artifacts/minmax-asym-w8a8.pt --num-images 32
"""
import argparse
import sys
from pathlib import Path

import torch
from torch import nn

from common.atomic import write_json_atomic
from common.cli import CliParser, image_size, positive_int, run_cli
from common.errors import QYoloError

ACTIVATION_TYPES = (nn.SiLU, nn.LeakyReLU, nn.ReLU, nn.Hardswish, nn.GELU, nn.Mish)


def activation_quantizers(model: nn.Module) -> dict[str, nn.Module]:
    """Per-tensor quantizers (activations; weight quantizers are per channel), by module name."""
    from calib.modes import quantizers

    return {name: q for name, q in quantizers(model) if q.axis is None}


class SideStats:
    """Running statistics of one activation in float, and the fake-quant error of each artifact's grid on it."""

    def __init__(self, grids: list[tuple[torch.Tensor, torch.Tensor, int, int]]):
        self.grids = grids  # (scale, zero point, quant_min, quant_max) per artifact
        self.count = self.negative = 0
        self.min, self.max = 0.0, 0.0
        self.errors = [[0.0, 0.0, 0] for _ in grids]  # (sum sq error below zero, at or above zero, clipped above)

    def add(self, x: torch.Tensor) -> None:
        x = x.detach().float().flatten()
        below = x < 0
        self.count += x.numel()
        self.negative += int(below.sum())
        self.min, self.max = min(self.min, float(x.min())), max(self.max, float(x.max()))
        for errors, (scale, zero_point, low, high) in zip(self.errors, self.grids):
            quantized = torch.fake_quantize_per_tensor_affine(x, scale, zero_point, low, high)
            squared = (quantized - x).double() ** 2
            errors[0] += float(squared[below].sum())
            errors[1] += float(squared[~below].sum())
            errors[2] += int((x > (high - zero_point) * scale).sum())


def grid_of(quantizer: nn.Module) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    scale, zero_point = quantizer.scale_and_zero_point()
    return scale.reshape(()).float(), zero_point.reshape(()).int(), quantizer.quant_min, quantizer.quant_max


def measure(artifacts: list[Path], images: list[Path], imgsz: int, batch: int) -> dict:
    """Float pass of the first artifact's model over `images`, each artifact's grids applied beside it."""
    from calib.artifact import load_calibrated
    from calib.data import CalibrationImages
    from calib.modes import disable_quantization

    model, meta = load_calibrated(artifacts[0])
    names = list(activation_quantizers(model))
    grids: dict[str, list] = {name: [] for name in names}
    labels = []
    for path in artifacts:
        other, other_meta = (model, meta) if path == artifacts[0] else load_calibrated(path)
        found = activation_quantizers(other)
        if sorted(found) != sorted(names) or other_meta.get("yaml") != meta.get("yaml"):
            raise QYoloError(f"artifact {path} is not a calibration of the same model as {artifacts[0]}; give "
                             "artifacts of one checkpoint")
        quant = other_meta["quant_config"]
        labels.append(f"{quant['method']}-{quant['scheme']}-w{quant['w_bits']}a{quant['a_bits']}")
        for name in names:
            grids[name].append(grid_of(found[name]))
    stats = {name: SideStats(grids[name]) for name in names}
    quantizer_modules = activation_quantizers(model)
    hooks = [quantizer_modules[name].register_forward_pre_hook(lambda _m, args, s=stats[name]: s.add(args[0]))
             for name in names]
    disable_quantization(model)
    with torch.no_grad():
        for x in CalibrationImages(images, imgsz, batch):
            model(x)
    for hook in hooks:
        hook.remove()
    activations = sorted({type(m).__name__ for m in model.modules() if isinstance(m, ACTIVATION_TYPES)})
    return {"artifacts": [str(p) for p in artifacts], "labels": labels, "activations": activations,
            "num_images": len(images), "imgsz": imgsz, "layers": [_row(name, stats[name], labels) for name in names]}


def _row(name: str, s: SideStats, labels: list[str]) -> dict:
    row = {"name": name, "negative_share": s.negative / max(s.count, 1), "min": s.min, "max": s.max, "grids": {}}
    for label, (scale, zero_point, low, high), (err_neg, err_pos, clipped) in zip(labels, s.grids, s.errors):
        amin, amax = float((low - zero_point) * scale), float((high - zero_point) * scale)
        row["grids"][label] = {
            "amin": amin, "amax": amax, "step": float(scale),
            "levels_below_zero": float(zero_point - low) / (high - low),
            "clipped_above_share": clipped / max(s.count, 1),
            "mse": (err_neg + err_pos) / max(s.count, 1),
            "mse_share_negative": err_neg / (err_neg + err_pos) if err_neg + err_pos else 0.0,
        }
    return row


def summary(result: dict) -> list[dict]:
    """Per artifact: medians over the activation quantizers."""
    layers = result["layers"]

    def median(values):
        return float(torch.tensor(values, dtype=torch.float64).median()) if values else float("nan")

    rows = []
    for label in result["labels"]:
        grids = [layer["grids"][label] for layer in layers]
        rows.append({"artifact": label, "quantizers": len(layers),
                     "negative_share": median([layer["negative_share"] for layer in layers]),
                     "min_over_max": median([-layer["min"] / layer["max"] for layer in layers if layer["max"] > 0]),
                     "levels_below_zero": median([g["levels_below_zero"] for g in grids]),
                     "clip_over_max": median([g["amax"] / layer["max"] for g, layer in zip(grids, layers)
                                              if layer["max"] > 0]),
                     "mse_share_negative": median([g["mse_share_negative"] for g in grids])})
    return rows


def text_table(rows: list[dict]) -> str:
    """Fixed-width columns: the first left-aligned, the figures right-aligned."""
    header = list(rows[0]) if rows else []
    cells = [header] + [[str(row[key]) for key in header] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths)))
             for line in cells]
    return "\n".join(lines[:1] + ["  ".join("-" * w for w in widths)] + lines[1:])


def print_report(result: dict, top: int) -> None:
    first = result["labels"][0]
    print(f"activation functions in the model: {', '.join(result['activations']) or 'none'}; "
          f"{len(result['layers'])} activation quantizers, float pass over {result['num_images']} images at "
          f"{result['imgsz']} px")
    ranked = sorted(result["layers"], key=lambda r: -r["grids"][first]["levels_below_zero"])[:top]
    rows = []
    for layer in ranked:
        row = {"quantizer": layer["name"].removesuffix(".input_quantizer"),
               "neg %": f"{100 * layer['negative_share']:.1f}", "min": f"{layer['min']:.2f}",
               "max": f"{layer['max']:.2f}"}
        for label, grid in layer["grids"].items():
            row[f"{label} range"] = f"[{grid['amin']:.2f}, {grid['amax']:.2f}]"
            row[f"{label} levels<0 %"] = f"{100 * grid['levels_below_zero']:.1f}"
        rows.append(row)
    print(text_table(rows))
    print("\nmedians over all activation quantizers:")
    print(text_table([{key: (f"{value:.3f}" if isinstance(value, float) else value) for key, value in row.items()}
                      for row in summary(result)]))


def main(argv=None) -> int:
    parser = CliParser(prog="python -m scripts.activation_sides", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifacts", nargs="+", required=True, help="calibrated artifacts of one checkpoint")
    parser.add_argument("--data", default=None, help="images (default: the first artifact's calibration images)")
    parser.add_argument("--num-images", type=positive_int, default=32)
    parser.add_argument("--imgsz", type=image_size, default=None, help="default: the artifact's")
    parser.add_argument("--batch", type=positive_int, default=8)
    parser.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--top", type=positive_int, default=8, help="quantizers listed (most levels below zero)")
    parser.add_argument("--out", default="runs/activation_sides.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from calib.artifact import read_artifact
    from calib.data import calibration_image_paths

    artifacts = [Path(p) for p in args.artifacts]
    meta = read_artifact(artifacts[0])
    if args.data is not None:
        images = calibration_image_paths(args.data, args.num_images)
    else:
        images = [Path(p) for p in meta["calibration"]["images"][:args.num_images]]
    result = measure(artifacts, images, args.imgsz or int(meta["imgsz"]), args.batch)
    result["summary"] = summary(result)
    write_json_atomic(args.out, result)
    print_report(result, args.top)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
