"""Metric tables: known rendering of known numbers, and the JSON/markdown written atomically."""
import json

from eval.report import format_markdown, format_table, write_report

ROWS = [
    {"backend": "torch", "precision": "fp32", "AP": 0.3746, "AP50": 0.561, "AP75": 0.40, "APs": 0.2104,
     "APm": 0.42, "APl": 0.49},
    {"backend": "ort", "precision": "int8", "AP": 0.37, "AP50": 0.5, "AP75": 0.4, "APs": -1.0, "APm": 0.0,
     "APl": 1.0},
]


def test_terminal_table_in_percent_with_one_decimal():
    lines = format_table(ROWS).splitlines()
    assert lines[0].split() == ["backend", "precision", "AP", "AP50", "AP75", "APs", "APm", "APl"]
    assert set(lines[1]) <= {"-", " "}
    assert lines[2].split() == ["torch", "fp32", "37.5", "56.1", "40.0", "21.0", "42.0", "49.0"]
    assert lines[3].split() == ["ort", "int8", "37.0", "50.0", "40.0", "-", "0.0", "100.0"]  # -1: no such objects
    assert len({len(line) for line in lines}) == 1  # columns aligned


def test_markdown_table():
    md = format_markdown(ROWS[:1], label_keys=("precision",))
    assert md == ("| precision | AP | AP50 | AP75 | APs | APm | APl |\n|---|---|---|---|---|---|---|\n"
                  "| fp32 | 37.5 | 56.1 | 40.0 | 21.0 | 42.0 | 49.0 |\n")


def test_write_report(tmp_path):
    write_report(ROWS, tmp_path / "r" / "metrics.json", tmp_path / "r" / "metrics.md")
    assert json.loads((tmp_path / "r" / "metrics.json").read_text()) == ROWS
    assert (tmp_path / "r" / "metrics.md").read_text() == format_markdown(ROWS)
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["metrics.json", "metrics.md"]  # no temp files
