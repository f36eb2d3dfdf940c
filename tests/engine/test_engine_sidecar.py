"""Sidecar round trip, what the runner does with it (refuses an engine of another TensorRT), refusal of foreign
or broken sidecars, and `python -m engine inspect` reading it."""
import json
from pathlib import Path

import pytest

from common.errors import QYoloError
from common.provenance import file_sha256, sidecar_path
from engine.errors import check_engine_version
from engine.sidecar import make_sidecar, read_sidecar, write_sidecar


def _content(tmp_path):
    onnx_path = tmp_path / "m.onnx"
    onnx_path.write_bytes(b"onnx-bytes")
    return make_sidecar(
        engine_path=tmp_path / "m.engine", onnx_path=onnx_path, onnx_sha256=file_sha256(onnx_path),
        tensorrt_version="10.8.0.43", gpu={"name": "NVIDIA H100 80GB HBM3", "compute_capability": [9, 0]},
        precision="int8", requested_precision="int8",
        plan={"strongly_typed": False, "flags": ["INT8", "FP16"]},
        profile={"input": "images", "min": [1, 3, 256, 256], "opt": [32, 3, 256, 256], "max": [32, 3, 256, 256]},
        workspace_bytes=4 << 30, timing_cache="runs/engines/timing.cache",
        layer_summary={"int8_convolutions": 1, "convolutions": 3, "total_layers": 7}, build_seconds=41.234,
        onnx_metadata={"profile": "trt"}, engine_bytes=123, versions={"torch": "2.6"})


def test_round_trip_and_path(tmp_path):
    engine = tmp_path / "m.engine"
    assert sidecar_path(engine) == tmp_path / "m.engine.json"
    assert read_sidecar(engine) is None
    content = _content(tmp_path)
    write_sidecar(engine, content)
    assert read_sidecar(engine) == content  # plain JSON data, read back unchanged


def test_the_runner_refuses_an_engine_of_another_tensorrt(tmp_path):
    engine = tmp_path / "m.engine"
    write_sidecar(engine, _content(tmp_path))
    sidecar = read_sidecar(engine)
    check_engine_version(str(engine), sidecar["tensorrt_version"], "10.8.0.43", sidecar["source_onnx"])
    with pytest.raises(QYoloError) as info:
        check_engine_version(str(engine), sidecar["tensorrt_version"], "11.1.0.7", sidecar["source_onnx"])
    message = str(info.value)
    assert "built by TensorRT 10.8.0.43, but this is TensorRT 11.1.0.7" in message
    assert f"--onnx {tmp_path / 'm.onnx'} --out {engine}" in message


def test_foreign_or_broken_sidecar(tmp_path):
    engine = tmp_path / "m.engine"
    sidecar_path(engine).write_text("{broken")
    with pytest.raises(QYoloError, match="not valid JSON"):
        read_sidecar(engine)
    sidecar_path(engine).write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(QYoloError, match="not an engine sidecar"):
        read_sidecar(engine)


def test_inspect_cli_reads_sidecar_and_layers_without_tensorrt(tmp_path, capsys):
    from engine.cli import main

    engine = tmp_path / "m.engine"
    engine.write_bytes(b"not used")
    write_sidecar(engine, _content(tmp_path))
    layers = (Path(__file__).parent / "data" / "inspector_trt10.json").read_text()
    (tmp_path / "m.engine.layers.json").write_text(layers)
    assert main(["inspect", str(engine)]) == 0
    out = capsys.readouterr().out
    assert '"tensorrt_version": "10.8.0.43"' in out and "convolutions in INT8: 1/3 (33%)" in out
    with pytest.raises(QYoloError, match="no sidecar"):
        main(["inspect", str(tmp_path / "other.engine")])
