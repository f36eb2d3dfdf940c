"""The stand-in's run side: the runtime, engines, execution contexts (running plans in ONNX Runtime on the stand-in
GPU's memory) and the engine inspector. See api.py."""
import ctypes
import time

import numpy as np

from .binding import Strict, buffer, checked_call, int_sequence, member_of
from .core import Context, ILogger, _log
from .plan import TRT_TO_NUMPY, Plan


class Runtime(Strict):
    @checked_call
    def __init__(self, logger: ILogger):
        self._logger = logger

    @checked_call
    def deserialize_cuda_engine(self, serialized_engine: buffer):
        plan = Plan.deserialize(bytes(memoryview(serialized_engine)))
        if plan is None:
            _log(self._logger, "ERROR", "Error Code 1: Serialization (Serialization assertion magicTagRead == "
                                        "kMAGIC_TAG failed.Magic tag does not match)")
            return None
        if plan.tensorrt_version != self._ctx.version:
            _log(self._logger, "ERROR", f"Error Code 6: API Usage Error (The engine plan file is not compatible with "
                                        f"this version of TensorRT, expecting library version {self._ctx.version} "
                                        f"got {plan.tensorrt_version}, please rebuild.)")
            return None
        return self._ctx.classes["ICudaEngine"]._create(self._ctx, plan, self._logger)


class ICudaEngine(Strict):
    def __init__(self, ctx: Context, plan: Plan, logger):
        self._ctx, self._plan, self._logger = ctx, plan, logger
        self._session = None

    def _tensor(self, name: str):
        return next((t for t in self._plan.network.tensors if t.name == name), None)

    @property
    def num_io_tensors(self):
        return len(self._plan.network.tensors)

    @property
    def num_optimization_profiles(self):
        return 1

    @checked_call
    def get_tensor_name(self, index: int):
        tensors = self._plan.network.tensors
        return tensors[index].name if 0 <= index < len(tensors) else None

    @checked_call
    def get_tensor_mode(self, name: str):
        modes = self._ctx.enums["TensorIOMode"]
        tensor = self._tensor(name)
        return modes.NONE if tensor is None else (modes.INPUT if tensor.is_input else modes.OUTPUT)

    @checked_call
    def get_tensor_dtype(self, name: str):
        tensor = self._tensor(name)
        return self._ctx.enums["DataType"].__members__[tensor.dtype if tensor else "FLOAT"]

    @checked_call
    def get_tensor_shape(self, name: str):
        tensor = self._tensor(name)
        return self._ctx.classes["Dims"](tensor.shape if tensor else [])

    @checked_call
    def get_tensor_profile_shape(self, name: str, profile_index: int):
        shapes = self._plan.profile.get(name)
        if shapes is None or profile_index != 0:
            return []
        return [self._ctx.classes["Dims"](s) for s in shapes]

    @checked_call
    def create_execution_context(self, strategy: member_of("ExecutionContextAllocationStrategy") = None):
        return self._ctx.classes["IExecutionContext"]._create(self._ctx, self)

    @checked_call
    def create_engine_inspector(self):
        return self._ctx.classes["EngineInspector"]._create(self._ctx, self)

    def _run(self, inputs: dict) -> list:
        import onnxruntime as ort

        if self._session is None:
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            self._session = ort.InferenceSession(self._plan.network.onnx_bytes, options,
                                                 providers=["CPUExecutionProvider"])
        names = [t.name for t in self._plan.network.tensors if not t.is_input]
        return self._session.run(names, inputs)


class IExecutionContext(Strict):
    def __init__(self, ctx: Context, engine: ICudaEngine):
        self._ctx, self._engine = ctx, engine
        self._shapes, self._addresses = {}, {}

    @property
    def engine(self):
        return self._engine

    @checked_call
    def set_input_shape(self, name: str, shape: int_sequence):
        tensor = self._engine._tensor(name)
        shapes = self._engine._plan.profile.get(name)
        shape = list(shape)
        if "set_input_shape" in self._ctx.faults or tensor is None or not tensor.is_input or shapes is None or \
                len(shape) != len(shapes[0]) or not all(a <= s <= b for a, s, b in zip(shapes[0], shape, shapes[2])):
            _log(self._engine._logger, "ERROR", f"IExecutionContext::setInputShape: Error Code 3: API Usage Error "
                                                f"(Parameter check failed, condition: {name} shape {shape} within "
                                                f"the profile's bounds)")
            return False
        self._shapes[name] = shape
        return True

    def _output_shape(self, tensor) -> list:
        inputs = self._engine._plan.network.inputs
        if not all(t.name in self._shapes for t in inputs):
            return [-1] * len(tensor.shape)
        batch = self._shapes[inputs[0].name][0]
        return [batch if (i == 0 and d < 0) else d for i, d in enumerate(tensor.shape)]

    @checked_call
    def get_tensor_shape(self, name: str):
        tensor = self._engine._tensor(name)
        if tensor is None:
            return self._ctx.classes["Dims"]([])
        shape = self._shapes.get(name, tensor.shape) if tensor.is_input else self._output_shape(tensor)
        return self._ctx.classes["Dims"](shape)

    @checked_call
    def set_tensor_address(self, name: str, memory: int):
        if "set_tensor_address" in self._ctx.faults or self._engine._tensor(name) is None:
            return False
        self._addresses[name] = memory
        return True

    @checked_call
    def get_tensor_address(self, name: str):
        return self._addresses.get(name, 0)

    @checked_call
    def execute_async_v3(self, stream_handle: int):
        gpu, engine = self._ctx.gpu, self._engine
        tensors = engine._plan.network.tensors
        missing = [t.name for t in tensors if t.name not in self._addresses]
        unset = [t.name for t in engine._plan.network.inputs if t.name not in self._shapes]
        if gpu is None or missing or unset or stream_handle not in gpu.streams:
            _log(engine._logger, "ERROR", f"IExecutionContext::enqueueV3: Error Code 3: API Usage Error (addresses "
                                          f"not set: {missing}, input shapes not set: {unset}, stream "
                                          f"{stream_handle:#x})")
            return False
        layout = {}
        for tensor in tensors:
            shape = self._shapes[tensor.name] if tensor.is_input else self._output_shape(tensor)
            dtype = np.dtype(TRT_TO_NUMPY[tensor.dtype])
            nbytes = int(np.prod(shape)) * dtype.itemsize
            if not gpu.allocation_holds(self._addresses[tensor.name], nbytes):
                _log(engine._logger, "ERROR", f"Error Code 1: Cuda Runtime (an illegal memory access was "
                                              f"encountered: {tensor.name} at {self._addresses[tensor.name]:#x}, "
                                              f"{nbytes} bytes)")
                return False
            layout[tensor.name] = (self._addresses[tensor.name], shape, dtype, tensor.is_input)

        def launch():
            inputs = {name: _view(*spec[:3]).copy() for name, spec in layout.items() if spec[3]}
            outputs = engine._run(inputs)
            for spec, value in zip([s for s in layout.values() if not s[3]], outputs):
                _view(*spec[:3])[...] = value.astype(spec[2], copy=False)

        gpu.submit(stream_handle, launch)
        self._ctx.calls.append(("execute", stream_handle, time.perf_counter()))
        return True


def _view(address: int, shape: list, dtype: np.dtype) -> np.ndarray:
    nbytes = int(np.prod(shape)) * dtype.itemsize
    return np.frombuffer((ctypes.c_char * nbytes).from_address(address), dtype=dtype).reshape(shape)


class EngineInspector(Strict):
    def __init__(self, ctx: Context, engine: ICudaEngine):
        self._ctx, self._engine = ctx, engine

    @checked_call
    def get_engine_information(self, format: member_of("LayerInformationFormat")):
        plan = self._engine._plan
        if format.name != "JSON":
            return "\n".join(f"{name}.weight + {name}" for name, _ in plan.network.convs)
        if not plan.detailed:
            return plan.names_only_json()
        return plan.layers_json(myelin_head=self._ctx.myelin_head)


