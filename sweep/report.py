"""The sweep's table: rows in the paper's order, the claims the paper makes about them checked on the rows present,
and the table as the terminal, markdown and JSON show it (AP in percent with one decimal, as the paper prints it)."""
from pathlib import Path
from typing import Sequence

from eval.coco_eval import METRIC_KEYS
from eval.report import format_markdown, format_table

LABEL_KEYS = ("bits", "method", "grid")


def record(label: str, method: str, scheme: str, w_bits: int, a_bits: int, metrics: dict, **extra) -> dict:
    """One table row: what was calibrated, the six AP keys as pycocotools fractions, and where its files are."""
    return {"row": label, "method": method, "scheme": scheme, "w_bits": w_bits, "a_bits": a_bits,
            **{key: float(metrics[key]) for key in METRIC_KEYS}, **extra}


def display(row: dict) -> dict:
    fp32 = row["method"] == "fp32"
    return {"bits": "32-32" if fp32 else f"{row['w_bits']}-{row['a_bits']}",
            "method": "FP32" if fp32 else row["row"], "grid": "float" if fp32 else row["scheme"],
            **{key: row[key] for key in METRIC_KEYS}}


def ordered(records: list[dict], methods: Sequence[str], bits: Sequence[tuple[int, int]]) -> list[dict]:
    """FP32 first, then the paper's layout: bit widths in the order given, methods in the order given."""
    rank = {(label, tuple(b)): (bi, mi) for bi, b in enumerate(bits) for mi, label in enumerate(methods)}
    fp32 = [r for r in records if r["method"] == "fp32"]
    rest = sorted((r for r in records if r["method"] != "fp32"),
                  key=lambda r: rank.get((r["row"], (r["w_bits"], r["a_bits"])), (99, 99)))
    return fp32 + rest


def done_checks(records: list[dict]) -> list[dict]:
    """The paper's claims about Table 1, evaluated on the rows present (a claim whose rows are missing is left
    out)."""
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
        shown = ", ".join([f"uh-asym {100 * uh4:.1f}"] + [f"{m} {100 * ap:.1f}" for m, ap in rivals.items()
                                                         if ap is not None])
        checks.append({"claim": "W4A4 uh-asym beats " + " and ".join(present),
                       "passed": all(uh4 > ap for ap in present.values()), "detail": shown})
    for w, a in ((6, 6), (4, 4)):
        asym, sym = by.get(("uh-asym", w, a)), by.get(("uh-sym", w, a))
        if asym is not None and sym is not None:
            checks.append({"claim": f"W{w}A{a} uh-asym beats uh-sym", "passed": asym > sym,
                           "detail": f"asym {100 * asym:.1f}, sym {100 * sym:.1f}"})
    return checks


def shown_path(path: str | Path) -> str:
    """A path relative to the working directory when it lies under it (reads better in tables)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def render_markdown(records: list[dict], checks: list[dict], settings: dict) -> str:
    """table.md: what was run, the table, the checks."""
    lines = ["# Table 1 layout: calibration methods x bit widths (fake quantization in PyTorch)", "",
             f"Model `{settings['weights']}`, validation `{settings['val_data']}` ({settings['num_val_images']} "
             f"images), {settings['num_images']} calibration images from `{settings['calib_data']}`, imgsz "
             f"{settings['imgsz']}. AP in percent (COCO AP@[.5:.95] and friends from pycocotools).", "",
             "Grid = activation grid. Weights: symmetric per-output-channel absmax in every row. In float: "
             f"{settings['float_layers']}"
             f"{'; attention MatMul inputs quantized' if settings.get('quantize_matmul') else ''}. "
             "minmax/percentile/mse/entropy are symmetric, as NVIDIA's "
             "pytorch-quantization (the toolkit of the paper's baselines) runs them; minmax-asym is an extra row.",
             "", format_markdown([display(r) for r in records], LABEL_KEYS).rstrip(), ""]
    if checks:
        lines += ["## Checks", ""] + [f"- {'PASS' if c['passed'] else 'FAIL'}: {c['claim']} ({c['detail']})"
                                      for c in checks] + [""]
    return "\n".join(lines)


def render_terminal(records: list[dict], checks: list[dict], settings: dict) -> str:
    lines = [format_table([display(r) for r in records], LABEL_KEYS),
             f"in float in every row: {settings['float_layers']}"
             f"{' (attention MatMul inputs quantized)' if settings.get('quantize_matmul') else ''}"]
    lines += [f"{'PASS' if c['passed'] else 'FAIL'}: {c['claim']} ({c['detail']})" for c in checks]
    return "\n".join(lines)
