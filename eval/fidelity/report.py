"""Fidelity reports as a terminal table, and the one-line summary eval prints and records beside its AP."""
from pathlib import Path
from typing import Sequence

COLUMNS = ("model", "backend", "verdict", "F1@0.25", "IoU p05", "box p95 px", "score p95", "count ratio")


def _row(report: dict) -> list[str]:
    figures = report.get("figures") or {}

    def cell(key: str, fmt: str) -> str:
        return fmt.format(figures[key]) if key in figures else "-"

    return [Path(str(report.get("model", "?"))).name, str(report.get("backend", "?")),
            str(report.get("verdict", "?")).upper(), cell("f1", "{:.3f}"), cell("box_iou_p05", "{:.3f}"),
            cell("box_px_p95", "{:.2f}"), cell("score_p95", "{:.3f}"), cell("count_ratio", "{:.2f}")]


def format_reports(reports: Sequence[dict]) -> str:
    """Fixed-width table, one row per report, then the reasons of every report that did not pass."""
    rows = [list(COLUMNS), *(_row(r) for r in reports)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for report in reports:
        for reason in report.get("reasons", []):
            lines.append(f"  {report.get('verdict', '?')}: {Path(str(report.get('model', '?'))).name}: {reason}")
    if reports and "figures" in reports[0] and reports[0]["figures"]:
        lines.append(f"({reports[0]['figures']['images']} images, deployed model vs its calibrated artifact in "
                     f"PyTorch)")
    return "\n".join(lines)


def summary_line(report: dict) -> str:
    """'fidelity PASS (F1 0.991, box p95 0.41 px, ...)' or 'fidelity SKIPPED: why'."""
    verdict = str(report.get("verdict", "?")).upper()
    figures = report.get("figures")
    if not figures:
        return f"fidelity {verdict}: {'; '.join(report.get('reasons', [])) or report.get('reason', '')}".rstrip(": ")
    text = (f"fidelity {verdict} vs {Path(str(report.get('artifact', '?'))).name} on {figures['images']} images: "
            f"F1 {figures['f1']:.3f}, matched-box IoU p05 {figures['box_iou_p05']:.3f} (p95 corner difference "
            f"{figures['box_px_p95']:.2f} px), score p95 {figures['score_p95']:.3f}, detection count ratio "
            f"{figures['count_ratio']:.2f}")
    if report.get("reasons"):
        text += "; " + "; ".join(report["reasons"])
    return text
