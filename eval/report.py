"""Metric tables: the paper's Table 1 columns in the terminal and as markdown, and the JSON they come from.

Every AP is shown in percent with one decimal (pycocotools' 0.374 -> 37.4, as the paper prints it); pycocotools'
-1 ("no ground truth of that size") is shown as '-'.
"""
from pathlib import Path
from typing import Sequence

from common.atomic import write_json_atomic, write_text_atomic
from eval.coco_eval import METRIC_KEYS


def _cell(value) -> str:
    if isinstance(value, float):
        return "-" if value < 0 else f"{100 * value:.1f}"
    return str(value)


def _rows(records: Sequence[dict], label_keys: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    header = [*label_keys, *METRIC_KEYS]
    return header, [[_cell(r.get(k, "")) for k in header] for r in records]


def format_table(records: Sequence[dict], label_keys: Sequence[str] = ("backend", "precision")) -> str:
    """Fixed-width terminal table; AP values shown in percent with one decimal, as the paper prints them."""
    header, rows = _rows(records, label_keys)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]

    def line(cells):
        return "  ".join(c.rjust(w) if i >= len(label_keys) else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


def format_markdown(records: Sequence[dict], label_keys: Sequence[str] = ("backend", "precision")) -> str:
    header, rows = _rows(records, label_keys)
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def write_report(records: Sequence[dict], json_path: str | Path, markdown_path: str | Path | None = None,
                 label_keys: Sequence[str] = ("backend", "precision")) -> None:
    """The records as JSON (fractions, as pycocotools gives them) and optionally the markdown table, atomically."""
    write_json_atomic(json_path, list(records))
    if markdown_path is not None:
        write_text_atomic(markdown_path, format_markdown(records, label_keys))


def ultralytics_line(metrics: dict) -> str:
    """The same detections scored as the ultralytics package's validator scores them (eval.ultralytics_metric),
    to set beside the AP `yolo val` prints; two decimals, as it prints them."""
    u = metrics.get("ultralytics") or {}
    if not u:
        return "scored as yolo val scores: not computed"
    return (f"scored as yolo val scores (ultralytics' matching and PR interpolation, boxes unclipped): "
            f"AP {100 * u['AP']:.2f}, AP50 {100 * u['AP50']:.2f}, AP75 {100 * u['AP75']:.2f}")
