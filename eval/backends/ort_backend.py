"""`ort` eval backend: an ONNX model on ONNX Runtime's CPU provider, behind the common Backend interface.

Interface (docs/ARCHITECTURE.md): `name`, `precision`, `input_size`, `__call__(batch) -> np.ndarray` with batch =
float32 NCHW RGB in [0, 1] (letterboxed) and output = decoded predictions [B, N, 5+nc] (the graph's "pred").
A graph with a static batch size is fed in chunks of that size (the last one zero-padded).
Options: threads (intra-op threads, default 2: the machines here have 2 cores), optimization ("all" | "extended" |
"basic" | "disabled": ONNX Runtime's graph optimization level; QDQ fusion into QLinear* kernels needs >= extended).
"""
from pathlib import Path

import numpy as np

from common.errors import QYoloError, exception_line
from common.onnx_file import load_onnx
from export.metadata import check_metadata, quantization

OPTIMIZATION_LEVELS = ("disabled", "basic", "extended", "all")


def require_cpu_device(device, backend: str) -> None:
    if device not in (None, "cpu") and not str(device).startswith("cpu"):
        raise QYoloError(f"the {backend} backend runs on the CPU here; device {device!r} is not supported "
                         f"(use --device cpu, or --backend tensorrt for a GPU)")


def model_info(path: Path) -> dict:
    """Input name/shape, output name, precision label and declared size of an ONNX file (metadata when present)."""
    model = load_onnx(path, "export it first (python -m export)")
    meta = check_metadata({p.key: p.value for p in model.metadata_props}, path)
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise QYoloError(f"{path} has {len(inputs)} inputs; the eval backends expect one image input")
    dims = [d.dim_value if d.HasField("dim_value") else None for d in inputs[0].type.tensor_type.shape.dim]
    _check_image_input(inputs[0], dims, path)
    outputs = [o.name for o in model.graph.output]
    output = "pred" if "pred" in outputs else outputs[0]
    out_rank = len(next(o for o in model.graph.output if o.name == output).type.tensor_type.shape.dim)
    if out_rank not in (0, 3):  # 0: not declared
        raise QYoloError(f"{path}: its output {output!r} has {out_rank} dimensions, not a detector's [batch, boxes, "
                         "fields] (or [batch, fields, boxes]); it is not a YOLO detection model")
    has_qdq = any(n.op_type == "QuantizeLinear" for n in model.graph.node)
    precision = meta.get("qyolo.precision") or ("INT8" if has_qdq else "FP32")
    height, width = (dims[2], dims[3]) if len(dims) == 4 else (None, None)
    if height is None and meta.get("qyolo.imgsz"):  # vetted by check_metadata
        height = width = int(meta["qyolo.imgsz"])
    return {"input": inputs[0].name, "batch": dims[0] if dims else None, "hw": (height, width),
            "output": output, "precision": precision, "metadata": meta}


def _check_image_input(value, dims: list, path: Path) -> None:
    """One float32 [batch, 3, H, W] input, as the letterboxed RGB batches are."""
    import onnx

    elem = value.type.tensor_type.elem_type
    if elem != onnx.TensorProto.FLOAT:
        raise QYoloError(f"{path}: its input {value.name!r} is {onnx.TensorProto.DataType.Name(elem)}, not float32; "
                         "the backends feed float32 RGB images in [0, 1]: export the model with a float input")
    if len(dims) != 4:
        raise QYoloError(f"{path}: its input {value.name!r} has {len(dims)} dimensions, not [batch, channels, "
                         "height, width]; it is not an image detection model")
    if dims[1] is not None and dims[1] != 3:
        raise QYoloError(f"{path}: its input {value.name!r} takes {dims[1]} channel(s); the backends feed RGB images "
                         "(3 channels): use a model trained and exported for 3-channel input")


def open_failure(runtime: str, path: Path, exc: Exception) -> QYoloError:
    """The one line for a runtime that refuses a graph (an IR or opset it does not implement, an unknown operator)."""
    return QYoloError(f"{runtime} cannot load {path}: {exception_line(exc, 200)}; export the model for this runtime "
                      "(python -m export) or upgrade the runtime")


def run_in_chunks(run, batch: np.ndarray, static_batch: int | None) -> np.ndarray:
    """Call run(chunk) on chunks of the graph's static batch size (zero-padding the last), concatenate."""
    if static_batch is None or static_batch == len(batch):
        return run(batch)
    outputs = []
    for start in range(0, len(batch), static_batch):
        chunk = batch[start:start + static_batch]
        n = len(chunk)
        if n < static_batch:
            chunk = np.concatenate([chunk, np.zeros((static_batch - n, *chunk.shape[1:]), chunk.dtype)])
        outputs.append(run(chunk)[:n])
    return np.concatenate(outputs)


def check_batch(batch: np.ndarray, hw: tuple, path: Path) -> np.ndarray:
    if batch.ndim != 4 or batch.shape[1] != 3:
        raise ValueError(f"expected an NCHW batch with 3 channels, got shape {batch.shape}")
    if hw[0] is not None and tuple(batch.shape[2:]) != tuple(hw):
        raise QYoloError(f"{path} takes {hw[0]}x{hw[1]} inputs, got {batch.shape[2]}x{batch.shape[3]}: evaluate "
                         f"with --imgsz {hw[0]} or re-export at this size")
    return np.ascontiguousarray(batch, dtype=np.float32)


class OrtBackend:
    name = "ort"

    def __init__(self, model_path: str | Path, device: str | None = "cpu", threads: int = 2,
                 optimization: str = "all", **options):
        import onnxruntime as ort

        if options:
            raise QYoloError(f"ort backend: unknown options {sorted(options)} (known: threads, optimization)")
        require_cpu_device(device, self.name)
        if optimization not in OPTIMIZATION_LEVELS:
            raise QYoloError(f"ort backend: optimization must be one of {OPTIMIZATION_LEVELS}, got {optimization!r}")
        self.model_path = Path(model_path)
        info = model_info(self.model_path)
        self.precision, self.metadata = info["precision"], info["metadata"]
        self.quantization = quantization(self.metadata)
        self.threads = int(threads)
        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = self.threads
        session_options.inter_op_num_threads = 1
        session_options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        session_options.graph_optimization_level = {
            "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[optimization]
        session_options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.model_path), session_options,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # ONNX Runtime raises its own Fail/InvalidGraph/NotImplemented types
            raise open_failure("ONNX Runtime", self.model_path, exc) from None
        self.input_name, self.output_name = info["input"], info["output"]
        self.static_batch = info["batch"]
        self.hw = info["hw"]
        self.input_size = self.hw[0] if self.hw[0] == self.hw[1] else self.hw

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = check_batch(batch, self.hw, self.model_path)

        def run(x: np.ndarray) -> np.ndarray:
            try:
                return self.session.run([self.output_name], {self.input_name: x})[0]
            except Exception as exc:  # ONNX Runtime's own error types: a graph it loads but cannot run
                raise QYoloError(f"ONNX Runtime failed to run {self.model_path}: {exception_line(exc, 200)}; the "
                                 "graph is not a model these backends can run (re-export it)") from None

        return run_in_chunks(run, batch, self.static_batch)

    def close(self) -> None:
        self.session = None
