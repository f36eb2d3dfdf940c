"""python -m sweep.run: the paper's Table 1 (calibration methods x bit widths, six COCO AP columns) + FP32.

Every row is a real pipeline run through the stages' public functions: `calib.calibrate_bit_widths` writes one
calibrated artifact per bit width from ONE pass over the calibration images per method (the statistics do not
depend on the bit width), and `eval.evaluate` scores each artifact with the torch fake-quant backend.

Rows (grid = activation grid; weights are per-output-channel symmetric absmax in every row, as in the paper; the
model family's default float layers stay in float: the stem conv and its head's output convs, e.g. YOLOv5's Detect
or YOLOv7's IDetect ones; table.md names them):
    minmax       symmetric (int8-style, zero point 0): NVIDIA pytorch-quantization's MaxCalibrator, the toolkit
                 the paper's MinMax/Percentile baselines come from
    percentile   99.99th percentile of |x|, symmetric (NVIDIA HistogramCalibrator)
    mse, entropy NVIDIA HistogramCalibrator semantics on |x|, symmetric
    uh-asym      Q-YOLO's Unilateral Histogram, asymmetric grid, as published
    uh-sym       UH with a symmetric grid (zero point 0) for TensorRT
    minmax-asym  running min/max on the asymmetric grid: an extra row that separates "asymmetric grid" from
                 "UH's range search" in uh-asym's advantage
Outputs under --out (default runs/table): table.json (one record per row: method, scheme, w_bits, a_bits and the
six AP keys as pycocotools fractions), table.md, ap_vs_bits.png (AP against bit width, a line per row), run.json
(settings, timings, the Done checks), artifacts/, metrics/, and ranges/: `calib.plot`'s histograms with every
method's clipping range for three representative layers (one more pass over the calibration images; --no-ranges
skips it).
"""
import argparse
import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from calib.layer_ranges import VARIANTS
from common.atomic import check_output_dir, write_json_atomic, write_text_atomic
from common.cli import (
    CliParser,
    image_size,
    make_config,
    positive_int,
    run_cli,
    thread_count_or_zero,
    torch_device,
)
from common.errors import QYoloError
from common.log import get_logger
from eval.coco_eval import METRIC_KEYS
from sweep.plot import PNG_NAME, plot_ap_vs_bits

METHODS: dict[str, tuple[str, str]] = VARIANTS  # row label -> (calibration method, activation grid)
DEFAULT_METHODS = ("minmax", "percentile", "mse", "entropy", "uh-asym", "uh-sym", "minmax-asym")
DEFAULT_BITS = ((8, 8), (6, 6), (4, 4))
LABEL_KEYS = ("bits", "method", "grid")


def parse_bits(text: str) -> tuple[int, int]:
    """'8-8' / 'w4a8' / '4' -> (w_bits, a_bits)."""
    cleaned = text.lower().replace("w", "").replace("a", "-")
    parts = [p for p in cleaned.split("-") if p]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or not all(2 <= v <= 8 for v in values):
        raise QYoloError(f"bit widths {text!r}: give W-A with each in 2..8, e.g. 8-8, 6-6, 4-4 or w4a8")
    return values[0], values[1]


@dataclass
class TableConfig:
    weights: str | Path | None = None  # None: the fixture
    data: str | Path | None = None  # validation set; None: the synthetic val split
    calib_data: str | Path | None = None  # calibration images; None: the synthetic calib split
    num_images: int | None = None  # calibration images; None: 256 on the synthetic split, else 1500
    imgsz: int | None = None  # None: the checkpoint's training size where recorded, else 640
    device: str = "cpu"
    batch: int = 16
    threads: int | None = 1
    methods: Sequence[str] = DEFAULT_METHODS
    bits: Sequence[tuple[int, int]] = DEFAULT_BITS
    out: str | Path = "runs/table"
    max_images: int | None = None  # evaluate on the first N validation images only (quick looks, tests)
    seed: int = 0
    progress: bool = True
    ranges: bool = True  # also draw calib.plot's per-layer clipping ranges into out/ranges
    quantize_matmul: bool = False  # every row also quantizes the inputs of attention MatMuls (YOLO11's C2PSA)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise ValueError(f"unknown table method(s) {unknown}; choose from {list(METHODS)}")
        if not self.methods:
            raise ValueError("give at least one method")
        self.bits = [tuple(b) for b in self.bits]
        if not self.bits:
            raise ValueError("give at least one bit width")
        if self.max_images is not None and self.max_images < 1:
            raise ValueError(f"max_images must be >= 1, got {self.max_images}")
        self.out = Path(self.out)
        if self.out.exists() and not self.out.is_dir():
            raise ValueError(f"out {self.out} is an existing file; give a folder for the table's files")
        from calib import CalibConfig, QuantConfig

        for method, scheme in {METHODS[m] for m in self.methods}:  # every bad setting before any work
            for w_bits, a_bits in self.bits:
                CalibConfig(quant=QuantConfig(method=method, scheme=scheme, w_bits=w_bits, a_bits=a_bits,
                                              quantize_matmul=self.quantize_matmul),
                            weights=self.weights, data=self.calib_data, num_images=self.num_images, imgsz=self.imgsz,
                            device=self.device, batch_size=self.batch, threads=self.threads, seed=self.seed)


def _record(label: str, method: str, scheme: str, w_bits: int, a_bits: int, metrics: dict, **extra) -> dict:
    return {"row": label, "method": method, "scheme": scheme, "w_bits": w_bits, "a_bits": a_bits,
            **{key: float(metrics[key]) for key in METRIC_KEYS}, **extra}


def _display(record: dict) -> dict:
    fp32 = record["method"] == "fp32"
    return {"bits": "32-32" if fp32 else f"{record['w_bits']}-{record['a_bits']}",
            "method": "FP32" if fp32 else record["row"], "grid": "float" if fp32 else record["scheme"],
            **{key: record[key] for key in METRIC_KEYS}}


def ordered(records: list[dict], methods: Sequence[str], bits: Sequence[tuple[int, int]]) -> list[dict]:
    """FP32 first, then the paper's layout: bit widths in the order given, methods in the order given."""
    rank = {(label, tuple(b)): (bi, mi) for bi, b in enumerate(bits) for mi, label in enumerate(methods)}
    fp32 = [r for r in records if r["method"] == "fp32"]
    rest = sorted((r for r in records if r["method"] != "fp32"),
                  key=lambda r: rank.get((r["row"], (r["w_bits"], r["a_bits"])), (99, 99)))
    return fp32 + rest


def done_checks(records: list[dict]) -> list[dict]:
    """The claims the README makes about Table 1, evaluated on the rows present (a claim whose rows are missing is
    left out)."""
    by = {(r["row"], r["w_bits"], r["a_bits"]): r["AP"] for r in records if r["method"] != "fp32"}
    fp32 = next((r["AP"] for r in records if r["method"] == "fp32"), None)
    checks = []
    uh8 = by.get(("uh-asym", 8, 8))
    if fp32 is not None and uh8 is not None:
        loss = 100 * (fp32 - uh8)
        checks.append({"claim": "W8A8 uh-asym loses at most 0.5 AP against FP32", "passed": loss <= 0.5 + 1e-9,
                       "detail": f"FP32 {100 * fp32:.1f}, uh-asym {100 * uh8:.1f}: loss {loss:.2f} AP"})
    uh4 = by.get(("uh-asym", 4, 4))
    rivals = {m: by.get((m, 4, 4)) for m in ("percentile", "minmax", "minmax-asym")}
    present = {m: ap for m, ap in rivals.items() if ap is not None and m != "minmax-asym"}
    if uh4 is not None and present:
        checks.append({"claim": "W4A4 uh-asym beats " + " and ".join(present), "passed": all(uh4 > ap for ap in
                                                                                               present.values()),
                       "detail": ", ".join([f"uh-asym {100 * uh4:.1f}"] + [f"{m} {100 * ap:.1f}" for m, ap in
                                                                           rivals.items() if ap is not None])})
    for w, a in ((6, 6), (4, 4)):
        asym, sym = by.get(("uh-asym", w, a)), by.get(("uh-sym", w, a))
        if asym is not None and sym is not None:
            checks.append({"claim": f"W{w}A{a} uh-asym beats uh-sym", "passed": asym > sym,
                           "detail": f"asym {100 * asym:.1f}, sym {100 * sym:.1f}"})
    return checks


def _shown(path: str) -> str:
    """A path relative to the working directory when it lies under it (reads better in tables)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _markdown(records: list[dict], checks: list[dict], settings: dict) -> str:
    from eval.report import format_markdown

    lines = ["# Table 1 layout: calibration methods x bit widths (fake quantization in PyTorch)", "",
             f"Model `{settings['weights']}`, validation `{settings['data']}` ({settings['num_val_images']} images), "
             f"{settings['num_images']} calibration images from `{settings['calib_data']}`, imgsz {settings['imgsz']}. "
             "AP in percent (COCO AP@[.5:.95] and friends from pycocotools).", "",
             "Grid = activation grid. Weights: symmetric per-output-channel absmax in every row. In float: "
             f"{settings['float_layers']}"
             f"{'; attention MatMul inputs quantized' if settings.get('quantize_matmul') else ''}. "
             "minmax/percentile/mse/entropy are symmetric, as NVIDIA's "
             "pytorch-quantization (the toolkit of the paper's baselines) runs them; minmax-asym is an extra row.",
             "", format_markdown([_display(r) for r in records], LABEL_KEYS).rstrip(), ""]
    if checks:
        lines += ["## Checks", ""] + [f"- {'PASS' if c['passed'] else 'FAIL'}: {c['claim']} ({c['detail']})"
                                      for c in checks] + [""]
    return "\n".join(lines)


def float_layers(weights: str | Path) -> str:
    """The layers every row keeps in float, as the weights' model family names them."""
    from yolo.checkpoint import load_model
    from yolo.family import family_of_model

    model = load_model(weights)
    family = family_of_model(model)
    return f"{family.float_layers(model)} ({family.name} family)"


def run_table(cfg: TableConfig) -> list[dict]:
    """Evaluate FP32 and every (method, bits) row; write table.json / table.md / run.json; return the records."""
    from calib import CalibConfig, QuantConfig, calibrate_bit_widths
    from eval import EvalConfig, evaluate
    from eval.report import format_table

    log = get_logger()
    started = time.perf_counter()
    probe = CalibConfig(weights=cfg.weights, data=cfg.calib_data, num_images=cfg.num_images, imgsz=cfg.imgsz,
                        device=cfg.device, batch_size=cfg.batch, threads=cfg.threads, seed=cfg.seed)
    calib_data = cfg.calib_data
    if calib_data is None:
        from yolo.fixture import fixture_calib_images
        calib_data = fixture_calib_images(progress=cfg.progress)
    data = cfg.data
    if data is None:
        from yolo.fixture import fixture_val_data
        data = fixture_val_data(progress=cfg.progress)
    options = {"threads": cfg.threads} if cfg.threads else {}

    def score(model: Path, name: str) -> dict:
        return evaluate(EvalConfig(model=model, data=data, imgsz=probe.imgsz, batch=cfg.batch, device=cfg.device,
                                   max_images=cfg.max_images, out=cfg.out / "metrics" / f"{name}.json",
                                   backend_options=options, progress=cfg.progress))

    total_rows = 1 + len(cfg.methods) * len(cfg.bits)
    records, timings = [], {}
    t0 = time.perf_counter()
    metrics = score(probe.weights, "fp32")
    records.append(_record("fp32", "fp32", "float", 32, 32, metrics, metrics_path=str(cfg.out / "metrics/fp32.json")))
    timings["fp32_eval_s"] = round(time.perf_counter() - t0, 2)
    num_val_images = metrics.get("num_images")
    log.info(f"table row 1/{total_rows}: FP32 AP {100 * metrics['AP']:.1f}")
    for label in cfg.methods:
        method, scheme = METHODS[label]
        t0 = time.perf_counter()
        calib_cfg = CalibConfig(quant=QuantConfig(method=method, scheme=scheme, quantize_matmul=cfg.quantize_matmul),
                                weights=probe.weights,
                                data=calib_data, num_images=probe.num_images, imgsz=probe.imgsz, device=cfg.device,
                                batch_size=cfg.batch, threads=cfg.threads, seed=cfg.seed, progress=cfg.progress)
        artifacts = calibrate_bit_widths(calib_cfg, cfg.bits, out_dir=cfg.out / "artifacts")
        timings[f"{label}_calibrate_s"] = round(time.perf_counter() - t0, 2)
        for (w_bits, a_bits), artifact in zip(cfg.bits, artifacts):
            t0 = time.perf_counter()
            name = f"{label}-w{w_bits}a{a_bits}"
            metrics = score(artifact, name)
            timings[f"{name}_eval_s"] = round(time.perf_counter() - t0, 2)
            records.append(_record(label, method, scheme, w_bits, a_bits, metrics, artifact=str(artifact),
                                   metrics_path=str(cfg.out / "metrics" / f"{name}.json")))
            log.info(f"table row {len(records)}/{total_rows}: {label} W{w_bits}A{a_bits} AP {100 * metrics['AP']:.1f}")
            write_json_atomic(cfg.out / "table.json", ordered(records, cfg.methods, cfg.bits))  # partial results
    records = ordered(records, cfg.methods, cfg.bits)
    checks = done_checks(records)
    plot_ap_vs_bits(records, cfg.out / PNG_NAME, title=f"{Path(probe.weights).name} at {probe.imgsz} px, "
                    f"{num_val_images} validation images: AP against bit width")
    if cfg.ranges:
        t0 = time.perf_counter()
        from calib.plot import DEFAULT_VARIANTS, RangePlotConfig, plot_ranges

        a_bits = tuple(sorted({a for _, a in cfg.bits}, reverse=True))
        variants = [m for m in cfg.methods if m in DEFAULT_VARIANTS] or cfg.methods  # the paper's five if present
        plot_ranges(RangePlotConfig(calibration=dataclasses.replace(probe, data=calib_data, progress=cfg.progress),
                                    variants=variants, a_bits=a_bits, out=cfg.out / "ranges"))
        timings["ranges_s"] = round(time.perf_counter() - t0, 2)
    timings["total_s"] = round(time.perf_counter() - started, 2)
    settings = {"weights": _shown(probe.weights), "data": _shown(data), "calib_data": _shown(calib_data),
                "float_layers": float_layers(probe.weights), "quantize_matmul": cfg.quantize_matmul,
                "num_images": probe.num_images, "imgsz": probe.imgsz,
                "device": cfg.device, "batch": cfg.batch,
                "threads": cfg.threads, "seed": cfg.seed, "methods": list(cfg.methods),
                "bits": [list(b) for b in cfg.bits], "max_images": cfg.max_images, "num_val_images": num_val_images,
                "rows": {label: dict(zip(("method", "scheme"), METHODS[label])) for label in cfg.methods}}
    write_json_atomic(cfg.out / "table.json", records)
    write_text_atomic(cfg.out / "table.md", _markdown(records, checks, settings))
    write_json_atomic(cfg.out / "run.json", {"settings": settings, "checks": checks, "timings": timings,
                                             "command": " ".join(sys.argv), **cfg.extra})
    print(format_table([_display(r) for r in records], LABEL_KEYS))
    print(f"in float in every row: {settings['float_layers']}"
          f"{' (attention MatMul inputs quantized)' if cfg.quantize_matmul else ''}")
    for check in checks:
        print(f"{'PASS' if check['passed'] else 'FAIL'}: {check['claim']} ({check['detail']})")
    print(f"{len(records)} rows in {timings['total_s']:.0f} s; wrote {cfg.out / 'table.json'}, "
          f"{cfg.out / 'table.md'}, {cfg.out / PNG_NAME}")
    return records


def main(argv=None) -> int:
    parser = CliParser(prog="python -m sweep.run", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=None, help="FP32 checkpoint (default: the embedded fixture)")
    parser.add_argument("--data", default=None, help="validation set (default: the synthetic val split)")
    parser.add_argument("--calib-data", default=None, help="calibration images (default: the synthetic calib split)")
    parser.add_argument("--num-images", type=positive_int, default=None,
                        help="calibration images (256 synthetic, else 1500)")
    parser.add_argument("--imgsz", type=image_size, default=None,
                        help="default: the size the checkpoint was trained at where it records one, else 640")
    parser.add_argument("--device", type=torch_device, default="cpu", help="cpu, cuda or cuda:<index>")
    parser.add_argument("--batch", type=positive_int, default=16, help="calibration and evaluation batch size")
    parser.add_argument("--threads", type=thread_count_or_zero, default=1,
                        help="torch CPU threads (default 1: predictable on shared 2-core machines; 0 = torch's)")
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), help=f"rows, of {list(METHODS)}")
    parser.add_argument("--bits", nargs="+", default=["8-8", "6-6", "4-4"], help="W-A bit widths, e.g. 8-8 4-4")
    parser.add_argument("--max-images", type=positive_int, default=None, help="evaluate on the first N val images only")
    parser.add_argument("--seed", type=int, default=0, help="seed of the calibration image sample")
    parser.add_argument("--out", default="runs/table")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--no-ranges", action="store_true",
                        help="skip the per-layer clipping-range figures (out/ranges, one extra calibration pass)")
    parser.add_argument("--quantize-matmul", action="store_true",
                        help="every row also quantizes the inputs of attention MatMuls (YOLO11's C2PSA)")
    args = parser.parse_args(argv)
    cfg = make_config(TableConfig, weights=args.weights, data=args.data, calib_data=args.calib_data,
                      num_images=args.num_images, imgsz=args.imgsz, device=args.device, batch=args.batch,
                      threads=args.threads or None, methods=args.methods, bits=[parse_bits(b) for b in args.bits],
                      out=args.out, max_images=args.max_images, seed=args.seed, progress=not args.no_progress,
                      ranges=not args.no_ranges, quantize_matmul=args.quantize_matmul)
    check_output_dir(cfg.out)
    run_table(cfg)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
