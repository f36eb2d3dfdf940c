"""mixed.json, the terminal summary and the Pareto PNG (AP against the share of raised layers) of a search."""
from pathlib import Path

from common.atomic import save_png_atomic
from common.output_set import begin_output_set, commit_output_set


def format_summary(report: dict) -> str:
    settings, plan = report["settings"], report["plan"]
    low, high = settings["low_bits"], settings["high_bits"]
    lines = [f"{settings['method']}/{settings['scheme']}, {report['num_layers']} quantized layers; AP in points on "
             f"{settings['ap_images'] or 'all'} validation images",
             "uniform: " + ", ".join(f"W{u['w_bits']}A{u['a_bits']} {100 * u['ap']:.1f}" for u in report["uniform"]),
             f"target: W{high[0]}A{high[1]} {100 * report['high_ap']:.1f} - {settings['target_drop']} = "
             f"{100 * report['target_ap']:.1f}; budget {report['budget_layers']} layers "
             f"({100 * settings['max_share']:.0f}%)",
             "raised  share   AP"]
    lines += [f"{p['raised']:6d}  {100 * p['share']:4.1f}%  {100 * p['ap']:.1f}" for p in report["curve"]]
    verdict = "reaches the target" if plan["reached_target"] else \
        "best plan within the budget; the target is NOT reached"
    lines.append(f"plan: {plan['raised']} layers at W{high[0]}A{high[1]}, the rest W{low[0]}A{low[1]}: AP "
                 f"{100 * plan['ap']:.1f} ({verdict}): {', '.join(plan['layers_raised']) or 'none'}")
    return "\n".join(lines)


def render_png(report: dict, path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings, plan = report["settings"], report["plan"]
    low, high = settings["low_bits"], settings["high_bits"]
    fig, ax = plt.subplots(figsize=(7.5, 5))
    curve = report["curve"]
    ax.plot([100 * p["share"] for p in curve], [100 * p["ap"] for p in curve], "o-", color="#4c72b0", markersize=4,
            label=f"mixed: most sensitive layers at W{high[0]}A{high[1]}, rest W{low[0]}A{low[1]}")
    colours = {8: "#55a868", 6: "#dd8452", 4: "#c44e52"}
    for point in report["uniform"]:
        w_bits, a_bits, ap = point["w_bits"], point["a_bits"], 100 * point["ap"]
        share = 100.0 if [w_bits, a_bits] == list(high) else 0.0 if [w_bits, a_bits] == list(low) else None
        colour = colours.get(min(w_bits, a_bits), "grey")
        if share is None:  # neither end of the mix: a level to compare with
            ax.axhline(ap, color=colour, linestyle=":", linewidth=1, label=f"uniform W{w_bits}A{a_bits} {ap:.1f}")
        else:
            ax.scatter([share], [ap], color=colour, marker="s", s=45, zorder=3,
                       label=f"uniform W{w_bits}A{a_bits} {ap:.1f}")
    ax.axhline(100 * report["target_ap"], color="black", linestyle="--", linewidth=1,
               label=f"target {100 * report['target_ap']:.1f} (W{high[0]}A{high[1]} - {settings['target_drop']})")
    ax.axvline(100 * report["budget_layers"] / report["num_layers"], color="grey", linewidth=0.8,
               label=f"budget {report['budget_layers']} layers")
    ax.scatter([100 * plan["share"]], [100 * plan["ap"]], s=160, facecolors="none", edgecolors="black", zorder=4,
               label=f"plan: {plan['raised']} layers, {100 * plan['ap']:.1f} AP")
    ax.set_xlabel(f"share of layers at W{high[0]}A{high[1]} (%)")
    ax.set_ylabel("AP (%)")
    ax.set_xlim(-3, 103)
    ax.set_title(f"{Path(settings['weights']).name}, {settings['method']}/{settings['scheme']}: "
                 f"{report['num_layers']} quantized layers", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_png_atomic(fig, path, dpi=110)
    return Path(path)


def write_outputs(report: dict, out_dir: str | Path) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    begin_output_set(out_dir / "mixed.json")
    png = render_png(report, out_dir / "mixed.png")
    members = [png] + ([report["artifact"]] if Path(report.get("artifact", "")).is_file() else [])
    return commit_output_set(out_dir / "mixed.json", report, members), png
