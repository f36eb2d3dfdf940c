"""Reading a user's ONNX file with one clear error for a missing, empty or undecodable file, and its opset.

An ONNX written by `python -m export` carries its own record (metadata_props "qyolo.export_record"); its JSON
sidecar is derived from it and checked against the file's content hash on every read (common.paired).
"""
import json
from pathlib import Path

from common.errors import QYoloError
from common.paired import verify_sidecar

RECORD_KEY = "qyolo.export_record"


def sidecar_record(model) -> dict:
    """The sidecar an exported ONNX's own record rebuilds: the embedded record plus its metadata_props."""
    props = {p.key: p.value for p in model.metadata_props}
    record = json.loads(props.pop(RECORD_KEY, "{}"))
    return {**record, "metadata": props}


def load_onnx(path: str | Path, missing_hint: str = "export it first (`make export` or `python -m export`)"):
    """The onnx.ModelProto at `path` (external data not loaded), or QYoloError naming the file."""
    import onnx

    path = Path(path)
    if path.is_dir():
        raise QYoloError(f"ONNX file {path} is a folder; give the .onnx file")
    if not path.is_file():
        raise QYoloError(f"ONNX file {path} does not exist; {missing_hint}")
    data = path.read_bytes()
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf decode errors have many types
        raise QYoloError(f"{path} is not a readable ONNX model ({type(exc).__name__}: {exc}); it is truncated or "
                         "not ONNX: re-export it (python -m export)") from None
    if not model.graph.node:  # protobuf decodes an empty (or all-unknown) file as an empty model
        raise QYoloError(f"{path} holds no ONNX graph ({len(data)} bytes: empty or not an ONNX model); "
                         "re-export it (python -m export)")
    if any(p.key == RECORD_KEY for p in model.metadata_props):
        verify_sidecar(path, data, lambda: sidecar_record(model))
    return model


def opset_version(model) -> int:
    """The default-domain opset an onnx.ModelProto declares (0 when it declares none)."""
    return max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
