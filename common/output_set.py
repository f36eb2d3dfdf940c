"""Files one run writes together (eval's detections + report + metrics, mixed's artifact + plot + JSON, ...), kept
consistent as a set.

Each file is written atomically on its own (common.atomic), so the set needs two more rules:
- the set's record (the JSON that describes the run: metrics.json, mixed.json, ranges.json, ...) is removed before
  the run writes its first file, and written last: a run killed midway leaves its new files without a record,
  never the new files beside an older run's record;
- the record names the run and the sha256 of every other file of the set (its "run" entry), so any reader can
  check that the files beside it are the ones it describes (`check_output_set`).
"""
import contextlib
import datetime
import hashlib
import os
import uuid
from pathlib import Path
from typing import Any, Iterable

from common.atomic import write_json_atomic

RUN_KEY = "run"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _name(member: Path, record: Path) -> str:
    """How the record names a member: relative to the record's folder when inside it."""
    try:
        return str(Path(os.path.abspath(member)).relative_to(Path(os.path.abspath(record)).parent))
    except ValueError:
        return str(Path(os.path.abspath(member)))


def begin_output_set(record: str | os.PathLike) -> None:
    """Remove the previous run's record before this run writes the first file of its set."""
    with contextlib.suppress(FileNotFoundError):
        Path(record).unlink()


def commit_output_set(record: str | os.PathLike, content: dict[str, Any], members: Iterable[str | os.PathLike]) -> Path:
    """Write the record (`content` plus the run entry naming every member's hash, added to `content` in place),
    atomically, as the last file of the set; returns its path."""
    record = Path(record)
    files = {_name(Path(m), record): _sha256(Path(m)) for m in members if m is not None}
    run = {"id": uuid.uuid4().hex[:12], "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"), "files": files}
    content[RUN_KEY] = run
    return Path(write_json_atomic(record, content))


def check_output_set(record: str | os.PathLike, content: dict[str, Any]) -> list[str]:
    """Problems (one line each) with the files the record at `record` (already read as `content`) describes:
    missing, or not the file that run wrote. Records written before sets were recorded have none."""
    record = Path(record)
    run = content.get(RUN_KEY) if isinstance(content, dict) else None
    if not isinstance(run, dict) or not isinstance(run.get("files"), dict):
        return []
    problems = []
    for name, digest in run["files"].items():
        member = Path(name) if Path(name).is_absolute() else record.parent / name
        if not member.is_file():
            problems.append(f"{member}, written with {record} (run {run.get('id')}), is missing")
        elif _sha256(member) != digest:
            problems.append(f"{member} is not the file {record} describes (run {run.get('id')}): another run "
                            "rewrote it; rerun to get a consistent set")
    return problems
