"""The benchmark's outputs: speed-ups against FP32, a terminal table, the JSON and a PNG plot."""
from pathlib import Path

from common.atomic import save_png_atomic, write_json_atomic


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


def table(records: list[dict]) -> str:
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


def write_json(path: Path, records: list[dict], meta: dict) -> Path:
    return write_json_atomic(path, {"meta": meta, "records": records})


def plot(path: Path, records: list[dict], meta: dict) -> Path:
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
