"""sweep.plot: the AP-vs-bits series from known table rows, a valid PNG written atomically, bad tables."""
import json

import pytest

from common.cli import run_cli
from common.errors import QYoloError
from sweep import plot as table_plot

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def row(label, method, w, a, ap):
    return {"row": label, "method": method, "scheme": "sym", "w_bits": w, "a_bits": a, "AP": ap}


RECORDS = [row("fp32", "fp32", 32, 32, 0.786), row("minmax", "minmax", 8, 8, 0.782), row("uh-asym", "uh", 8, 8, 0.784),
           row("minmax", "minmax", 4, 4, 0.003), row("uh-asym", "uh", 4, 4, 0.518), row("uh-asym", "uh", 6, 6, 0.772),
           row("uh-asym", "uh", 4, 8, 0.70)]


def test_series_orders_bits_narrowest_first_in_percent():
    widths, series = table_plot.ap_series(RECORDS)
    assert widths == [(4, 4), (6, 6), (4, 8), (8, 8)]  # by total bits, then activation bits
    assert series["minmax"] == [(0, pytest.approx(0.3)), (3, pytest.approx(78.2))]
    assert [x for x, _ in series["uh-asym"]] == [0, 1, 2, 3] and series["uh-asym"][1][1] == pytest.approx(77.2)
    assert "fp32" not in series
    with pytest.raises(QYoloError, match="no quantized rows"):
        table_plot.ap_series(RECORDS[:1])


def test_cli_writes_a_png_beside_the_table(tmp_path, capsys):
    import matplotlib.image

    table = tmp_path / "table.json"
    table.write_text(json.dumps(RECORDS))
    assert run_cli(table_plot.main, [str(table)]) == 0
    png = tmp_path / "ap_vs_bits.png"
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    assert matplotlib.image.imread(png).shape[:2] == (480, 750)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ap_vs_bits.png", "table.json"]  # no temp files left
    assert f"wrote {png}" in capsys.readouterr().out


def test_rows_of_several_tables_are_combined(tmp_path, monkeypatch):
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps(RECORDS[:4]))  # fp32 and minmax
    second.write_text(json.dumps([row("fp32", "fp32", 32, 32, 0.5), row("minmax", "minmax", 8, 8, 0.1)] + RECORDS[4:]))
    drawn = []
    monkeypatch.setattr(table_plot, "plot_ap_vs_bits",
                        lambda records, path, title="": drawn.append((records, path)) or path)
    assert run_cli(table_plot.main, [str(first), str(second), "--out", str(tmp_path / "x.png")]) == 0
    (records, path), = drawn
    assert path == tmp_path / "x.png" and len(records) == len(RECORDS)
    assert {(r["row"], r["w_bits"]): r["AP"] for r in records}[("fp32", 32)] == 0.786  # the first table's rows win
    assert {(r["row"], r["w_bits"]): r["AP"] for r in records}[("minmax", 8)] == 0.782


@pytest.mark.parametrize("content, message", [
    (None, "table.json does not exist"), ("{not json", "cannot read the table"), ("[1, 2]", "cannot read the table"),
    ('[{"row": "fp32", "method": "fp32", "w_bits": 32, "a_bits": 32, "AP": 0.7}]', "no quantized rows"),
])
def test_bad_tables_are_one_line(content, message, tmp_path, capsys):
    table = tmp_path / "table.json"
    if content is not None:
        table.write_text(content)
    assert run_cli(table_plot.main, [str(table)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0], err
    assert not (tmp_path / "ap_vs_bits.png").exists()


def test_spread_labels_known_answers():
    # far apart: left where they are
    assert table_plot.spread_labels([10.0, 50.0, 30.0], min_gap=2) == [10.0, 50.0, 30.0]
    # 22.5, 22.1, 21.6 with gap 2: one group centred on its mean 22.0667, in value order
    spread = table_plot.spread_labels([22.5, 22.1, 21.6], min_gap=2)
    assert spread == pytest.approx([24.0667, 22.0667, 20.0667], abs=1e-4)
    # a spread group that reaches a neighbour absorbs it: 0, 1 and 3 with gap 2 -> centred on 4/3
    assert table_plot.spread_labels([3.0, 0.0, 1.0], min_gap=2) == pytest.approx([10 / 3, -2 / 3, 4 / 3])
    # the floor lifts a group that would fall below it, keeping the gaps
    assert table_plot.spread_labels([0.2, 0.4], min_gap=2, floor=0.0) == pytest.approx([0.0, 2.0])
    assert table_plot.spread_labels([], min_gap=1) == []
