"""docker/image_deps.py, the GPU image's install step: the pip arguments it builds for the image and for the dry
run, its comparison of a resolution with the image lock, and which `pip check` complaints fail the build. (The
dry run itself needs the package index: `make docker-check`, which CI runs.)"""
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("image_deps", ROOT / "docker" / "image_deps.py")
image_deps = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(image_deps)


def test_platforms_cover_every_manylinux_tag_the_image_glibc_accepts():
    tags = image_deps.platforms("2.39")
    assert tags[0] == "manylinux_2_39_x86_64" and tags[-2:] == ["manylinux_2_17_x86_64", "manylinux2014_x86_64"]
    assert len(tags) == 39 - 17 + 2
    assert "manylinux_2_28_x86_64" in tags  # onnx 1.23 and onnxruntime 1.32 ship only 2_27/2_28 wheels
    with pytest.raises(image_deps.DepsError):
        image_deps.platforms("2.12")


def test_install_arguments_hold_the_image_builds_and_lock_the_rest(tmp_path):
    lock = tmp_path / "lock.txt"
    lock.write_text("# header\nnumpy==2.4.6\nonnx==1.23.2\nTyping_Extensions==4.16.0\n")
    held = {"numpy": "1.26.4", "torch": "2.6.0a0+ecf3bae40a"}
    args = image_deps.pip_arguments(held, tmp_path, provides_cv2=True, lock=lock)
    assert args[0] == "--only-binary=:all:"
    constraints = [args[i + 1] for i, a in enumerate(args) if a == "-c"]
    assert Path(constraints[0]).read_text() == "numpy==1.26.4\ntorch==2.6.0a0+ecf3bae40a\n"
    assert Path(constraints[1]).read_text() == "onnx==1.23.2\ntyping-extensions==4.16.0\n"  # the image's numpy wins
    requirements = [Path(args[i + 1]) for i, a in enumerate(args) if a == "-r"]
    assert [p.name for p in requirements] == ["requirements.txt", "requirements-dev.txt"]
    assert "opencv" not in requirements[0].read_text() and "onnx" in requirements[0].read_text()
    (tmp_path / "plain").mkdir()
    without_cv2 = image_deps.pip_arguments(held, tmp_path / "plain", provides_cv2=False, lock=None)
    assert without_cv2.count("-c") == 1 and str(ROOT / "requirements.txt") in without_cv2


def test_dry_run_targets_the_image_not_this_machine(tmp_path):
    base = {"python": "3.12", "glibc": "2.39"}
    args = image_deps.target_arguments(base, tmp_path, tmp_path / "r.json", "https://pypi.org/simple")
    for flag in ("--isolated", "--dry-run", "--ignore-installed"):
        assert flag in args
    assert args[args.index("--python-version") + 1] == "3.12" and args.count("--platform") == 24


def test_a_resolution_is_compared_with_the_lock():
    held = {"numpy": "1.26.4"}
    lock = {"onnx": "1.23.2", "ml-dtypes": "0.5.4"}
    assert image_deps.compare_with_lock({"numpy": "1.26.4", "onnx": "1.23.2", "ml-dtypes": "0.5.4"}, lock, held) == []
    problems = image_deps.compare_with_lock({"numpy": "2.4.6", "onnx": "1.23.2", "ml-dtypes": "0.6.0",
                                             "protobuf": "7.36.2"}, lock, held)
    assert problems == ["ml-dtypes resolved to 0.6.0, the lock says 0.5.4",
                        "numpy resolved to 2.4.6, but the image holds 1.26.4",
                        "protobuf==7.36.2 is not in constraints-image.txt"]


def test_pip_check_complaints_about_other_packages_do_not_fail_the_build():
    output = ("tensorboard 2.16.2 has requirement protobuf<5, but you have protobuf 7.36.2.\n"
              "nvidia-dali 1.45 requires astunparse, which is not installed.\n"
              "thunder 0.2.0 has requirement looseversion==1.3.0, but you have looseversion 1.4.0.\n")
    ours = {"protobuf", "onnx", "numpy"}
    assert image_deps.broken_requirements(output, ours) == [
        "tensorboard 2.16.2 has requirement protobuf<5, but you have protobuf 7.36.2."]
    assert image_deps.broken_requirements("No broken requirements found.\n", ours) == []


def test_base_image_facts_name_their_sources():
    base = image_deps.load_base()
    assert base["python"] == "3.12" and base["held"]["numpy"] == "1.26.4" and base["held"]["tensorrt"] == "10.8.0.43"
    raw = json.loads(image_deps.BASE_IMAGE.read_text())
    assert set(raw["sources"]) and "protobuf" in raw["not_recorded"]


def test_unreachable_index_is_a_skip_only_when_asked(capsys):
    parser_args = ["check", "--index", "http://127.0.0.1:9/simple", "--skip-if-offline"]
    assert image_deps.main(parser_args) == 0
    assert "docker-check skipped: the package index http://127.0.0.1:9/simple is unreachable" in capsys.readouterr().out
