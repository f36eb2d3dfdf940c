"""The results pages are generated: each committed page equals what its committed data renders to with today's code,
and so do the index and README.md's results block; recording a run keeps its provenance and refuses runs without
one."""
import json

import pytest

from common.errors import QYoloError
from results.build import (
    DOCS,
    README,
    README_BLOCK,
    data_path,
    index_markdown,
    page_markdown,
    readme_with_block,
    record,
    recorded_pages,
)
from results.pages import PAGES, Page

RECORDED = recorded_pages()
STALE = "is stale: run `make results` (or `python -m results record {}` after rerunning it) and commit the result"


@pytest.mark.parametrize("page", [p for p in PAGES if p.name in RECORDED], ids=lambda p: p.name)
def test_committed_page_is_what_its_data_renders_to(page, tmp_path):
    rendered = page_markdown(page, RECORDED[page.name], tmp_path / f"{page.name}.png")
    committed = (DOCS / f"{page.name}.md").read_text()
    assert committed == rendered, f"docs/results/{page.name}.md " + STALE.format(page.name)
    assert (tmp_path / f"{page.name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (DOCS / f"{page.name}.png").is_file()


def test_index_and_readme_block_are_rendered():
    assert (DOCS / "index.md").read_text() == index_markdown(RECORDED), "docs/results/index.md " + STALE
    readme = README.read_text()
    block = README_BLOCK.search(readme)
    assert block and block.group("name") in RECORDED, "README.md's results block must name a recorded page"
    assert readme == readme_with_block(readme, RECORDED), "README.md's results block " + STALE


def test_recorded_data_carries_provenance():
    for name, data in RECORDED.items():
        provenance = data["provenance"]
        assert len(provenance["commit"]) == 40 and provenance["cpu"] and provenance["date"], name
        assert provenance["command"].startswith("python -m "), name


def _page(tmp_path) -> Page:
    run = tmp_path / "run.json"
    return Page("toy", "A toy page", {"run": str(run)}, provenance=lambda s: s["run"].get("provenance"),
                render=lambda data, png: f"value {data['sources']['run']['value']}", rerun="make toy")


def test_record_keeps_the_run_and_its_provenance(tmp_path):
    page = _page(tmp_path)
    provenance = {"command": "python -m toy", "commit": "a" * 40, "dirty": False, "cpu": "CPU X",
                  "date": "2026-01-02T03:04:05+00:00"}
    (tmp_path / "run.json").write_text(json.dumps({"value": 7, "provenance": provenance}))
    path = record(page, docs=tmp_path / "docs")
    data = json.loads(path.read_text())
    assert path == data_path(page, tmp_path / "docs") and data["provenance"] == provenance
    assert data["sources"]["run"]["value"] == 7 and data["recorded_from"]["run"] == str(tmp_path / "run.json")
    markdown = page_markdown(page, data, tmp_path / "toy.png")
    assert markdown.startswith("# A toy page\n") and "value 7" in markdown
    assert "Produced by `python -m toy` at commit `aaaaaaaaaaaa` on CPU X, 2026-01-02T03:04:05+00:00." in markdown


@pytest.mark.parametrize("provenance, message", [
    (None, "records no command and commit"),
    ({"command": "x", "commit": None, "dirty": None, "cpu": "c", "date": "d"}, "records no command and commit"),
    ({"command": "x", "commit": "b" * 40, "dirty": True, "cpu": "c", "date": "d"}, "uncommitted changes"),
])
def test_record_refuses_runs_it_cannot_vouch_for(provenance, message, tmp_path):
    page = _page(tmp_path)
    (tmp_path / "run.json").write_text(json.dumps({"value": 1, "provenance": provenance}))
    with pytest.raises(QYoloError, match=message):
        record(page, docs=tmp_path / "docs")
    assert not (tmp_path / "docs").exists()


def test_record_names_a_missing_run(tmp_path):
    with pytest.raises(QYoloError, match="toy run file .*run.json does not exist"):
        record(_page(tmp_path), docs=tmp_path / "docs")
