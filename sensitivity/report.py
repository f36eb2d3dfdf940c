"""sensitivity.json, the ranked terminal table and the PNG bar chart of a sensitivity report."""
from pathlib import Path

from common.atomic import save_png_atomic
from common.output_set import begin_output_set, commit_output_set

SHOWN_IN_PNG = 20


def _pct(value) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def format_table(report: dict, rows: int | None = None) -> str:
    """Layers ranked by the alone view (most damaging first), both views' proxy and AP figures."""
    base = report["baseline"]
    header = ["rank", "layer", "kind", "alone err", "AP dmg", "float rank", "float recov", "AP recov"]
    lines = [[str(r["alone_rank"]), r["layer"], r["kind"], f"{r['alone_error']:.4f}", _pct(r.get("ap_damage")),
              str(r["float_rank"]), f"{r['float_recovery']:.4f}", _pct(r.get("ap_recovery"))]
             for r in report["layers"][:rows]]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    text = ["  ".join(c.ljust(w) if i in (1, 2) else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
            for cells in [header, ["-" * w for w in widths], *lines]]
    settings = report["settings"]
    corr = report["rank_correlation"]
    text.insert(0, f"{settings['method']}/{settings['scheme']} W{settings['w_bits']}A{settings['a_bits']}: "
                   f"FP32 AP {100 * base['fp32_ap']:.1f}, all layers quantized {100 * base['quantized_ap']:.1f} "
                   f"(proxy {base['quantized_proxy']:.4f}); AP in points on "
                   f"{base['ap_images'] or 'all'} validation images")
    text.append("proxy-vs-AP Spearman rank correlation over the AP-scored layers: " + ", ".join(
        f"{view} {'n/a' if c['spearman'] is None else format(c['spearman'], '.2f')} ({c['layers']} layers)"
        for view, c in corr.items()))
    return "\n".join(text)


def _bars(ax, records: list[dict], value_key: str, ap_key: str, title: str, colour: str) -> None:
    shown = records[:SHOWN_IN_PNG][::-1]
    positions = range(len(shown))
    ax.barh(positions, [r[value_key] for r in shown], color=colour)
    ax.set_yticks(positions, [r["layer"] for r in shown], fontsize=7)
    for position, record in zip(positions, shown):
        if record.get(ap_key) is not None:
            ax.text(record[value_key], position, f"  {100 * record[ap_key]:.1f} AP", va="center", fontsize=7)
    ax.set_title(title, fontsize=9)
    ax.margins(x=0.25)


def render_png(report: dict, path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = report["layers"]
    alone = sorted(layers, key=lambda r: r["alone_rank"])
    kept_float = sorted(layers, key=lambda r: r["float_rank"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 6.5))
    corr = report["rank_correlation"]

    def rho(view):
        value = corr[view]["spearman"]
        return "n/a" if value is None else f"{value:.2f}"

    _bars(left, alone, "alone_error", "ap_damage",
          f"quantized alone: output error (AP damage where scored)\nSpearman proxy vs AP {rho('alone')}", "#c44e52")
    _bars(right, kept_float, "float_recovery", "ap_recovery",
          f"kept in float, rest quantized: error recovered (AP gained)\nSpearman proxy vs AP {rho('float')}",
          "#4c72b0")
    settings, base = report["settings"], report["baseline"]
    fig.suptitle(f"{Path(settings['weights']).name}, {settings['method']}/{settings['scheme']} "
                 f"W{settings['w_bits']}A{settings['a_bits']}: FP32 {100 * base['fp32_ap']:.1f} AP, all quantized "
                 f"{100 * base['quantized_ap']:.1f} AP; top {min(SHOWN_IN_PNG, len(layers))} of "
                 f"{len(layers)} layers per view", fontsize=9)
    fig.tight_layout()
    save_png_atomic(fig, path, dpi=110)
    return Path(path)


def write_outputs(report: dict, out_dir: str | Path) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    begin_output_set(out_dir / "sensitivity.json")  # the JSON is written last and names the PNG's hash
    png = render_png(report, out_dir / "sensitivity.png")
    return commit_output_set(out_dir / "sensitivity.json", report, [png]), png
