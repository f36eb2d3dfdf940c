"""Sidecar content, round trip, and refusal of foreign or broken sidecars."""
import hashlib
import json
import re
from pathlib import Path

import pytest

from common.errors import QYoloError
from engine.sidecar import SIDECAR_FORMAT, file_sha256, make_sidecar, read_sidecar, sidecar_path, write_sidecar


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
        layer_summary={"int8_layers": 57, "total_layers": 80}, build_seconds=41.234,
        onnx_metadata={"profile": "trt"}, engine_bytes=123, versions={"torch": "2.6"})


def test_sidecar_content(tmp_path):
    content = _content(tmp_path)
    assert content["format"] == SIDECAR_FORMAT and content["engine"] == "m.engine"
    assert content["source_onnx_sha256"] == hashlib.sha256(b"onnx-bytes").hexdigest()
    assert content["tensorrt_version"] == "10.8.0.43" and content["gpu"]["name"].startswith("NVIDIA H100")
    assert content["build"]["flags"] == ["INT8", "FP16"] and content["profile"]["opt"][0] == 32
    assert content["layers"]["int8_layers"] == 57 and content["build_seconds"] == 41.23
    assert "python" in content["versions"] and content["versions"]["torch"] == "2.6"
    json.dumps(content)  # plain data only


def test_round_trip_and_path(tmp_path):
    engine = tmp_path / "m.engine"
    assert sidecar_path(engine) == tmp_path / "m.engine.json"
    assert read_sidecar(engine) is None
    write_sidecar(engine, _content(tmp_path))
    assert read_sidecar(engine)["tensorrt_version"] == "10.8.0.43"


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
    assert '"tensorrt_version": "10.8.0.43"' in out and "INT8 layers: 2; convolutions in INT8: 1/3" in out
    with pytest.raises(QYoloError, match="no sidecar"):
        main(["inspect", str(tmp_path / "other.engine")])


@pytest.mark.parametrize("content, message", [
    ("[1, 2]", r"engine sidecar .*m\.engine\.json holds a JSON list, not the object `python -m engine build` writes; "
               r"delete it or rebuild the engine"),
    ('"text"', r"holds a JSON str, not the object"),
    (json.dumps({"format": SIDECAR_FORMAT}), r"the sidecar of .*m\.engine has no 'layers' summary and there is no "
                                             r"m\.engine\.layers\.json; it is incomplete: rebuild the engine"),
    (json.dumps({"format": SIDECAR_FORMAT, "layers": [1]}), r"has no 'layers' summary"),
])
def test_inspect_of_a_malformed_sidecar_is_one_line(tmp_path, content, message, capsys):
    from common.cli import run_cli
    from engine.cli import main

    engine = tmp_path / "m.engine"
    engine.write_bytes(b"not used")
    sidecar_path(engine).write_text(content)
    assert run_cli(main, ["inspect", str(engine)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and re.search(message, err), err
