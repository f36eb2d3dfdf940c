"""docs/gpu-workflow.md says what the code does: the compute capability it checks, the stream the engine runs on."""
import re
from pathlib import Path

from engine.errors import MIN_INT8_COMPUTE_CAPABILITY

DOC = Path(__file__).resolve().parents[2] / "docs" / "gpu-workflow.md"


def _section(title_start: str) -> str:
    text = DOC.read_text()
    start = text.index(f"## {title_start}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def test_the_compute_capability_named_is_the_one_checked():
    named = set(re.findall(r"compute capability (\d+\.\d+) or newer", DOC.read_text()))
    assert named == {"{}.{}".format(*MIN_INT8_COMPUTE_CAPABILITY)}


def test_the_stream_named_is_the_runners_own():
    runner = _section("7.")
    assert "current CUDA stream" not in runner and "torch's current" not in runner
    assert "a CUDA stream the runner creates and owns" in runner and "wait for the caller's current stream" in runner


def test_the_first_run_check_comes_first():
    text = DOC.read_text()
    assert text.index("make gpu-check") < text.index("## 1.")
