"""Atomic artifact writes: write to a temp file in the target folder, fsync, then rename over the target.

An interrupted run therefore leaves either the old file or the new one, never half of one; the temp file is
removed on any exception, Ctrl-C and (through common.cli.run_cli) SIGTERM. Files get the permissions the umask
gives (mkstemp alone would make them owner-only), and a full disk is one line naming the file.
"""
import contextlib
import errno
import json
import os
import re
import shutil
import signal
import socket
import stat
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from common.errors import QYoloError

# Temporary names carry the host and process that made them: a run killed outright (SIGKILL, power loss) cannot
# remove its own, so the next run removes those whose process is gone.
_HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:16] or "host"
_STALE = re.compile(r"qyolo-(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)-")
_NO_ROOM = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
            errno.EFBIG: "file too large for this location (file-size limit)"}


def _umask() -> int:
    try:  # Linux reports it without changing it (os.umask can only be read by setting it)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _temp_tag() -> str:
    return f"qyolo-{_HOST}-{os.getpid()}-"


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: alive, another user's
        return False
    return False


def remove_stale_temporaries(folder: Path) -> None:
    """Remove the temporary files and folders in `folder` that a killed run of this project left behind (this
    host's, whose process no longer exists); anything else is left alone."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        match = _STALE.search(entry.name)
        if not match or match["host"] != _HOST or int(match["pid"]) == os.getpid() or \
                not _process_gone(int(match["pid"])):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        elif entry.name.endswith((".tmp", ".probe")):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def _prepare_dir(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise QYoloError(f"cannot create output folder {path.parent}: {exc.strerror}; choose a writable path") from None
    if not os.access(path.parent, os.W_OK):
        raise QYoloError(f"output folder {path.parent} is not writable; choose a writable path")


def _free_text(folder: Path) -> str:
    try:
        return f"{shutil.disk_usage(folder).free / 2**20:.0f} MiB free there"
    except OSError:
        return "free space unknown"


def write_failure(target: Path, exc: BaseException) -> QYoloError | None:
    """The one-line error for a write that failed for lack of room (or a torch/protobuf writer's version of it)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _NO_ROOM:
            return QYoloError(f"cannot write {target}: {_NO_ROOM[seen.errno]} ({_free_text(target.parent)}); "
                              f"free some space or choose another output path")
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    if isinstance(exc, RuntimeError) and ("file write failed" in text or "unexpected pos" in text):
        return QYoloError(f"cannot write {target}: the write failed part-way ({_free_text(target.parent)}; a full "
                          f"disk or a file-size limit); free some space or choose another output path")
    return None


def _why_not(path: Path, exc: OSError) -> str:
    """The reason a file cannot be created at `path`: an ancestor that is a file, else the system's words."""
    for parent in path.parents:
        if parent.exists():
            return f"{parent} is a file, not a folder" if not parent.is_dir() else (exc.strerror or str(exc))
    return exc.strerror or str(exc)


_SPECIAL_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                  (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))


def refuse_special(path: Path, option: str) -> None:
    """An output path must be absent, a regular file or a folder: writing renames a new file over it, which would
    replace a device (`--out /dev/null` as root replaces the system's null device), a FIFO or a socket."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    for is_kind, kind in _SPECIAL_KINDS:
        if is_kind(mode):
            raise QYoloError(f"{option} {path} is {kind}, not a regular file; give a file path (outputs are written "
                             "as new files and renamed into place)")


def check_output_file(path: str | os.PathLike, option: str = "--out") -> Path:
    """Fail before any work when the file `path` cannot be written: a folder or a device there, or no file can be
    made there.

    Really creates (and removes) a probe file: root passes os.access everywhere, and some file systems refuse late.
    """
    path = Path(path)
    refuse_special(path, option)
    if path.is_dir():
        raise QYoloError(f"{option} {path} is an existing folder; give a file path (e.g. {path / 'out'}{path.suffix})")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.{_temp_tag()}", suffix=".probe", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise QYoloError(f"cannot write {option} {path} ({_why_not(path, exc)}); choose a writable path") from None
    return path


def check_output_dir(path: str | os.PathLike, option: str = "--out") -> Path:
    """Like check_output_file, for a folder the run will write files into (created when missing)."""
    path = Path(path)
    refuse_special(path, option)
    if path.exists() and not path.is_dir():
        raise QYoloError(f"{option} {path} is an existing file; give a folder path")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{_temp_tag()}", suffix=".probe", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise QYoloError(f"cannot write into {option} {path} ({_why_not(path / 'x', exc)}); choose a writable "
                         "folder") from None
    return path


_INTERRUPTS = {signal.SIGINT, signal.SIGTERM} | ({signal.SIGHUP} if hasattr(signal, "SIGHUP") else set())


def _hold_interrupts():
    """Block Ctrl-C/SIGTERM in this thread (returns the mask to restore): between creating a temporary file and
    arming its cleanup, an interrupt would otherwise leave the file behind."""
    return signal.pthread_sigmask(signal.SIG_BLOCK, _INTERRUPTS) if hasattr(signal, "pthread_sigmask") else None


def _release_interrupts(previous) -> None:
    """Restore the mask: an interrupt that came meanwhile is raised now, at the caller's line."""
    if previous is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def temporary_folder(prefix: str) -> Iterator[Path]:
    """A temporary folder removed on exit, also when Ctrl-C or SIGTERM lands while it is being created."""
    remove_stale_temporaries(Path(tempfile.gettempdir()))
    held = _hold_interrupts()
    try:
        folder = Path(tempfile.mkdtemp(prefix=f"{prefix}{_temp_tag()}"))
    except BaseException:
        _release_interrupts(held)
        raise
    try:
        _release_interrupts(held)  # inside the try: a pending interrupt raises where the cleanup catches it
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed onto `path`, on failure removed."""
    target = Path(path)
    refuse_special(target, "output")
    _prepare_dir(target)
    if target.is_dir():
        raise QYoloError(f"{target} is an existing folder; give a file path to write")
    remove_stale_temporaries(target.parent)
    held = _hold_interrupts()
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.{_temp_tag()}", suffix=".tmp", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        _release_interrupts(held)
        raise QYoloError(f"cannot create a file in {target.parent} ({exc.strerror or exc}); choose a writable path") \
            from None
    except BaseException:
        _release_interrupts(held)
        raise
    tmp = Path(tmp_name)
    try:
        _release_interrupts(held)  # inside the try: a pending interrupt raises where the cleanup catches it
        os.chmod(tmp, 0o666 & ~_umask())
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        translated = write_failure(target, exc) if isinstance(exc, Exception) else None
        if translated is not None:
            raise translated from None
        raise


def save_png_atomic(fig, path: str | os.PathLike, dpi: int) -> Path:
    """Write a matplotlib figure to `path` as PNG, atomically, and close it (also when the write fails)."""
    import matplotlib.pyplot as plt

    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    finally:
        plt.close(fig)
    return Path(path)


def write_bytes_atomic(path: str | os.PathLike, writer: Callable[[Path], None] | bytes) -> Path:
    """Move `writer(tmp_path)`'s result (or the given bytes) onto `path` atomically."""
    with atomic_path(path) as tmp:
        if isinstance(writer, (bytes, bytearray, memoryview)):
            tmp.write_bytes(writer)
        else:
            writer(tmp)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_bytes_atomic(path, lambda tmp: tmp.write_text(text))


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
