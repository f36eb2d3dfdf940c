"""Reading a user's input file (a yaml, a JSON, a label list) with one line for every way it cannot be read.

Missing, a folder, a device or FIFO (reading one could block forever), permission denied, binary content where
text belongs: each is named with the file and what to do, instead of a traceback or a misleading "corrupt" verdict.
"""
import os
import stat
from pathlib import Path

from common.errors import QYoloError


def check_readable(path: str | os.PathLike, what: str, hint: str = "check the path") -> Path:
    """`path` as a Path when it is a regular file this process may read; else QYoloError naming it."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise QYoloError(f"{what} {path} does not exist; {hint}") from None
    except PermissionError:
        raise QYoloError(f"cannot read {what} {path}: permission denied on a folder of its path; make it "
                         "accessible or copy the file elsewhere") from None
    except OSError as exc:
        raise QYoloError(f"cannot read {what} {path}: {exc.strerror or exc}; {hint}") from None
    if stat.S_ISDIR(mode):
        raise QYoloError(f"{what} {path} is a folder; give the file")
    if not stat.S_ISREG(mode):
        raise QYoloError(f"{what} {path} is not a regular file (a device, FIFO or socket); give a file")
    if not os.access(path, os.R_OK):
        raise QYoloError(f"cannot read {what} {path}: permission denied; make it readable (chmod) or run as a "
                         "user who may read it")
    return path


def read_bytes(path: str | os.PathLike, what: str, hint: str = "check the path") -> bytes:
    path = check_readable(path, what, hint)
    try:
        return path.read_bytes()
    except PermissionError:
        raise QYoloError(f"cannot read {what} {path}: permission denied; make it readable (chmod) or run as a "
                         "user who may read it") from None
    except OSError as exc:
        raise QYoloError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def read_text(path: str | os.PathLike, what: str, hint: str = "check the path") -> str:
    """The file's text (UTF-8); a binary file is one line saying it is not text."""
    data = read_bytes(path, what, hint)
    if b"\x00" in data[:8192]:
        raise QYoloError(f"{what} {path} is a binary file, not text; give the {what} itself")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise QYoloError(f"{what} {path} is not UTF-8 text (byte {exc.start}); give the {what} itself, saved as "
                         "UTF-8") from None
