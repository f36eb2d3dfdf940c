"""The benchmark's reports. `python -m bench report` (the end of `make bench`): one AP table (the six COCO columns)
and one latency table over every backend the machine ran (TensorRT engines, ONNX Runtime, OpenVINO), written as
markdown, JSON and a PNG. A CPU latency run (`python -m bench cpu`) prints and plots its own records with
`latency_table` / `plot_latency`, and writes them with `write_latency_json`.

Inputs are files, so the stages stay decoupled:
- metrics JSON from `python -m eval --out` (one per backend x model: AP, AP50, AP75, APs, APm, APl as pycocotools
  fractions, -1 for a size bucket without ground truth, plus backend, model, precision and quantization); the
  report shows them in percent, as the paper does;
- latency JSON from `python -m bench cpu` and `python -m bench trt` (TensorRT): {"meta", "records"} with
  backend, variant, precision, quantization, imgsz, batch, median_ms, p90_ms, p99_ms and, for TensorRT,
  trtexec_median_ms, device and tensorrt_version.
What a model is (bits, method, scheme) comes from `quantization`, which the backends read from the graph's
metadata, the engine's sidecar or the artifact; file names are only labels.
"""
import argparse
import json
from pathlib import Path
from typing import Sequence

from common.atomic import check_output_dir, save_png_atomic, write_json_atomic, write_text_atomic
from common.errors import QYoloError
from common.input_file import read_text
from common.log import get_logger
from common.output_set import check_output_set
from common.provenance import cpu_name, run_provenance
from eval.coco_eval import METRIC_KEYS

BACKEND_ORDER = ("tensorrt", "ort", "openvino", "torch")
BACKEND_NAMES = {"tensorrt": "TensorRT", "ort": "ONNX Runtime", "openvino": "OpenVINO", "torch": "PyTorch"}


def describe_model(name: str, precision: str, quantization: dict) -> dict:
    """Table columns for a model: its label, a precision label from its quantization settings, bits, method."""
    if not quantization:
        return {"model": name, "precision": str(precision).upper(), "w_bits": None, "a_bits": None,
                "method": None, "scheme": None}
    w, a = quantization["w_bits"], quantization["a_bits"]
    label = "INT8" if (w, a) == (8, 8) else f"INT{min(w, a)}-emulated"
    return {"model": name, "precision": f"{label} W{w}A{a}", "w_bits": w, "a_bits": a,
            "method": quantization["method"], "scheme": quantization["scheme"]}


def _percent(fraction) -> float | None:
    """pycocotools fraction -> percent; its -1 ("no ground truth of this size") -> None."""
    value = float(fraction)
    return None if value < 0 else 100.0 * value


def _read_json(path: Path, what: str) -> dict | list:
    if not path.is_file():
        raise QYoloError(f"{what} file {path} does not exist; run `make bench` (it evaluates and times each model)")
    try:
        data = json.loads(read_text(path, f"{what} file"))
    except json.JSONDecodeError as exc:
        raise QYoloError(f"{what} file {path} is not valid JSON ({exc}); delete it and rerun `make bench`") from None
    for problem in check_output_set(path, data) if isinstance(data, dict) else []:
        get_logger().warning(problem)
    return data


def load_metrics(paths: Sequence[str | Path]) -> list[dict]:
    rows = []
    for path in map(Path, paths):
        data = _read_json(path, "metrics")
        missing = [key for key in (*METRIC_KEYS, "backend", "model", "precision", "quantization") if key not in data]
        if missing:
            raise QYoloError(f"{path} lacks {', '.join(missing)}; is it `python -m eval --out` output? (rerun it)")
        described = describe_model(Path(data["model"]).stem, data["precision"], data["quantization"])
        fidelity = data.get("fidelity") if isinstance(data.get("fidelity"), dict) else {}
        rows.append({"backend": data["backend"], **described, **{key: _percent(data[key]) for key in METRIC_KEYS},
                     "fidelity": fidelity.get("verdict"), "fidelity_reasons": fidelity.get("reasons", [])})
    return _sorted(rows)


def load_latency(paths: Sequence[str | Path]) -> list[dict]:
    rows = []
    for path in map(Path, paths):
        data = _read_json(path, "latency")
        if not isinstance(data, dict) or "records" not in data:
            raise QYoloError(f"{path} has no 'records'; is it `python -m bench cpu` or `python -m bench trt` "
                             f"output? (rerun it)")
        for record in data["records"]:
            batch = int(record["batch"])
            rows.append({
                "backend": record["backend"],
                **describe_model(record["variant"], record["precision"], record["quantization"]),
                "batch": batch, "imgsz": record["imgsz"], "median_ms": float(record["median_ms"]),
                "p90_ms": record["p90_ms"], "p99_ms": record["p99_ms"], "throughput_ips": record["throughput_ips"],
                "trtexec_median_ms": record.get("trtexec_median_ms"), "threads": record.get("threads"),
                "device": record.get("device"), "tensorrt_version": record.get("tensorrt_version"),
                "cuda_graph": record.get("cuda_graph"),
            })
    return _sorted(rows)


def _sorted(rows: list[dict]) -> list[dict]:
    def key(row):
        backend = BACKEND_ORDER.index(row["backend"]) if row["backend"] in BACKEND_ORDER else len(BACKEND_ORDER)
        bits = -(row["w_bits"] or 99)  # float first, then 8-bit, then fewer bits
        return backend, bits, row["model"], row.get("batch", 0)
    return sorted(rows, key=key)


def _add_deltas(accuracy: list[dict]) -> None:
    """ΔAP against the same backend's float row (FP32 on CPU backends, FP16 on TensorRT)."""
    for row in accuracy:
        base = next((r for r in accuracy if r["backend"] == row["backend"] and r["w_bits"] is None), None)
        missing = base is None or base is row or row["AP"] is None or base["AP"] is None
        row["dAP"] = None if missing else row["AP"] - base["AP"]


def build_report(accuracy: list[dict], latency: list[dict]) -> dict:
    _add_deltas(accuracy)
    trt_rows = [row for row in latency if row["backend"] == "tensorrt"]
    cpu_rows = [row for row in latency if row["backend"] != "tensorrt"]
    meta = {
        "gpu": next((row["device"] for row in trt_rows if row["device"]), None),
        "tensorrt_version": next((row["tensorrt_version"] for row in trt_rows if row["tensorrt_version"]), None),
        "tensorrt_batches": sorted({row["batch"] for row in trt_rows}),
        "cpu": cpu_name() if cpu_rows else None,
        "cpu_threads": sorted({row["threads"] for row in cpu_rows if row["threads"] is not None}),
        "cpu_batches": sorted({row["batch"] for row in cpu_rows}),
        "backends": sorted({row["backend"] for row in accuracy + latency}),
        "provenance": run_provenance(),
    }
    return {"meta": meta, "accuracy": accuracy, "latency": latency}


def _fmt(value, digits: int = 1, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def render_markdown(report: dict) -> str:
    meta = report["meta"]
    lines = ["# Benchmark: accuracy and latency", ""]
    if meta["gpu"]:
        lines.append(f"- GPU: {meta['gpu']}, TensorRT {meta['tensorrt_version']}, batch sizes "
                     f"{', '.join(map(str, meta['tensorrt_batches']))}")
    if meta["cpu"]:
        threads = ", ".join(map(str, meta["cpu_threads"])) or "default"
        lines.append(f"- CPU: {meta['cpu']}, threads {threads}, batch {', '.join(map(str, meta['cpu_batches']))}")
    lines += ["", "## Accuracy (COCO AP, %)", "",
              "| Backend | Model | Precision | " + " | ".join(METRIC_KEYS) + " | ΔAP vs float | Fidelity |",
              "|---|---|---|" + "---:|" * (len(METRIC_KEYS) + 1) + "---|"]
    failed = []
    for row in report["accuracy"]:
        cells = [BACKEND_NAMES.get(row["backend"], row["backend"]), row["model"], row["precision"]]
        verdict = row.get("fidelity")
        shown = f"**{verdict.upper()}**" if verdict == "fail" else verdict or "–"
        cells += [_fmt(row[key]) for key in METRIC_KEYS] + [_fmt(row["dAP"], signed=True), shown]
        lines.append("| " + " | ".join(cells) + " |")
        if verdict in ("fail", "warn"):
            reasons = "; ".join(row.get("fidelity_reasons", []))
            failed.append(f"- {verdict.upper()}: {cells[0]} {row['model']}: {reasons}")
    if failed:
        lines += ["", "Fidelity (deployed model vs its calibrated artifact, python -m eval.fidelity): a FAIL row's AP "
                      "is the runtime's error, not the quantization's.", *failed]
    lines += ["", "## Latency (per batch; GPU: CUDA events, no host copies; CPU: wall clock)", "",
              "| Backend | Model | Precision | Batch | Input | median ms | p90 ms | p99 ms | img/s "
              "| trtexec median ms |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in report["latency"]:
        cells = [BACKEND_NAMES.get(row["backend"], row["backend"]), row["model"], row["precision"],
                 str(row["batch"]), str(row["imgsz"] or "–"), _fmt(row["median_ms"], 3), _fmt(row["p90_ms"], 3),
                 _fmt(row["p99_ms"], 3), _fmt(row["throughput_ips"], 0), _fmt(row["trtexec_median_ms"], 3)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render_png(report: dict, path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_ap, ax_lat) = plt.subplots(1, 2, figsize=(14, 5.5))
    acc = report["accuracy"]
    labels = [f"{BACKEND_NAMES.get(r['backend'], r['backend'])}\n{r['precision']}" for r in acc]
    ax_ap.bar(range(len(acc)), [r["AP"] or 0.0 for r in acc], color="#4c72b0")
    ax_ap.set_xticks(range(len(acc)), labels, rotation=60, ha="right", fontsize=7)
    ax_ap.set_ylabel("AP (%)")
    ax_ap.set_title("Accuracy")
    lat = report["latency"]
    lat_labels = [f"{BACKEND_NAMES.get(r['backend'], r['backend'])}\n{r['precision']} b{r['batch']}" for r in lat]
    ax_lat.bar(range(len(lat)), [r["median_ms"] for r in lat], color="#dd8452", label="ours (median)")
    trtexec = [(i, r["trtexec_median_ms"]) for i, r in enumerate(lat) if r["trtexec_median_ms"] is not None]
    if trtexec:
        ax_lat.scatter(*zip(*trtexec), color="black", marker="x", zorder=3, label="trtexec median")
    ax_lat.set_xticks(range(len(lat)), lat_labels, rotation=60, ha="right", fontsize=7)
    ax_lat.set_yscale("log")
    ax_lat.set_ylabel("median latency per batch (ms, log)")
    ax_lat.set_title("Latency")
    ax_lat.legend(fontsize=8)
    meta = report["meta"]
    fig.suptitle(" | ".join(filter(None, [meta["gpu"] and f"{meta['gpu']}, TensorRT {meta['tensorrt_version']}",
                                          meta["cpu"] and f"CPU: {meta['cpu']}"])), fontsize=9)
    fig.tight_layout()
    save_png_atomic(fig, path, dpi=120)
    return Path(path)


def write_report(metrics: Sequence[str | Path], latency: Sequence[str | Path], out_dir: str | Path) -> dict:
    report = build_report(load_metrics(metrics), load_latency(latency))
    out_dir = Path(out_dir)
    write_json_atomic(out_dir / "report.json", report)
    write_text_atomic(out_dir / "report.md", render_markdown(report))
    render_png(report, out_dir / "report.png")
    return report


# A CPU latency run's own outputs (python -m bench cpu)

def add_speedups(records: list[dict]) -> None:
    """speedup_vs_fp32 = FP32 median / this median, per backend and input size, against the FP32 model of the same
    folder where there is one (several architectures timed in one run), else any FP32 row (None without one)."""
    for record in records:
        bases = [r for r in records if r["backend"] == record["backend"] and r["imgsz"] == record["imgsz"]
                 and r["precision"] == "FP32"]
        same_folder = [r for r in bases if Path(r["model"]).parent == Path(record["model"]).parent]
        base = (same_folder or bases or [None])[0]
        record["speedup_vs_fp32"] = round(base["median_ms"] / record["median_ms"], 3) if base else None


def _name(record: dict, records: list[dict]) -> str:
    """The model's file stem, with its folder when the run timed models of several folders."""
    if len({Path(r["model"]).parent for r in records}) > 1:
        return f"{Path(record['model']).parent.name}/{record['variant']}"
    return record["variant"]


def latency_table(records: list[dict]) -> str:
    """A CPU latency run's records as a terminal table (median, p90, p99, images/s, speed-up against FP32)."""
    width = max([28] + [len(_name(r, records)) for r in records])
    head = f"{'backend':13s} {'model':{width}s} {'precision':22s} {'imgsz':>5s} {'thr':>3s} {'median ms':>9s} " \
           f"{'p90 ms':>8s} {'p99 ms':>8s} {'img/s':>7s} {'x FP32':>6s}"
    lines = [head, "-" * len(head)]
    for r in records:
        speed = f"{r['speedup_vs_fp32']:.2f}" if r.get("speedup_vs_fp32") else "-"
        lines.append(f"{r['backend']:13s} {_name(r, records):{width}s} {r['precision'][:22]:22s} {r['imgsz']:5d} "
                     f"{r['threads']:3d} {r['median_ms']:9.2f} {r['p90_ms']:8.2f} {r['p99_ms']:8.2f} "
                     f"{r['throughput_ips']:7.1f} {speed:>6s}")
    return "\n".join(lines)


def write_latency_json(path: Path, records: list[dict], meta: dict) -> Path:
    return write_json_atomic(path, {"meta": meta, "records": records})


def plot_latency(path: Path, records: list[dict], meta: dict) -> Path:
    """Median latency bars (to p90) per backend and model, one panel per input size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({r["imgsz"] for r in records}, reverse=True)
    backends = list(dict.fromkeys(r["backend"] for r in records))
    variants = list(dict.fromkeys(r["variant"] for r in records))
    fig, axes = plt.subplots(1, len(sizes), figsize=(6 * len(sizes), 4.5), squeeze=False)
    width = 0.8 / max(1, len(variants))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, size in zip(axes[0], sizes):
        for v, variant in enumerate(variants):
            xs, heights, errs = [], [], []
            for b, backend in enumerate(backends):
                match = [r for r in records if r["imgsz"] == size and r["backend"] == backend
                         and r["variant"] == variant]
                if match:
                    xs.append(b + (v - (len(variants) - 1) / 2) * width)
                    heights.append(match[0]["median_ms"])
                    errs.append(match[0]["p90_ms"] - match[0]["median_ms"])
            if xs:
                label = next(r["precision"] for r in records if r["variant"] == variant)
                bars = ax.bar(xs, heights, width, yerr=[[0] * len(errs), errs], capsize=3,
                              color=colours[v % len(colours)], label=f"{variant} ({label})")
                ax.bar_label(bars, fmt="%.1f", fontsize=7)
        ax.set_xticks(range(len(backends)), backends)
        ax.set_title(f"{meta.get('arch', '')} {size}x{size}, batch 1, {meta.get('threads')} threads")
        ax.set_ylabel("median latency, ms (bar to p90)")
    axes[0][0].legend(fontsize=7, loc="upper right")
    fig.suptitle(f"CPU latency: {meta.get('cpu', '')}", fontsize=9)
    fig.tight_layout()
    save_png_atomic(fig, path, dpi=120)
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metrics", nargs="+", required=True, type=Path, help="python -m eval --out JSON files")
    parser.add_argument("--latency", nargs="*", default=[], type=Path,
                        help="python -m bench cpu / bench trt JSON files")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/report"), help="folder for report.md/json/png")


def run(args: argparse.Namespace) -> int:
    check_output_dir(args.out)
    report = write_report(args.metrics, args.latency, args.out)
    print(render_markdown(report))
    print(f"written: {args.out}/report.md, report.json, report.png")
    return 0
