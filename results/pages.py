"""The results pages: each is rendered from one committed JSON file (docs/results/data/<name>.json) that holds a
run's own output files and the provenance the run recorded (command, commit, CPU, date). A new study adds its page
with one `Page` entry in PAGES: where its run writes, where the run's provenance sits, and how to render it."""
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from results import renderers


@dataclass(frozen=True)
class Page:
    """name: docs/results/<name>.md (+ .png), data/<name>.json. sources: the run files `python -m results record`
    copies into the data file (key -> default path; the first is the run's main record). provenance(sources):
    the run's provenance record inside them. render(data, png) -> the page body (markdown), drawing `png`.
    rerun: the command that repeats the run. summary(data): a short table for README.md's results block, or None."""

    name: str
    title: str
    sources: dict[str, str]
    provenance: Callable[[dict], dict | None]
    render: Callable[[dict, Path], str]
    rerun: str
    summary: Callable[[dict], str] | None = field(default=None)


PAGES: list[Page] = [
    Page("table-fixture", "Table 1 on the fixture: calibration methods x bit widths",
         {"run": "runs/sweep/fixture/run.json", "table": "runs/sweep/fixture/table.json"},
         provenance=lambda s: s["run"].get("provenance"), render=renderers.sweep_table, rerun="make table",
         summary=renderers.sweep_summary),
    Page("bench-fixture", "make bench on the fixture: AP and CPU latency per runtime",
         {"report": "runs/bench/fixture-256-n256/report/report.json",
          "latency-ort": "runs/bench/fixture-256-n256/latency-ort.json",
          "latency-openvino": "runs/bench/fixture-256-n256/latency-openvino.json"},
         provenance=lambda s: s["report"]["meta"].get("provenance"), render=renderers.bench_report,
         rerun="make bench"),
    Page("cpu-speed-yolov5s", "CPU speed of a YOLOv5s-size model: FP32 against INT8 on ONNX Runtime and OpenVINO",
         {"latency": "runs/bench/latency.json"},
         provenance=lambda s: s["latency"]["meta"].get("provenance"), render=renderers.cpu_latency,
         rerun="make bench-cpu-speed"),
    Page("sensitivity-fixture", "Layer sensitivity of the fixture at W4A4",
         {"sensitivity": "runs/sensitivity/fixture/sensitivity.json"},
         provenance=lambda s: s["sensitivity"].get("provenance"), render=renderers.sensitivity,
         rerun="make sensitivity"),
    Page("mixed-fixture", "Mixed precision on the fixture: the fewest layers at W8A8",
         {"mixed": "runs/mixed/fixture/mixed.json", "metrics": "runs/mixed/fixture/metrics-ort-cpu.json"},
         provenance=lambda s: s["mixed"].get("provenance"), render=renderers.mixed, rerun="make mixed"),
]


def page_named(name: str) -> Page:
    from common.errors import QYoloError

    for page in PAGES:
        if page.name == name:
            return page
    raise QYoloError(f"no results page {name!r}; the pages are {', '.join(p.name for p in PAGES)}")
