"""An artifact file and its JSON sidecar, consistent by construction.

The artifact carries its own record (the calibrated .pt holds its metadata, the ONNX holds it in metadata_props);
the sidecar is a derived, human-readable copy stamped with the artifact's content hash. Writers write the
artifact first, then the sidecar: a run killed between the two leaves the new artifact beside the old sidecar,
which every load detects (hash mismatch), reports in one line and rewrites from the artifact's own record.
"""
import hashlib
import json
from pathlib import Path
from typing import Any, Callable

from common.atomic import write_bytes_atomic, write_json_atomic
from common.errors import QYoloError
from common.log import get_logger
from common.provenance import sidecar_path

HASH_KEY = "artifact_sha256"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_pair(path: str | Path, data: bytes, record: dict[str, Any]) -> Path:
    """Write `data` atomically to `path`, then its sidecar: `record` plus the hash of `data`."""
    path = Path(path)
    write_bytes_atomic(path, data)
    write_json_atomic(sidecar_path(path), {**record, HASH_KEY: sha256_of(data)})
    return path


def _sidecar_state(sidecar: Path, digest: str) -> str | None:
    """None when the sidecar matches `digest`, else why not."""
    try:
        content = json.loads(sidecar.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return "is not readable JSON"
    if not isinstance(content, dict) or HASH_KEY not in content:
        return "carries no content hash (written by an older version)"
    if content[HASH_KEY] != digest:
        return "describes another file than the one beside it (an interrupted write?)"
    return None


def verify_sidecar(path: str | Path, data: bytes, record: Callable[[], dict[str, Any]]) -> bool:
    """True when `path`'s sidecar describes `data`; else rewrite it from `record()` and say so in one line.

    A missing sidecar is left missing (an artifact copied on its own is complete by itself).
    """
    path = Path(path)
    sidecar = sidecar_path(path)
    if not sidecar.exists():
        return True
    digest = sha256_of(data)
    problem = _sidecar_state(sidecar, digest)
    if problem is None:
        return True
    log = get_logger()
    try:
        write_json_atomic(sidecar, {**record(), HASH_KEY: digest})
    except (QYoloError, OSError) as exc:
        log.warning(f"sidecar {sidecar} {problem}; {path} itself is complete and is what is used "
                    f"(could not rewrite the sidecar: {exc})")
        return False
    log.warning(f"sidecar {sidecar} {problem}; rewritten from {path}, which carries its own record")
    return False
