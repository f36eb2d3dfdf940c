"""Atomic writes: the umask is respected, output locations are checked before work, a full disk is one line."""
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from common.atomic import (
    check_output_dir,
    check_output_file,
    temporary_folder,
    write_bytes_atomic,
    write_json_atomic,
)
from common.errors import QYoloError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600), (0o002, 0o664)])
def test_files_get_the_mode_the_umask_gives(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        path = write_json_atomic(tmp_path / "m.json", {"a": 1})
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == mode
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_existing_folder_as_output_file_is_refused(tmp_path):
    with pytest.raises(QYoloError, match=r"^--out .* is an existing folder; give a file path"):
        check_output_file(tmp_path)
    with pytest.raises(QYoloError, match=r"is an existing folder; give a file path to write"):
        write_json_atomic(tmp_path, {})


def test_output_under_a_file_is_refused_naming_the_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(QYoloError, match=r"cannot write --out .*/f/m\.pt \(.*/f is a file, not a folder\)"):
        check_output_file(tmp_path / "f" / "m.pt")
    with pytest.raises(QYoloError, match=r"--out .*/f is an existing file; give a folder path"):
        check_output_dir(tmp_path / "f")


def test_unwritable_folder_is_refused_before_work(tmp_path):
    if os.geteuid() == 0:
        target = Path("/proc/qyolo-never/m.pt")  # root may write anywhere a normal file system allows
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = locked / "m.pt"
    with pytest.raises(QYoloError, match=r"cannot write --out .*m\.pt \(.*\); choose a writable path"):
        check_output_file(target)


def _run_limited(code: str, folder: Path, limit: int) -> subprocess.CompletedProcess:
    """Run `code` in a child whose files may not grow beyond `limit` bytes (the kernel answers EFBIG)."""
    prologue = textwrap.dedent(f"""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
        from common.cli import run_cli
        folder = {str(folder)!r}
    """)
    return subprocess.run([sys.executable, "-c", prologue + textwrap.dedent(code)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_file_size_limit_is_one_line_and_leaves_no_temp_file(tmp_path):
    result = _run_limited("""
        from common.atomic import write_bytes_atomic
        sys.exit(run_cli(lambda argv: write_bytes_atomic(folder + "/big.bin", b"x" * 3_000_000) and 0))
    """, tmp_path, 1 << 20)
    assert result.returncode == 2, result.stderr
    assert re.fullmatch(rf"error: cannot write {tmp_path}/big\.bin: file too large for this location \(file-size "
                        r"limit\) \(\d+ MiB free there\); free some space or choose another output path\n",
                        result.stderr), result.stderr
    assert list(tmp_path.iterdir()) == []


def test_torch_save_running_out_of_room_is_one_line(tmp_path):
    """torch.save's own writer reports a short write as 'unexpected pos ...': still one line naming the file."""
    result = _run_limited("""
        import torch
        from common.atomic import write_bytes_atomic
        data = torch.zeros(1_000_000)
        sys.exit(run_cli(lambda argv: write_bytes_atomic(folder + "/a.pt", lambda tmp: torch.save(data, tmp)) and 0))
    """, tmp_path, 1 << 20)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot write {tmp_path}/a.pt: the write failed part-way")
    assert "free some space or choose another output path" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_full_disk_is_one_line(tmp_path):
    """A real full file system (a 1 MiB tmpfs) when this machine lets the test mount one."""
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root); the file-size-limit tests cover the translation")
    try:
        with pytest.raises(QYoloError, match=r"cannot write .*/big\.bin: no space left on the device \(\d+ MiB free "
                                             r"there\); free some space or choose another output path"):
            write_bytes_atomic(mount / "big.bin", b"x" * 3_000_000)
        assert list(mount.iterdir()) == []
    finally:
        subprocess.run(["umount", str(mount)], check=True)
def test_temporary_folder_is_removed_on_exit_and_on_error(tmp_path, monkeypatch):


    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    with temporary_folder("qyolo-test-") as folder:
        (folder / "x").write_text("x")
        assert folder.parent == tmp_path and folder.name.startswith("qyolo-test-")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(KeyboardInterrupt):
        with temporary_folder("qyolo-test-") as folder:
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_interrupt_while_the_temporary_file_is_created_leaves_nothing(tmp_path):
    """An interrupt that arrives between mkstemp and the cleanup being armed is deferred into the guarded block.

    In a fresh interpreter: raising a signal in the test process itself, after other tests loaded the runtimes'
    native thread pools, can crash it."""
    script = textwrap.dedent(f"""
        import signal, sys, tempfile
        from pathlib import Path
        from common.atomic import atomic_path

        # a shell that starts jobs in the background sets SIGINT to "ignore", and Python then installs no
        # KeyboardInterrupt handler: install it, so the test does not depend on how it was launched
        signal.signal(signal.SIGINT, signal.default_int_handler)
        real_mkstemp = tempfile.mkstemp

        def mkstemp_then_sigint(*args, **kwargs):
            made = real_mkstemp(*args, **kwargs)
            signal.raise_signal(signal.SIGINT)  # lands right after the file exists
            return made

        tempfile.mkstemp = mkstemp_then_sigint
        try:
            with atomic_path(Path({str(tmp_path)!r}) / "out.bin") as tmp:
                tmp.write_bytes(b"never")
        except KeyboardInterrupt:
            sys.exit(0)
        sys.exit(1)
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []
