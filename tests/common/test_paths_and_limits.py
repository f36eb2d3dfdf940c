"""Inputs that cannot be read, outputs that are not files, leftovers of killed runs, sizes the machine cannot hold:
each one line before any work."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from common import atomic
from common.atomic import atomic_path, check_output_dir, check_output_file, temporary_folder, write_json_atomic
from common.errors import QYoloError
from common.input_file import read_text
from common.memory import check_fits

ROOT = Path(__file__).resolve().parents[2]


def test_unreadable_inputs_are_one_line(tmp_path, monkeypatch):
    fifo = tmp_path / "data.json"
    os.mkfifo(fifo)
    with pytest.raises(QYoloError, match=r"data\.json is not a regular file \(a device, FIFO or socket\)"):
        read_text(fifo, "annotation file")  # would block forever if opened
    locked = tmp_path / "locked.yaml"
    locked.write_text("x: 1")

    def denied(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", denied)  # the tests may run as root, whom chmod does not stop
    with pytest.raises(QYoloError, match=r"cannot read model yaml .*locked\.yaml: permission denied; make it "
                                         r"readable"):
        read_text(locked, "model yaml")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_a_file_without_read_permission_is_not_called_corrupt(tmp_path):
    from common.pt_file import read_pt

    path = tmp_path / "w.pt"
    path.write_bytes(b"x")
    path.chmod(0)
    with pytest.raises(QYoloError, match="permission denied"):
        read_pt(path)


def _socket(path: Path) -> socket.socket:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    return server


def test_outputs_never_replace_a_device_fifo_or_socket(tmp_path):
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    sock_path = tmp_path / "s.json"
    server = _socket(sock_path)
    try:
        for special, kind in ((fifo, r"a FIFO \(named pipe\)"), (sock_path, "a socket")):
            with pytest.raises(QYoloError, match=f"is {kind}, not a regular file"):
                check_output_file(special)
            with pytest.raises(QYoloError, match=f"is {kind}, not a regular file"):
                write_json_atomic(special, {"a": 1})
            with pytest.raises(QYoloError, match=f"is {kind}, not a regular file"):
                check_output_dir(special)
        assert fifo.is_fifo() and sock_path.is_socket()
    finally:
        server.close()
    # a character device: checked only (a failing check must not get near the real device)
    with pytest.raises(QYoloError, match=r"--json /dev/null is a character device, not a regular file"):
        check_output_file("/dev/null", "--json")


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_temporaries_of_killed_runs_are_removed_by_the_next(tmp_path, monkeypatch):
    tag = f"qyolo-{atomic._HOST}"
    stale_file = tmp_path / f".metrics.json.{tag}-{_dead_pid()}-abc123.tmp"
    live_file = tmp_path / f".metrics.json.{tag}-{os.getppid()}-abc123.tmp"  # a running process's: kept
    other_host = tmp_path / f".metrics.json.qyolo-elsewhere-{_dead_pid()}-abc123.tmp"  # maybe alive there: kept
    unrelated = tmp_path / ".metrics.json.abc.tmp"
    for path in (stale_file, live_file, other_host, unrelated):
        path.write_text("partial")
    write_json_atomic(tmp_path / "metrics.json", {"a": 1})
    assert not stale_file.exists() and live_file.exists() and other_host.exists() and unrelated.exists()
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    stale_folder = tmp_path / f"qyolo-export-{tag}-{_dead_pid()}-xyz"
    stale_folder.mkdir()
    (stale_folder / "raw.onnx").write_bytes(b"x")
    with temporary_folder("qyolo-export-") as folder:
        assert folder.name.startswith(f"qyolo-export-{tag}-{os.getpid()}-")
    assert not stale_folder.exists()


def test_a_temporary_name_says_which_process_made_it(tmp_path):
    with atomic_path(tmp_path / "a.json") as tmp:
        assert tmp.name.startswith(f".a.json.qyolo-{atomic._HOST}-{os.getpid()}-") and tmp.name.endswith(".tmp")


def test_sizes_beyond_the_memory_are_refused():
    with pytest.raises(QYoloError, match=r"x needs about [\d,.]+ GiB of memory, but [\d,.]+ GiB are available on "
                                         r"this machine; smaller"):
        check_fits(2 ** 60, "x", "smaller")
    check_fits(1, "x", "smaller")


@pytest.mark.parametrize("argv,message", [
    (["-m", "eval", "--weights", "yolo/assets/fixture.pt", "--data", "{data}", "--imgsz", "99968", "--no-progress",
      "--out", "{tmp}/e"], "at --imgsz 99968 and --batch 8 needs about"),
    (["-m", "eval", "--weights", "yolo/assets/fixture.pt", "--data", "{data}", "--imgsz", "256", "--batch", "100000",
      "--no-progress", "--out", "{tmp}/e"], "at --imgsz 256 and --batch 100000 needs about"),
    (["-m", "export", "--weights", "yolo/assets/fixture.pt", "--profile", "fp32", "--imgsz", "99968", "--out",
      "{tmp}/m.onnx"], "exporting m.onnx at --imgsz 99968 and --batch 1 needs about"),
])
def test_impossible_sizes_are_one_line_before_allocating(tmp_path, argv, message):
    data = tmp_path / "instances_val.json"
    (tmp_path / "val").mkdir()
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / "val" / "1.jpg"), np.zeros((64, 64, 3), np.uint8))
    from yolo.synthetic import CLASS_NAMES

    data.write_text(json.dumps({"images": [{"id": 1, "file_name": "1.jpg", "width": 64, "height": 64}],
                                "annotations": [],
                                "categories": [{"id": i + 1, "name": n} for i, n in enumerate(CLASS_NAMES)]}))
    argv = [a.replace("{data}", str(data)).replace("{tmp}", str(tmp_path)) for a in argv]
    done = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert message in done.stderr.strip().splitlines()[-1]
