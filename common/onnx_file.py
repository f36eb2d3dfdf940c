"""Reading a user's ONNX file with one clear error for a missing or undecodable file, and its opset."""
from pathlib import Path

from common.errors import QYoloError


def load_onnx(path: str | Path, missing_hint: str = "export it first (`make export` or `python -m export`)"):
    """The onnx.ModelProto at `path` (external data not loaded), or QYoloError naming the file."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise QYoloError(f"ONNX file {path} does not exist; {missing_hint}")
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf decode errors have many types
        raise QYoloError(f"{path} is not a readable ONNX model ({type(exc).__name__}: {exc})") from None


def opset_version(model) -> int:
    """The default-domain opset an onnx.ModelProto declares (0 when it declares none)."""
    return max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
