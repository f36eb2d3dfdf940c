"""Reading a user's ONNX file with one clear error for a missing, empty or undecodable file, and its opset.

An ONNX written by `python -m export` carries its own record (metadata_props "qyolo.export_record"); its JSON
sidecar is derived from it and checked against the file's content hash on every read (common.paired).
"""
import json
from pathlib import Path

from common.errors import QYoloError
from common.input_file import read_bytes
from common.paired import verify_sidecar

RECORD_KEY = "qyolo.export_record"


def sidecar_record(model) -> dict:
    """The sidecar an exported ONNX's own record rebuilds: the embedded record plus its metadata_props."""
    props = {p.key: p.value for p in model.metadata_props}
    record = json.loads(props.pop(RECORD_KEY, "{}"))
    return {**record, "metadata": props}


def _tensors(graph):
    """Every TensorProto of a graph: initializers and node attributes, subgraphs included."""
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            for subgraph in ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs):
                yield from _tensors(subgraph)


def _check_external_data(model, path: Path) -> None:
    """Weights kept beside the graph (tensors > 2 GB, or exported that way) must be there, whole."""
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    for tensor in _tensors(model.graph):
        if not uses_external_data(tensor):
            continue
        info = ExternalDataInfo(tensor)
        location = path.parent / info.location
        what = f"{path} keeps tensor {tensor.name!r} in the external data file {info.location!r}"
        if not info.location or Path(info.location).is_absolute() or ".." in Path(info.location).parts:
            raise QYoloError(f"{what}, outside its folder; ONNX external data lies beside the .onnx: re-export it")
        if not location.is_file():
            raise QYoloError(f"{what}, which is missing ({location}); copy it beside the .onnx file")
        end = (info.offset or 0) + (info.length or 0)
        if location.stat().st_size < end:
            raise QYoloError(f"{what}, which is shorter ({location.stat().st_size} bytes) than the tensor needs "
                             f"({end}); the copy is incomplete: copy it again")


def _check_versions(model, path: Path) -> None:
    """IR and opset within what the installed onnx knows (runtimes know at most as much)."""
    import onnx

    if model.ir_version > onnx.IR_VERSION:
        raise QYoloError(f"{path} has ONNX IR version {model.ir_version}, newer than this installation reads "
                         f"({onnx.IR_VERSION}, onnx {onnx.__version__}); export it with an older IR or upgrade onnx")
    newest = onnx.defs.onnx_opset_version()
    if opset_version(model) > newest:
        raise QYoloError(f"{path} uses ONNX opset {opset_version(model)}, newer than this installation knows "
                         f"({newest}, onnx {onnx.__version__}); export it at opset <= {newest} (--opset)")


def load_onnx(path: str | Path, missing_hint: str = "export it first (`make export` or `python -m export`)"):
    """The onnx.ModelProto at `path` (external data not loaded, but checked to be there), or QYoloError naming the
    file."""
    import onnx

    path = Path(path)
    if path.is_dir():
        raise QYoloError(f"ONNX file {path} is a folder; give the .onnx file")
    if not path.exists():
        raise QYoloError(f"ONNX file {path} does not exist; {missing_hint}")
    data = read_bytes(path, "ONNX file", missing_hint)
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf decode errors have many types
        raise QYoloError(f"{path} is not a readable ONNX model ({type(exc).__name__}: {exc}); it is truncated or "
                         "not ONNX: re-export it (python -m export)") from None
    if not model.graph.node:  # protobuf decodes an empty (or all-unknown) file as an empty model
        raise QYoloError(f"{path} holds no ONNX graph ({len(data)} bytes: empty or not an ONNX model); "
                         "re-export it (python -m export)")
    _check_versions(model, path)
    _check_external_data(model, path)
    if any(p.key == RECORD_KEY for p in model.metadata_props):
        verify_sidecar(path, data, lambda: sidecar_record(model))
    return model


def opset_version(model) -> int:
    """The default-domain opset an onnx.ModelProto declares (0 when it declares none)."""
    return max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
