"""run_sweep: the paper's Table 1 (calibration methods x bit widths, six COCO AP columns) + FP32, for any checkpoint.

Every row is a real pipeline run through the stages' public functions: `calib.calibrate_bit_widths` writes one
calibrated artifact per bit width from ONE pass over the calibration images per method (the statistics do not
depend on the bit width), and `eval.evaluate` scores each artifact with the torch fake-quant backend.

The work is a list of units, each a function of the (resolved) config alone, and a merge:
- "fp32": the FP32 model's AP row;
- one unit per method row label: its calibration pass, then one artifact and one AP row per bit width;
- "ranges" (unless ranges=False): `calib.plot`'s histograms with every method's clipping range for three layers.
`run_unit(config, unit)` returns the unit's rows and timings and writes only its own files (artifacts/, metrics/,
ranges/); `merge` orders the rows, checks the paper's claims and sums the timings. The driver runs the units in
order and rewrites table.json after each one (partial results survive an interrupted run).

Rows (grid = activation grid; weights are per-output-channel symmetric absmax in every row, as in the paper; the
model family's default float layers stay in float: the stem conv and its head's output convs; table.md names them):
    minmax       symmetric (int8-style, zero point 0): NVIDIA pytorch-quantization's MaxCalibrator, the toolkit
                 the paper's MinMax/Percentile baselines come from
    percentile   99.99th percentile of |x|, symmetric (NVIDIA HistogramCalibrator)
    mse, entropy NVIDIA HistogramCalibrator semantics on |x|, symmetric
    uh-asym      Q-YOLO's Unilateral Histogram, asymmetric grid, as published
    uh-sym       UH with a symmetric grid (zero point 0) for TensorRT
    minmax-asym  running min/max on the asymmetric grid: an extra row that separates "asymmetric grid" from
                 "UH's range search" in uh-asym's advantage
Outputs under config.out: table.json (one record per row: method, scheme, w_bits, a_bits and the six AP keys as
pycocotools fractions), table.md, ap_vs_bits.png, run.json (settings, timings, the checks; written last, naming
the files of the run), artifacts/, metrics/, ranges/.
"""
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from common.atomic import write_json_atomic, write_text_atomic
from common.log import get_logger
from common.output_set import begin_output_set, commit_output_set
from common.provenance import run_provenance
from common.timing import StepTimes
from sweep.config import METHODS, SweepConfig
from sweep.plot import PNG_NAME, plot_ap_vs_bits
from sweep.report import done_checks, ordered, record, render_markdown, render_terminal, shown_path

FP32_UNIT = "fp32"
RANGES_UNIT = "ranges"


@dataclass
class UnitResult:
    """What one unit of the sweep produced: its table rows and how long its steps took."""

    unit: str
    records: list[dict] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    num_val_images: int | None = None


def resolved(cfg: SweepConfig) -> SweepConfig:
    """The config with every default made explicit (weights, data, image size, calibration images), so that each
    unit is a function of the config alone; the synthetic data is generated here, once, on first use."""
    probe = cfg.calib_config_for(cfg.quant(cfg.methods[0], cfg.bits[0]))
    return dataclasses.replace(cfg, weights=Path(probe.weights), val_data=cfg.checked_val_data(),
                               calib_data=cfg.checked_calib_data(), imgsz=probe.imgsz, num_images=probe.num_images)


def sweep_units(cfg: SweepConfig) -> list[str]:
    return [FP32_UNIT, *cfg.methods, *([RANGES_UNIT] if cfg.ranges else [])]


def _score(cfg: SweepConfig, model: Path, name: str) -> dict:
    from eval import EvalConfig, evaluate

    options = {"threads": cfg.threads} if cfg.threads else {}
    return evaluate(EvalConfig(model=model, data=cfg.val_data, imgsz=cfg.imgsz, batch=cfg.batch, device=cfg.device,
                               max_images=cfg.ap_images, out=cfg.out / "metrics" / f"{name}.json",
                               backend_options=options, progress=cfg.progress))


def _fp32_unit(cfg: SweepConfig) -> UnitResult:
    times = StepTimes()
    with times.step("fp32_eval_s"):
        metrics = _score(cfg, Path(cfg.weights), "fp32")
    row = record("fp32", "fp32", "float", 32, 32, metrics, metrics_path=str(cfg.out / "metrics/fp32.json"))
    return UnitResult(FP32_UNIT, [row], times.seconds, metrics.get("num_images"))


def _method_unit(cfg: SweepConfig, label: str) -> UnitResult:
    from calib import calibrate_bit_widths

    times = StepTimes()
    method, scheme = METHODS[label]
    with times.step(f"{label}_calibrate_s"):
        artifacts = calibrate_bit_widths(cfg.calib_config_for(cfg.quant(label, cfg.bits[0])), cfg.bits,
                                         out_dir=cfg.out / "artifacts")
    rows = []
    for (w_bits, a_bits), artifact in zip(cfg.bits, artifacts):
        name = f"{label}-w{w_bits}a{a_bits}"
        with times.step(f"{name}_eval_s"):
            metrics = _score(cfg, artifact, name)
        rows.append(record(label, method, scheme, w_bits, a_bits, metrics, artifact=str(artifact),
                           metrics_path=str(cfg.out / "metrics" / f"{name}.json")))
        get_logger().info(f"sweep: {label} W{w_bits}A{a_bits} AP {100 * metrics['AP']:.1f}")
    return UnitResult(label, rows, times.seconds)


def _ranges_unit(cfg: SweepConfig) -> UnitResult:
    from calib.plot import DEFAULT_VARIANTS, RangePlotConfig, plot_ranges

    times = StepTimes()
    a_bits = tuple(sorted({a for _, a in cfg.bits}, reverse=True))
    variants = [m for m in cfg.methods if m in DEFAULT_VARIANTS] or list(cfg.methods)  # the paper's five if present
    with times.step("ranges_s"):
        plot_ranges(RangePlotConfig(calibration=cfg.calib_config_for(cfg.quant(cfg.methods[0], cfg.bits[0])),
                                    variants=variants, a_bits=a_bits, out=cfg.out / "ranges"))
    return UnitResult(RANGES_UNIT, [], times.seconds)


def run_unit(cfg: SweepConfig, unit: str) -> UnitResult:
    """One unit of a resolved config: "fp32", a method row label, or "ranges"."""
    if unit == FP32_UNIT:
        return _fp32_unit(cfg)
    if unit == RANGES_UNIT:
        return _ranges_unit(cfg)
    return _method_unit(cfg, unit)


def merge(cfg: SweepConfig, results: list[UnitResult]) -> tuple[list[dict], dict[str, float], int | None]:
    """(rows in the paper's order, every unit's timings, the number of validation images scored)."""
    rows = ordered([row for result in results for row in result.records], cfg.methods, cfg.bits)
    timings = {name: round(value, 2) for result in results for name, value in result.seconds.items()}
    num_val = next((r.num_val_images for r in results if r.num_val_images is not None), None)
    return rows, timings, num_val


def float_layers(weights: str | Path) -> str:
    """The layers every row keeps in float, as the weights' model family names them."""
    from yolo.checkpoint import load_model
    from yolo.registry import family_of_model

    model = load_model(weights)
    family = family_of_model(model)
    return f"{family.float_layers(model)} ({family.name} family)"


def _settings(cfg: SweepConfig, num_val_images: int | None) -> dict:
    return {"weights": shown_path(cfg.weights), "val_data": shown_path(cfg.val_data),
            "calib_data": shown_path(cfg.calib_data), "float_layers": float_layers(cfg.weights),
            "quantize_matmul": cfg.quantize_matmul, "num_images": cfg.num_images, "imgsz": cfg.imgsz,
            "device": cfg.device, "batch": cfg.batch, "threads": cfg.threads, "seed": cfg.seed,
            "methods": list(cfg.methods), "bits": [list(b) for b in cfg.bits], "ap_images": cfg.ap_images,
            "num_val_images": num_val_images,
            "rows": {label: dict(zip(("method", "scheme"), METHODS[label])) for label in cfg.methods}}


def run_sweep(cfg: SweepConfig) -> list[dict]:
    """Run every unit, merge, write table.json / table.md / ap_vs_bits.png / run.json; return the rows."""
    times = StepTimes()
    cfg = resolved(cfg)
    run_record = cfg.out / "run.json"
    begin_output_set(run_record)
    results = []
    for unit in sweep_units(cfg):
        results.append(run_unit(cfg, unit))
        rows, _, _ = merge(cfg, results)
        if rows:
            write_json_atomic(cfg.out / "table.json", rows)  # partial results
    rows, timings, num_val_images = merge(cfg, results)
    checks = done_checks(rows)
    settings = _settings(cfg, num_val_images)
    png = plot_ap_vs_bits(rows, cfg.out / PNG_NAME, title=f"{cfg.weights.name} at {cfg.imgsz} px, "
                          f"{num_val_images} validation images: AP against bit width")
    table_json = write_json_atomic(cfg.out / "table.json", rows)
    table_md = write_text_atomic(cfg.out / "table.md", render_markdown(rows, checks, settings))
    timings["total_s"] = round(times.total(), 2)
    commit_output_set(run_record, {"settings": settings, "checks": checks, "timings": timings,
                                   "provenance": run_provenance()}, [table_json, table_md, png])
    print(render_terminal(rows, checks, settings))
    print(f"{len(rows)} rows in {timings['total_s']:.0f} s; wrote {table_json}, {table_md}, {png}")
    return rows
