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


def _git(root, *args):
    import subprocess

    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True,
                   capture_output=True)


def test_source_commit_of_a_checkout_clean_and_dirty(tmp_path):
    import shutil

    import pytest

    from common.provenance import source_commit

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    assert source_commit(tmp_path) == {"commit": None, "dirty": None}  # not a checkout
    _git(tmp_path, "init", "-q")
    (tmp_path / "f.txt").write_text("a")
    _git(tmp_path, "add", "f.txt")
    _git(tmp_path, "commit", "-q", "-m", "one")
    found = source_commit(tmp_path)
    assert len(found["commit"]) == 40 and found["dirty"] is False
    (tmp_path / "new.txt").write_text("untracked files do not make it dirty")
    assert source_commit(tmp_path)["dirty"] is False
    (tmp_path / "f.txt").write_text("b")
    assert source_commit(tmp_path) == {"commit": found["commit"], "dirty": True}


def test_run_provenance_names_the_command_the_cpu_and_the_time(monkeypatch):
    import sys

    from common.provenance import cpu_name, run_provenance

    monkeypatch.setattr(sys, "argv", ["/somewhere/sweep/__main__.py", "--bits", "8-8"])
    found = run_provenance()
    assert found["command"] == "python -m sweep --bits 8-8" and found["cpu"] == cpu_name() and cpu_name()
    assert found["date"].endswith("+00:00") and {"commit", "dirty"} <= set(found)
    assert run_provenance(["make", "table"])["command"] == "make table"
