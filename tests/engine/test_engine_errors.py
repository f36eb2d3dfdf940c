"""User-facing messages: missing tensorrt (names the Docker image), version mismatch, no INT8, parser errors."""
import subprocess
import sys
from pathlib import Path

import pytest
from engine_onnx_samples import write_model

from common.errors import QYoloError
from engine import errors

ROOT = Path(__file__).resolve().parents[2]


def test_missing_tensorrt_names_the_docker_image(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # makes `import tensorrt` raise ImportError
    with pytest.raises(QYoloError) as info:
        errors.import_tensorrt()
    message = str(info.value)
    assert "make docker-build" in message and "nvcr.io/nvidia/pytorch" in message and "\n" not in message
    assert errors.tensorrt_available() is False


def test_cli_build_without_tensorrt_exits_2_with_one_line(tmp_path):
    onnx_path = write_model(tmp_path / "q.onnx", qdq="int8")
    code = ("import sys; sys.modules['tensorrt'] = None; from common.cli import run_cli; "
            "from engine.cli import main; sys.exit(run_cli(main, ['build', '--onnx', sys.argv[1], '--batch', '4']))")
    done = subprocess.run([sys.executable, "-c", code, str(onnx_path)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: TensorRT is not installed") and "docker" in lines[0]
    assert not (tmp_path / "q.engine").exists()


def test_major_version():
    assert errors.major_version("10.8.0.43") == 10 and errors.major_version("11.1") == 11
    with pytest.raises(QYoloError, match="major version"):
        errors.major_version("ten")


def test_version_mismatch_says_rebuild():
    errors.check_engine_version("m.engine", "10.8.0.43", "10.8.0.43")
    errors.check_engine_version("m.engine", None, "10.8.0.43")  # no sidecar: let TensorRT decide
    with pytest.raises(QYoloError) as info:
        errors.check_engine_version("runs/m.engine", "10.7.0.23", "10.8.0.43", "runs/m.onnx")
    message = str(info.value)
    assert "built by TensorRT 10.7.0.23" in message and "this is TensorRT 10.8.0.43" in message
    assert "Rebuild" in message and "python -m engine build --onnx runs/m.onnx --out runs/m.engine" in message
    assert "delete it and run `make engine`" in message and "\n" not in message


def test_deserialize_failure_lists_causes():
    message = errors.deserialize_failure_message("m.engine", "10.8.0.43", None)
    assert "another TensorRT version" in message and "GPU architecture" in message and "make engine" in message


def test_int8_support_by_compute_capability():
    assert errors.int8_supported((7, 0)) and errors.int8_supported((7, 5)) and errors.int8_supported((9, 0))
    assert not errors.int8_supported((6, 1)) and not errors.int8_supported((6, 0))
    errors.check_int8_support("NVIDIA H100", (9, 0))
    errors.check_int8_support("Tesla V100", (7, 0))
    with pytest.raises(QYoloError) as info:
        errors.check_int8_support("Tesla P4", (6, 1))
    message = str(info.value)
    assert message.startswith("GPU Tesla P4 (compute capability 6.1) is older than the GPUs TensorRT 10 supports")
    assert "compute capability 7.0, Volta, or newer" in message and "PRECISION" not in message


def test_checked_names_the_failed_tensorrt_call():
    assert errors.checked("context", "create an execution context", "m.engine") == "context"
    with pytest.raises(QYoloError, match="could not create an execution context for m.engine"):
        errors.checked(None, "create an execution context", "m.engine")


class _FakeParserError:
    def __init__(self, text, desc=""):
        self.text, self._desc = text, desc

    def __str__(self):
        return self.text

    def desc(self):
        return self._desc


def test_parser_errors_are_printed_in_full():
    texts = [errors.parser_error_text(_FakeParserError("In node 3 (Conv): INVALID_NODE: bad weights")),
             errors.parser_error_text(_FakeParserError("", desc="unsupported op Foo"))]
    assert texts[1] == "desc=unsupported op Foo"
    message = errors.format_parser_errors("m.onnx", texts)
    assert message.splitlines()[0] == "TensorRT's ONNX parser rejected m.onnx:"
    assert "[1] In node 3 (Conv): INVALID_NODE: bad weights" in message and "[2] desc=unsupported op Foo" in message
    assert "export.lint" in message
    assert "gave no details" in errors.format_parser_errors("m.onnx", [])


def test_cli_build_rejects_bad_settings_in_one_line(tmp_path):
    from engine.cli import main

    onnx_path = write_model(tmp_path / "q.onnx", qdq="int8")
    with pytest.raises(QYoloError, match="batch must be >= 1"):
        main(["build", "--onnx", str(onnx_path), "--batch", "0"])
    with pytest.raises(QYoloError, match="static batch of 1"):
        main(["build", "--onnx", str(write_model(tmp_path / "s.onnx", qdq="int8", batch=1)), "--batch", "8"])
