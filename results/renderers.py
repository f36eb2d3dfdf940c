"""How each results page shows its run: the stages' own table and plot renderers, applied to the recorded files.
Every function here is deterministic in its data (the pages are checked against a re-render)."""
from pathlib import Path

FIGURE = "![{alt}]({name})"


def demoted(markdown: str, levels: int = 1) -> str:
    """A rendered report's headings one level down, to sit under the page's own title."""
    return "\n".join("#" * levels + line if line.startswith("#") else line for line in markdown.splitlines())


def _pct(value) -> str:
    return "–" if value is None or value < 0 else f"{100 * value:.1f}"


def _load(meta: dict) -> str:
    """What the machine was doing around a timing run, from its recorded load."""
    before, after = meta.get("load_before") or {}, meta.get("load_after") or {}
    shares = [f"{100 * m['others_busy_fraction']:.0f} %" for m in (before, after)
              if m.get("others_busy_fraction") is not None]
    loads = [str(m["loadavg_1_5_15"][0]) for m in (before, after) if m.get("loadavg_1_5_15")]
    return (f"other processes used {' / '.join(shares)} of the CPUs just before / after the timing, load average "
            f"{' / '.join(loads)} ({meta.get('cpu_count', before.get('cpu_count', '?'))} CPUs)")


def sweep_table(data: dict, png: Path) -> str:
    from sweep.plot import plot_ap_vs_bits
    from sweep.report import render_markdown

    run, rows = data["sources"]["run"], data["sources"]["table"]
    settings = run["settings"]
    plot_ap_vs_bits(rows, png, title=f"{Path(settings['weights']).name} at {settings['imgsz']} px, "
                    f"{settings['num_val_images']} validation images: AP against bit width")
    timings = run["timings"]
    return "\n".join([demoted(render_markdown(rows, run["checks"], settings)).rstrip(), "",
                      f"{len(rows)} rows in {timings['total_s'] / 60:.1f} min "
                      f"({settings['threads']} torch thread(s), device {settings['device']}).", "",
                      FIGURE.format(alt="AP against bit width, one line per calibration method", name=png.name)])


def sweep_summary(data: dict) -> str:
    """AP per method (rows) and bit width (columns), FP32 first: the README's results table."""
    rows = data["sources"]["table"]
    fp32 = next(r for r in rows if r["method"] == "fp32")
    widths = list(dict.fromkeys((r["w_bits"], r["a_bits"]) for r in rows if r["method"] != "fp32"))
    labels = list(dict.fromkeys(r["row"] for r in rows if r["method"] != "fp32"))
    ap = {(r["row"], r["w_bits"], r["a_bits"]): r["AP"] for r in rows}
    lines = ["| method (activation grid) | " + " | ".join(f"W{w}A{a}" for w, a in widths) + " |",
             "|---|" + "---:|" * len(widths)]
    for label in labels:
        grid = next(r["scheme"] for r in rows if r["row"] == label)
        name = f"**{label}** ({grid})" if label == "uh-asym" else f"{label} ({grid})"
        lines.append(f"| {name} | " + " | ".join(_pct(ap.get((label, w, a))) for w, a in widths) + " |")
    settings = data["sources"]["run"]["settings"]
    lines.append(f"\nCOCO AP (%) of the fixture on {settings['num_val_images']} synthetic validation images at "
                 f"{settings['imgsz']} px, fake quantization in PyTorch; FP32: {_pct(fp32['AP'])}.")
    return "\n".join(lines)


def bench_report(data: dict, png: Path) -> str:
    from bench.report import render_markdown, render_png

    report = data["sources"]["report"]
    render_png(report, png)
    loads = [f"- {key}: {_load(data['sources'][key]['meta'])}" for key in ("latency-ort", "latency-openvino")]
    return "\n".join([demoted(render_markdown(report)).rstrip(), "", "Machine load during the latency runs "
                      "(a shared machine: latencies are inflated when others run, ratios within one run hold "
                      "better):", *loads, "", FIGURE.format(alt="AP and latency per runtime", name=png.name)])


def cpu_latency(data: dict, png: Path) -> str:
    from bench.report import plot_latency

    latency = data["sources"]["latency"]
    meta, records = latency["meta"], latency["records"]
    plot_latency(png, records, meta)
    lines = ["| backend | model | precision | input | median ms | p90 ms | x FP32 |",
             "|---|---|---|---:|---:|---:|---:|"]
    for r in records:
        speed = f"{r['speedup_vs_fp32']:.2f}" if r.get("speedup_vs_fp32") else "–"
        lines.append(f"| {r['backend']} | {Path(r['model']).parent.name}/{r['variant']} | {r['precision']} | "
                     f"{r['imgsz']} | {r['median_ms']:.1f} | {r['p90_ms']:.1f} | {speed} |")
    versions = ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items() if k not in ("python", "platform"))
    return "\n".join([f"Random weights ({meta.get('arch')}), batch 1, {meta['threads']} threads, {meta['clock']} "
                      f"clock; {meta['warmup']} warm-up runs, then {meta['runs']} timed runs per graph interleaved in "
                      f"{meta['rounds']} rounds ({versions}). Machine: {_load(meta)}.", "", *lines, "",
                      "`*-cpu` graphs are the `cpu` profile with Q/DQ completed for ONNX Runtime's uint8 kernels; "
                      "`*-cpuexact` carry Q/DQ only at the calibrated quantizers (the form OpenVINO runs fast); "
                      "`*-trt` are the TensorRT profile (int8 symmetric activations).", "",
                      FIGURE.format(alt="median latency per graph and runtime", name=png.name)])


def sensitivity(data: dict, png: Path) -> str:
    from sensitivity.report import format_table, render_png

    report = data["sources"]["sensitivity"]
    render_png(report, png)
    timings = report["timings"]
    return "\n".join(["```", format_table(report, 15), "```", "",
                      f"{report['num_layers']} layers in {timings['total_s'] / 60:.1f} min (calibration "
                      f"{timings['calibration_s']:.0f} s, proxy {timings['proxy_s']:.0f} s, AP "
                      f"{timings['ap_s']:.0f} s).", "",
                      FIGURE.format(alt="per-layer sensitivity in both views", name=png.name)])


def mixed(data: dict, png: Path) -> str:
    from mixed.report import format_summary, render_png

    report, metrics = data["sources"]["mixed"], data["sources"]["metrics"]
    render_png(report, png)
    fidelity = metrics.get("fidelity") or {}
    figures = fidelity.get("figures") or {}
    shown = ", ".join(f"{key} {figures[key]:.3f}" for key in ("f1", "box_iou_p05", "score_p95", "count_ratio")
                      if key in figures)
    return "\n".join(["```", format_summary(report), "```", "",
                      f"The plan's artifact exported with the `{metrics.get('quantization', {}).get('scheme', '')}` "
                      f"grid and run by {metrics['backend']} on all {metrics.get('num_images')} validation images: "
                      f"AP {_pct(metrics['AP'])} (AP50 {_pct(metrics['AP50'])}, AP75 {_pct(metrics['AP75'])}); "
                      f"fidelity against the artifact: {fidelity.get('verdict', 'not checked')}"
                      f"{f' ({shown})' if shown else ''}.", "",
                      f"Search: {report['timings']['total_s'] / 60:.1f} min.", "",
                      FIGURE.format(alt="AP against the share of layers at W8A8", name=png.name)])
