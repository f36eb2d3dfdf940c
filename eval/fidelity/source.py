"""Where a deployed model came from: the calibrated artifact behind an ONNX graph or a TensorRT engine, and the
images to compare them on.

The export stage records the artifact in the graph's metadata (`qyolo.artifact`, its sha256) and in the JSON
sidecar; an engine's sidecar names its source ONNX. A relative path is tried from the current directory, then
from the deployed file's folder (a run folder moved as a whole still resolves).
"""
import json
from pathlib import Path

from common.errors import QYoloError
from common.input_file import read_text
from common.onnx_file import load_onnx
from export.metadata import check_metadata

NOT_QUANTIZED = "not quantized"


def _resolve(recorded: str, beside: Path) -> Path | None:
    for candidate in (Path(recorded), beside.parent / recorded, beside.parent / Path(recorded).name):
        if candidate.is_file():
            return candidate
    return None


def _from_onnx(onnx_path: Path) -> tuple[Path | None, str | None, str]:
    """(artifact path or None, recorded sha256, what was found) for an exported graph."""
    model = load_onnx(onnx_path, "export it first (python -m export)")
    meta = check_metadata({p.key: p.value for p in model.metadata_props}, onnx_path)
    if meta.get("qyolo.profile") == "fp32" or not any(n.op_type == "QuantizeLinear" for n in model.graph.node):
        return None, None, NOT_QUANTIZED
    recorded, sha = meta.get("qyolo.artifact"), meta.get("qyolo.artifact_sha256")
    if recorded is None:
        sidecar = onnx_path.with_name(onnx_path.name + ".json")
        if sidecar.is_file():
            try:
                source = json.loads(read_text(sidecar, "export sidecar")).get("source") or {}
            except (json.JSONDecodeError, AttributeError):
                source = {}
            recorded = source.get("path") if isinstance(source, dict) else None
    if recorded is None:
        return None, None, f"{onnx_path} does not record the artifact it was exported from; give --artifact"
    found = _resolve(recorded, onnx_path)
    if found is None:
        return None, sha, f"the artifact {recorded} recorded in {onnx_path} is not there; give --artifact"
    return found, sha, "ok"


def _from_engine(engine_path: Path) -> tuple[Path | None, str | None, str]:
    sidecar = engine_path.with_name(engine_path.name + ".json")
    if not sidecar.is_file():
        return None, None, f"{engine_path} has no sidecar {sidecar.name} naming its source ONNX; give --artifact"
    try:
        content = json.loads(read_text(sidecar, "engine sidecar"))
    except json.JSONDecodeError:
        return None, None, f"engine sidecar {sidecar} is not valid JSON; give --artifact"
    onnx_meta = content.get("onnx_metadata") or {}
    if onnx_meta.get("qyolo.profile") == "fp32":
        return None, None, NOT_QUANTIZED
    recorded = onnx_meta.get("qyolo.artifact")
    if recorded:
        found = _resolve(recorded, engine_path)
        if found is not None:
            return found, onnx_meta.get("qyolo.artifact_sha256"), "ok"
    source_onnx = content.get("source_onnx")
    onnx_path = _resolve(source_onnx, engine_path) if source_onnx else None
    if onnx_path is None:
        return None, None, f"neither the artifact nor the source ONNX of {engine_path} is there; give --artifact"
    return _from_onnx(onnx_path)


def find_artifact(model_path: str | Path) -> tuple[Path | None, str]:
    """(the calibrated artifact a deployed model was made from, or None; "ok" or why not).

    A recorded sha256 that no longer matches the file means the artifact was recalibrated after the export:
    comparing against it would judge the wrong model, so that is reported instead.
    """
    from common.provenance import file_sha256

    path = Path(model_path)
    artifact, sha, status = _from_engine(path) if path.suffix in (".engine", ".plan") else _from_onnx(path)
    if artifact is not None and sha and file_sha256(artifact) != sha:
        return None, (f"the artifact {artifact} changed after {path.name} was exported from it (sha256 differs); "
                      f"re-export, or give --artifact with the file it was made from")
    return artifact, status


def comparison_images(artifact_meta: dict, data: str | Path | None, n: int, fallback: str | Path | None = None,
                      seed: int = 0) -> list[Path]:
    """`n` images: from `data` when given, else the artifact's own calibration images, else from `fallback`."""
    from yolo.datasets import sample_calibration_images

    if data is not None:
        return list(sample_calibration_images(data, n, seed))
    calibration = artifact_meta.get("calibration")
    listed = calibration.get("images") if isinstance(calibration, dict) else None
    present = [Path(p) for p in listed or [] if isinstance(p, str) and Path(p).is_file()][:n]
    if present:
        return present
    if fallback is not None:
        return list(sample_calibration_images(fallback, n, seed))
    source = artifact_meta.get("path", "the artifact")
    raise QYoloError(f"the calibration images that {source} lists are not there (moved, or another machine); "
                     f"give images to compare on with --data <folder or dataset>")
