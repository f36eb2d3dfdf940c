"""python -m calib.plot: the Q-YOLO paper's Figure 1 for your own model: a layer's activation histogram with the
clipping ranges of minmax, percentile, mse, entropy and UH drawn on it.

One pass of the calibration images (the same sample, batches and preprocessing as `python -m calib`) feeds every
method's calibrator on the chosen layers, so each drawn range is the one the calibration stage would store.
Layers: named with --layers (module names such as model.2.cv1.conv), else --num-layers of them evenly spaced over
the quantized activations in module order, first and last included (an early, a middle and a late SiLU output).

    python -m calib.plot                                  # the fixture, 3 layers, A8 and A4
    python -m calib.plot --weights yolov5s.pt --data coco/train2017 --layers model.2.cv1.conv model.17.cv3.conv

Writes into --out (default runs/ranges/<model>): <module>.png per layer (one panel per activation bit width),
ranges.png (all layers in a grid) and ranges.json (each layer's signed histogram and every method's range).
"""
import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch

from calib.config import QuantConfig
from calib.data import CalibrationImages, calibration_image_paths
from calib.layer_ranges import (
    VARIANTS,
    collect_layers,
    input_quantizers,
    layer_report,
    make_layer_calibrators,
    representative_layers,
    resolve_layers,
)
from calib.replace import quantize_model
from calib.stage import CalibConfig, with_family_float_head
from common import validate
from common.atomic import check_output_dir, save_png_atomic
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
from common.log import get_logger
from common.output_set import begin_output_set, commit_output_set
from common.threads import torch_threads

DEFAULT_VARIANTS = ("minmax", "percentile", "mse", "entropy", "uh-asym")
COLOURS = {"minmax": "#d62728", "percentile": "#ff7f0e", "mse": "#2ca02c", "entropy": "#9467bd",
           "uh-asym": "#1f77b4", "uh-sym": "#17becf", "minmax-asym": "#8c564b"}


@dataclass(frozen=True)
class RangePlotConfig:
    """What `plot_ranges` draws; validated on construction (ValueError naming the bad value).

    calibration: the model, images and calibrator settings, as `python -m calib` takes them (its quant's method,
        scheme and bit widths are ignored: every variant below is computed).
    layers: module (or quantizer) names to draw; empty = `num_layers` representative ones.
    variants: method variants by label (minmax, percentile, mse, entropy, uh-asym, uh-sym, minmax-asym).
    a_bits: activation bit widths, one panel each (mse, entropy and UH search for the width).
    out: output folder; None = runs/ranges/<checkpoint stem>.
    display_bins: at most this many histogram bars (the calibrators' own bins are finer).
    """

    calibration: CalibConfig = field(default_factory=CalibConfig)
    layers: tuple[str, ...] = ()
    num_layers: int = 3
    variants: tuple[str, ...] = DEFAULT_VARIANTS
    a_bits: tuple[int, ...] = (8, 4)
    out: str | Path | None = None
    display_bins: int = 512

    def __post_init__(self) -> None:
        if not isinstance(self.calibration, CalibConfig):
            raise ValueError(f"calibration must be a calib.CalibConfig, got {type(self.calibration).__name__}")
        for name in ("layers", "variants", "a_bits"):
            value = getattr(self, name)
            if isinstance(value, (str, int)):
                raise ValueError(f"{name} must be a list, got the single value {value!r}")
            object.__setattr__(self, name, tuple(value))
        validate.positive_int(self.num_layers, "num_layers")
        validate.positive_int(self.display_bins, "display_bins")
        unknown = [v for v in self.variants if v not in VARIANTS]
        if unknown or not self.variants:
            raise ValueError(f"unknown method variant(s) {unknown or '(none given)'}; choose from {list(VARIANTS)}")
        if not self.a_bits:
            raise ValueError("give at least one activation bit width")
        for bits in self.a_bits:
            QuantConfig(a_bits=bits)  # the same 2..8 check and message as calibration
        if self.out is None:
            object.__setattr__(self, "out", Path("runs/ranges") / Path(self.calibration.weights).stem)
        object.__setattr__(self, "out", Path(self.out))


def _style(ax, report: dict, bits: int, variants: Sequence[str]) -> None:
    """One panel: the signed histogram (log counts) and each variant's [clip_low, clip_high] at `bits`."""
    import numpy as np
    from matplotlib.transforms import blended_transform_factory

    hist = report["histogram"]
    counts = np.asarray(hist["counts"], dtype=np.float64)
    edges = hist["first_edge"] + np.arange(counts.size + 1) * hist["bin_width"]
    ax.stairs(np.maximum(counts, 0.5), edges, baseline=0.5, fill=True, color="#b0b0b0", label="activations")
    ax.set_yscale("log")
    ax.set_ylim(0.5, max(2.0, counts.max()) * 30)  # head room above the tallest bar for the range bars
    ranges = [r for r in report["ranges"] if r["a_bits"] == bits and r["variant"] in variants]
    band = blended_transform_factory(ax.transData, ax.transAxes)
    lows, highs = [hist["min"]], [hist["max"]]
    for row, found in enumerate(ranges):
        colour = COLOURS.get(found["variant"], "black")
        low, high = found["clip_low"], found["clip_high"]
        lows.append(low)
        highs.append(high)
        y = 0.95 - 0.055 * row
        ax.plot([low, high], [y, y], transform=band, color=colour, lw=2.2, solid_capstyle="butt",
                label=f"{found['variant']}: [{low:.3g}, {high:.3g}], clips {100 * found['clipped_fraction']:.2g}%")
        ax.plot([low, high], [y, y], transform=band, color=colour, lw=0, marker="|", ms=8)
        for x in (low, high):
            ax.axvline(x, color=colour, lw=0.8, ls="--", alpha=0.7)
    span = max(highs) - min(lows)
    ax.set_xlim(min(lows) - 0.03 * span, max(highs) + 0.03 * span)
    ax.set_xlabel("activation value")
    ax.set_ylabel("count per bin (log)")
    ax.set_title(f"{report['module']} input, A{bits}: {hist['total']:,} values in [{hist['min']:.3g}, "
                 f"{hist['max']:.3g}]", fontsize=9)
    ax.legend(fontsize=7, loc="center right", framealpha=0.85)


def _save(fig, path: Path) -> Path:

    save_png_atomic(fig, path, dpi=100)
    return path


def draw_layer(report: dict, bit_widths: Sequence[int], variants: Sequence[str], path: str | Path) -> Path:
    """One layer's PNG: a panel per bit width, stacked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(bit_widths), 1, figsize=(9, 3.6 * len(bit_widths)), squeeze=False)
    for ax, bits in zip(axes[:, 0], bit_widths):
        _style(ax, report, bits, variants)
    fig.tight_layout()
    return _save(fig, Path(path))


def draw_grid(reports: Sequence[dict], bit_widths: Sequence[int], variants: Sequence[str], path: str | Path,
              title: str) -> Path:
    """Every layer side by side (columns), a row per bit width."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(bit_widths), len(reports), figsize=(6.5 * len(reports), 3.6 * len(bit_widths)),
                             squeeze=False)
    for col, report in enumerate(reports):
        for row, bits in enumerate(bit_widths):
            _style(axes[row, col], report, bits, variants)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, Path(path))


def _print_summary(reports: Sequence[dict]) -> None:
    print(f"{'layer':<28} {'method':<12} {'bits':>4} {'clip low':>10} {'clip high':>10} {'clipped %':>9}")
    for report in reports:
        for found in report["ranges"]:
            print(f"{report['module']:<28} {found['variant']:<12} {found['a_bits']:>4} {found['clip_low']:>10.4g} "
                  f"{found['clip_high']:>10.4g} {100 * found['clipped_fraction']:>9.3g}")


def plot_ranges(cfg: RangePlotConfig) -> dict:
    """Collect the chosen layers' statistics in one pass; write the PNGs and ranges.json; return the JSON object."""
    from torch import nn

    from yolo.checkpoint import load_model
    from yolo.memory import check_batch_fits

    calib = cfg.calibration
    log = get_logger()
    started = time.perf_counter()
    if torch.device(calib.device).type == "cuda" and not torch.cuda.is_available():
        raise QYoloError(f"device {calib.device!r} asked but CUDA is not available here; use --device cpu")
    with torch_threads(calib.threads):
        model = load_model(calib.weights, cfg=calib.cfg, fuse=True, device=calib.device)
        check_batch_fits(model, calib.imgsz, calib.batch_size, f"collecting the ranges of {calib.weights}")
        quant = with_family_float_head(calib.quant, model) if calib.quant.float_head_classes else calib.quant
        float_modules = [name for name, m in model.named_modules() if type(m) in (nn.Conv2d, nn.MaxPool2d)]
        quantize_model(model, quant)
        skipped = [name for name in float_modules if type(model.get_submodule(name)) in (nn.Conv2d, nn.MaxPool2d)]
        available = list(input_quantizers(model))
        names = resolve_layers(available, cfg.layers, skipped) if cfg.layers else \
            representative_layers(available, cfg.num_layers)
        check_output_dir(cfg.out)  # after the checks of the checkpoint and layers: no empty folder left for a typo
        stats = {name: make_layer_calibrators(name, cfg.variants, quant) for name in names}
        source = calib.data
        if source is None:
            from yolo.fixture import fixture_calib_images

            source = fixture_calib_images(progress=calib.progress)
        paths = calibration_image_paths(source, calib.num_images, calib.seed)
        images = CalibrationImages(paths, calib.imgsz, calib.batch_size)
        log.info(f"collecting {len(cfg.variants)} methods' ranges on {len(names)} layers of {calib.weights} from "
                 f"{len(paths)} images of {source} at {calib.imgsz} px")
        try:
            collect_layers(model, stats, images, progress=calib.progress)
        except QYoloError:
            if not images.used:
                raise QYoloError(f"none of the {len(paths)} calibration images of {source} could be decoded; "
                                 "check the image folder") from None
            raise
        reports = [layer_report(stats[name], cfg.a_bits, cfg.display_bins) for name in names]
    begin_output_set(cfg.out / "ranges.json")  # the PNGs first, ranges.json last, naming their hashes
    for report in reports:
        report["png"] = str(draw_layer(report, cfg.a_bits, cfg.variants, cfg.out / f"{report['module']}.png"))
    title = (f"{Path(calib.weights).name}: activation histograms and clipping ranges "
             f"({len(images.used)} calibration images, {calib.imgsz} px)")
    grid = draw_grid(reports, cfg.a_bits, cfg.variants, cfg.out / "ranges.png", title)
    result = {"settings": {"calibration": calib.to_dict(), "layers": names, "variants": list(cfg.variants),
                           "a_bits": list(cfg.a_bits), "num_images": len(images.used),
                           "seconds": round(time.perf_counter() - started, 2)},
              "grid_png": str(grid), "layers": reports}
    commit_output_set(cfg.out / "ranges.json", result, [grid] + [report["png"] for report in reports])
    _print_summary(reports)
    print(f"wrote {cfg.out / 'ranges.json'}, {grid} and {len(reports)} per-layer PNGs in {cfg.out}")
    return result


def main(argv=None) -> int:
    parser = CliParser(prog="python -m calib.plot", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=None, help="FP32 checkpoint (default: the embedded fixture)")
    parser.add_argument("--cfg", default=None, help="model yaml or name for a plain state_dict checkpoint")
    parser.add_argument("--data", default=None, help="calibration images (default: the synthetic calibration split)")
    parser.add_argument("--num-images", type=positive_int, default=None,
                        help="calibration images (default 256 on the synthetic split, else 1500)")
    parser.add_argument("--batch-size", "--batch", dest="batch_size", type=positive_int, default=16,
                        help="images per forward pass (keep it as in calibration: bins are sized on the first batch)")
    parser.add_argument("--imgsz", type=image_size, default=None,
                        help="letterbox size (default: the size the checkpoint was trained at where it records one, "
                             "else 640)")
    parser.add_argument("--device", type=torch_device, default="cpu", help="cpu, cuda or cuda:<index>")
    parser.add_argument("--seed", type=int, default=0, help="seed of the calibration image sample")
    parser.add_argument("--threads", type=thread_count, default=None, help="torch CPU threads")
    parser.add_argument("--layers", nargs="+", default=[], metavar="MODULE",
                        help="modules to draw, e.g. model.2.cv1.conv (default: --num-layers representative ones)")
    parser.add_argument("--num-layers", type=positive_int, default=3, help="representative layers (default 3)")
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_VARIANTS), help=f"of {list(VARIANTS)}")
    parser.add_argument("--a-bits", nargs="+", type=positive_int, default=[8, 4], help="activation bit widths")
    parser.add_argument("--percentile", type=finite_float, default=99.99, help="for the percentile method")
    parser.add_argument("--out", default=None, help="output folder (default runs/ranges/<model>)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    quant = make_config(QuantConfig, percentile=args.percentile)
    calibration = make_config(CalibConfig, quant=quant, weights=args.weights, cfg=args.cfg, data=args.data,
                              num_images=args.num_images, batch_size=args.batch_size, imgsz=args.imgsz,
                              device=args.device, seed=args.seed, threads=args.threads, progress=not args.no_progress)
    cfg = make_config(RangePlotConfig, calibration=calibration, layers=args.layers, num_layers=args.num_layers,
                      variants=args.methods, a_bits=args.a_bits, out=args.out)
    plot_ranges(cfg)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))

