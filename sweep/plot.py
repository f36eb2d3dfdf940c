"""python -m sweep.plot: the Table 1 sweep's AP against bit width, one line per method, as a PNG.

    python -m sweep.plot runs/sweep/fixture/table.json      # writes runs/sweep/fixture/ap_vs_bits.png
    python -m sweep.plot runs/a/table.json runs/b/table.json --out ap.png   # sweeps split over several runs

`python -m sweep` (`make table`) draws it itself after the sweep; this CLI redraws it from saved table.json files
(rows of several runs are combined; the FP32 row and any repeated row are taken from the first table that has them).
"""
import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from common.atomic import save_png_atomic
from common.cli import CliParser, run_cli
from common.errors import QYoloError
from common.input_file import read_text

PNG_NAME = "ap_vs_bits.png"


def bit_label(w_bits: int, a_bits: int) -> str:
    return f"W{w_bits}A{a_bits}"


def ap_series(records: Sequence[dict]) -> tuple[list[tuple[int, int]], dict[str, list[tuple[int, float]]]]:
    """(bit widths, narrowest first; {row label: [(index into the widths, AP %)]}) of the quantized rows."""
    quantized = [r for r in records if r["method"] != "fp32"]
    if not quantized:
        raise QYoloError("the table holds no quantized rows to plot; run the sweep with at least one method")
    widths = sorted({(r["w_bits"], r["a_bits"]) for r in quantized}, key=lambda b: (b[0] + b[1], b[1]))
    position = {bits: i for i, bits in enumerate(widths)}
    series = {label: sorted((position[(r["w_bits"], r["a_bits"])], 100 * r["AP"]) for r in quantized
                            if r["row"] == label) for label in dict.fromkeys(r["row"] for r in quantized)}
    return widths, series


def spread_labels(values: Sequence[float], min_gap: float, floor: float | None = None) -> list[float]:
    """Label heights for points at `values`: as close to them as they can be with at least `min_gap` between any two,
    in the same order (labels that would overlap are spread evenly around their group's mean; above `floor`)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    groups = [[values[i]] for i in order]  # each group: the values it holds; placed centred on their mean

    def place(group):
        start = sum(group) / len(group) - min_gap * (len(group) - 1) / 2
        return start if floor is None else max(start, floor)

    merged, starts = True, []
    while merged:
        merged = False
        starts = [place(g) for g in groups]
        for k in range(len(groups) - 1):
            if starts[k] + min_gap * (len(groups[k]) - 1) + min_gap > starts[k + 1] + 1e-12:
                groups[k:k + 2] = [groups[k] + groups[k + 1]]
                merged = True
                break
    heights = [start + min_gap * j for start, group in zip(starts, groups) for j in range(len(group))]
    result = [0.0] * len(values)
    for i, height in zip(order, heights):
        result[i] = height
    return result


def plot_ap_vs_bits(records: Sequence[dict], path: str | Path, title: str = "") -> Path:
    """AP (%) per bit width (x: narrowest left), a line per table row label, FP32 as a dashed line; atomic write."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    widths, series = ap_series(records)
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    narrowest = []  # (AP, colour) at the narrowest width, where the methods part: each AP written beside its point
    for label, points in series.items():
        xs, ys = zip(*points)
        style = {"lw": 2.6, "zorder": 3} if label.startswith("uh") else {"lw": 1.4}
        (line,) = ax.plot(xs, ys, marker="o", label=label, **style)
        if xs[0] == 0:
            narrowest.append((ys[0], line.get_color()))
    top = max(max(y for _, y in points) for points in series.values())
    heights = spread_labels([ap for ap, _ in narrowest], min_gap=0.035 * max(top, 1.0), floor=0.0)
    for (ap, colour), height in zip(narrowest, heights):
        ax.annotate(f"{ap:.1f}", (0, ap), xytext=(-0.1, height), textcoords="data", ha="right", va="center",
                    fontsize=7, color=colour,
                    arrowprops={"arrowstyle": "-", "lw": 0.5, "color": colour} if abs(height - ap) > 1e-9 else None)
    fp32 = next((r for r in records if r["method"] == "fp32"), None)
    if fp32 is not None:
        ax.axhline(100 * fp32["AP"], color="black", ls="--", lw=1, label=f"FP32 {100 * fp32['AP']:.1f}")
    ax.set_xticks(range(len(widths)), [bit_label(*b) for b in widths])
    ax.set_xlim(-0.6, len(widths) - 0.6)
    ax.set_xlabel("weight / activation bits")
    ax.set_ylabel("AP@[.5:.95] (%)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title or "AP against bit width, per calibration method", fontsize=9)
    fig.tight_layout()
    save_png_atomic(fig, path, dpi=100)
    return Path(path)


def read_table(path: Path) -> list[dict]:
    try:
        records = json.loads(read_text(path, "table"))
        if not isinstance(records, list) or not all({"row", "method", "w_bits", "a_bits", "AP"} <= set(r)
                                                     for r in records):
            raise ValueError("not a list of table rows")
    except (OSError, ValueError, TypeError) as exc:
        raise QYoloError(f"cannot read the table {path} ({exc}); give the table.json python -m sweep "
                         "wrote") from None
    return records


def main(argv=None) -> int:
    parser = CliParser(prog="python -m sweep.plot", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tables", type=Path, nargs="+", help="table.json written by python -m sweep")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"PNG path (default: {PNG_NAME} beside the first table)")
    parser.add_argument("--title", default="", help="figure title (e.g. the model, image size and val images)")
    args = parser.parse_args(argv)
    records = {}
    for table in args.tables:
        for record in read_table(table):
            records.setdefault((record["row"], record["w_bits"], record["a_bits"]), record)
    out = plot_ap_vs_bits(list(records.values()), args.out or args.tables[0].parent / PNG_NAME, title=args.title)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
