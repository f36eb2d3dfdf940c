"""common.provenance: one sidecar naming rule, content hashes, installed versions."""
import hashlib

from common.provenance import file_sha256, sidecar_path, versions


def test_sidecar_path_appends_json_to_the_full_name(tmp_path):
    assert sidecar_path(tmp_path / "uh-asym-w8a8.pt") == tmp_path / "uh-asym-w8a8.pt.json"
    assert sidecar_path("runs/x/fp32.onnx").as_posix() == "runs/x/fp32.onnx.json"


def test_file_sha256_in_chunks(tmp_path):
    path = tmp_path / "blob"
    data = bytes(range(256)) * 1000
    path.write_bytes(data)
    assert file_sha256(path, chunk=1000) == hashlib.sha256(data).hexdigest()


def test_versions_lists_installed_modules_only():
    import numpy

    found = versions("numpy", "no_such_module_q_yolo")
    assert found["numpy"] == numpy.__version__ and "no_such_module_q_yolo" not in found
    assert {"python", "platform"} <= set(found)
