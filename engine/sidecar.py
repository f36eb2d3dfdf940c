"""The JSON written beside every engine: what built it (TensorRT, GPU, flags), from what (ONNX hash), and what it holds.

The runner reads it back to refuse an engine from another TensorRT version with a clear message instead of a
deserialization failure deep inside TensorRT.
"""
import json
import time
from pathlib import Path

from common.atomic import write_json_atomic
from common.errors import QYoloError
from common.provenance import sidecar_path

SIDECAR_FORMAT = "q-yolo-engine/1"


def make_sidecar(*, engine_path: Path, onnx_path: Path, onnx_sha256: str, tensorrt_version: str, gpu: dict,
                 precision: str, requested_precision: str, plan: dict, profile: dict, workspace_bytes: int,
                 timing_cache: str | None, layer_summary: dict, build_seconds: float, onnx_metadata: dict,
                 engine_bytes: int, versions: dict | None = None,
                 onnx_convolutions: dict[str, bool] | None = None) -> dict:
    """The sidecar content; plain data in, plain dict out (tested without TensorRT)."""
    return {
        "format": SIDECAR_FORMAT,
        "engine": Path(engine_path).name,
        "engine_bytes": engine_bytes,
        "source_onnx": str(onnx_path),
        "source_onnx_sha256": onnx_sha256,
        "tensorrt_version": tensorrt_version,
        "gpu": gpu,
        "precision": precision,
        "requested_precision": requested_precision,
        "build": plan,
        "profile": profile,
        "workspace_bytes": workspace_bytes,
        "timing_cache": timing_cache,
        "layers": layer_summary,
        "onnx_convolutions": onnx_convolutions or {},  # Conv node -> quantized; counts convs Myelin layers hold
        "build_seconds": round(build_seconds, 2),
        "onnx_metadata": onnx_metadata,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": versions or {},
    }


def write_sidecar(engine_path: str | Path, content: dict) -> Path:
    return write_json_atomic(sidecar_path(engine_path), content)


def read_sidecar(engine_path: str | Path) -> dict | None:
    """The sidecar of an engine, or None when there is none (an engine built elsewhere, e.g. by trtexec)."""
    path = sidecar_path(engine_path)
    if not path.is_file():
        return None
    try:
        content = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise QYoloError(f"engine sidecar {path} is not valid JSON ({exc}); delete it or rebuild the engine") from None
    if not isinstance(content, dict):
        raise QYoloError(f"engine sidecar {path} holds a JSON {type(content).__name__}, not the object `python -m "
                         "engine build` writes; delete it or rebuild the engine")
    if content.get("format") != SIDECAR_FORMAT:
        raise QYoloError(f"{path} is not an engine sidecar of this project (format {content.get('format')!r}, "
                         f"expected {SIDECAR_FORMAT!r}); rebuild the engine")
    return content

