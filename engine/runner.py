"""Run a TensorRT engine with PyTorch owning the CUDA side: device buffers are torch tensors and execution is
enqueued (execute_async_v3) on a torch stream the runner owns, so there is one CUDA context, no pycuda, and a CUDA
graph can capture the whole call. Not on torch's default stream: that is CUDA's legacy stream, on which TensorRT
adds device-wide synchronizations (its "use non-default stream" warning).

API used (TensorRT 10.x and 11.x): Runtime.deserialize_cuda_engine, ICudaEngine.num_io_tensors /
get_tensor_name / get_tensor_mode / get_tensor_dtype / get_tensor_profile_shape, create_execution_context,
IExecutionContext.set_input_shape / get_tensor_shape / set_tensor_address / execute_async_v3.
"""
from pathlib import Path

import numpy as np

from common.errors import QYoloError
from engine.device import require_cuda
from engine.errors import check_engine_version, checked, deserialize_failure_message, import_tensorrt
from engine.sidecar import read_sidecar

# trt.DataType member name -> torch dtype attribute name
_TORCH_DTYPES = {"FLOAT": "float32", "HALF": "float16", "BF16": "bfloat16", "INT8": "int8", "UINT8": "uint8",
                 "INT32": "int32", "INT64": "int64", "BOOL": "bool"}


def pick_prediction_output(outputs: dict[str, tuple]) -> str:
    """The decoded-prediction output ([B, N, 5+nc]) among the engine's outputs, by name first, then by rank."""
    for preferred in ("pred", "output0", "output"):
        if preferred in outputs:
            return preferred
    rank3 = [name for name, shape in outputs.items() if len(shape) == 3]
    if len(rank3) == 1 or (rank3 and len(outputs) > 1):
        return rank3[0]
    if len(outputs) == 1:
        return next(iter(outputs))
    raise QYoloError(f"cannot tell which engine output is the prediction: {outputs}; name it 'pred' at export")


def batch_chunks(total: int, min_batch: int, max_batch: int) -> list[tuple[int, int, int]]:
    """(start, stop, run size) per engine call for `total` images: chunks of at most `max_batch`, each padded up to
    the profile's `min_batch` (a static-batch engine takes exactly its batch, also for the last partial chunk)."""
    return [(start, min(start + max_batch, total), max(min_batch, min(max_batch, total - start)))
            for start in range(0, total, max_batch)]


class TrtRunner:
    """One engine, one execution context, buffers cached per input shape (stable addresses for CUDA graphs)."""

    def __init__(self, engine_path: str | Path, device: int = 0, verbose: bool = False):
        self.engine_path = Path(engine_path)
        if not self.engine_path.is_file():
            raise QYoloError(f"engine {self.engine_path} does not exist; build it with `make engine`")
        trt = import_tensorrt()
        torch = require_cuda(device)
        self.torch, self.trt, self.device = torch, trt, torch.device("cuda", device)
        torch.cuda.set_device(self.device)
        self.sidecar = read_sidecar(self.engine_path)
        built_with = self.sidecar.get("tensorrt_version") if self.sidecar else None
        check_engine_version(str(self.engine_path), built_with, trt.__version__,
                             self.sidecar.get("source_onnx") if self.sidecar else None)
        self._logger = trt.Logger(trt.Logger.VERBOSE if verbose else trt.Logger.WARNING)
        self._runtime = checked(trt.Runtime(self._logger), "create a runtime", self.engine_path)
        self.engine = self._runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if self.engine is None:
            raise QYoloError(deserialize_failure_message(str(self.engine_path), trt.__version__, built_with))
        self.context = checked(self.engine.create_execution_context(), "create an execution context",
                                self.engine_path)
        self.stream = torch.cuda.Stream(self.device)
        self.inputs, self.outputs = [], []
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            is_input = self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            (self.inputs if is_input else self.outputs).append(name)
        if len(self.inputs) != 1:
            raise QYoloError(f"engine {self.engine_path} has inputs {self.inputs}; one image input is expected")
        self.input_name = self.inputs[0]
        self._buffers: dict[tuple, dict] = {}
        self.prediction_name = pick_prediction_output(
            {name: tuple(self.engine.get_tensor_shape(name)) for name in self.outputs})

    # -- shapes and buffers ------------------------------------------------------------------------------------
    def torch_dtype(self, name: str):
        dtype_name = self.engine.get_tensor_dtype(name).name
        if dtype_name not in _TORCH_DTYPES:
            raise QYoloError(f"engine tensor {name} has type {dtype_name}, which this runner does not handle")
        return getattr(self.torch, _TORCH_DTYPES[dtype_name])

    @property
    def profile_shapes(self) -> tuple[tuple, tuple, tuple]:
        """(min, opt, max) input shapes of optimization profile 0."""
        lo, opt, hi = self.engine.get_tensor_profile_shape(self.input_name, 0)
        return tuple(lo), tuple(opt), tuple(hi)

    @property
    def max_batch(self) -> int:
        return self.profile_shapes[2][0]

    @property
    def input_hw(self) -> tuple[int, int]:
        shape = self.profile_shapes[1]
        return shape[2], shape[3]

    def buffers(self, shape: tuple) -> dict:
        """Input and output tensors for an input shape, allocated once; their addresses are bound to the context."""
        shape = tuple(int(v) for v in shape)
        if shape not in self._buffers:
            lo, _, hi = self.profile_shapes
            if len(shape) != len(hi) or any(not a <= s <= b for a, s, b in zip(lo, shape, hi)):
                raise QYoloError(f"input shape {shape} is outside the engine's profile {lo}..{hi}; rebuild with "
                                 f"a larger batch (`make engine BATCH=...`) or feed smaller batches")
            self._set_input_shape(shape)
            tensors = {self.input_name: self.torch.empty(shape, dtype=self.torch_dtype(self.input_name),
                                                         device=self.device)}
            for name in self.outputs:
                out_shape = tuple(self.context.get_tensor_shape(name))
                if any(d < 0 for d in out_shape):
                    raise QYoloError(f"output {name} has a data-dependent shape {out_shape}; not supported here")
                tensors[name] = self.torch.empty(out_shape, dtype=self.torch_dtype(name), device=self.device)
            self._buffers[shape] = tensors
        tensors = self._buffers[shape]
        self._set_input_shape(shape)
        for name, tensor in tensors.items():
            if not self.context.set_tensor_address(name, tensor.data_ptr()):
                raise QYoloError(f"TensorRT refused the address of tensor {name!r} of {self.engine_path} (see its "
                                 f"messages above): the engine and this runner disagree on its I/O tensors")
        return tensors

    def _set_input_shape(self, shape: tuple) -> None:
        if not self.context.set_input_shape(self.input_name, shape):  # False: outside the profile, wrong rank
            lo, _, hi = self.profile_shapes
            raise QYoloError(f"TensorRT refused input shape {shape} for {self.engine_path} (profile {lo}..{hi}; "
                             f"see its messages above)")

    def close(self) -> None:
        """Release buffers, context and engine in dependency order (context before engine)."""
        self._buffers.clear()
        self.context = None
        self.engine = None

    # -- execution -------------------------------------------------------------------------------------------
    def enqueue(self, stream=None) -> None:
        """Launch on `stream` (default the runner's own stream) with the addresses bound by the last buffers()."""
        stream = stream if stream is not None else self.stream
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError(f"TensorRT execute_async_v3 failed for {self.engine_path} (see TensorRT's log)")

    def infer_torch(self, batch) -> dict:
        """batch: a torch tensor (any device) NCHW, possibly still being written by work queued on the caller's
        current stream; returns the output tensors (on the GPU, valid until the next call), ready for use on
        the caller's current stream. The runner's own stream waits for the caller's before reading the input."""
        tensors = self.buffers(tuple(batch.shape))
        caller = self.torch.cuda.current_stream(self.device)
        self.stream.wait_stream(caller)
        if batch.device.type == "cuda":
            batch.record_stream(self.stream)  # the caching allocator must not reuse it before our copy has run
        with self.torch.cuda.stream(self.stream):
            tensors[self.input_name].copy_(batch, non_blocking=True)
            self.enqueue(self.stream)
        caller.wait_stream(self.stream)
        return {name: tensors[name] for name in self.outputs}

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """numpy NCHW float32 in [0, 1] -> decoded predictions [B, N, 5+nc] float32 (the eval Backend contract)."""
        chunks = []
        for start, stop, size in batch_chunks(batch.shape[0], self.profile_shapes[0][0], self.max_batch):
            part = np.ascontiguousarray(batch[start:stop])
            if size > part.shape[0]:  # zero images fill a static batch; their predictions are dropped below
                part = np.concatenate([part, np.zeros((size - part.shape[0], *part.shape[1:]), part.dtype)])
            outputs = self.infer_torch(self.torch.from_numpy(part))
            # a copy, always: the output buffer is reused by the next chunk (.to waits for the launch on the GPU)
            prediction = outputs[self.prediction_name][:stop - start]
            chunks.append(prediction.to(device="cpu", dtype=self.torch.float32, copy=True).numpy())
        return np.concatenate(chunks, 0)
