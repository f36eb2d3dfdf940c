"""A CUDA device for the engine tests on machines without one: the minimum of torch.cuda the runner, the builder and
the timing code use, with CUDA's ordering rules kept.

Work submitted to a stream (an engine launch, an event record, a graph replay) is queued and runs only when
something orders the host or another stream after it: stream.synchronize(), torch.cuda.synchronize(),
other.wait_stream(stream), event.synchronize(). So code that forgets to order a stream before reading what it
produced reads stale memory here, as it would on a GPU. While a stream is captured into a CUDA graph, work
submitted to it is recorded into the graph instead; replay() queues it again. Synchronizing a capturing stream
fails as CUDA fails it.

"Device" memory is host memory: tensors created with a cuda device through `CudaTorch` are CPU tensors whose
addresses are registered as device allocations, so the TensorRT stand-in can refuse an address or a size that
is not inside one (an illegal memory access on a GPU).
"""
import contextlib
import itertools
import time
import types

import torch

_FACTORIES = ("empty", "zeros", "ones", "full", "rand", "randn", "randint", "arange", "tensor", "empty_like",
              "zeros_like", "ones_like", "full_like", "rand_like")


class StandInGpu:
    """One simulated device: streams, queued work, graph capture, registered allocations, failure switches."""

    def __init__(self, name: str = "NVIDIA Stand-in GPU", capability: tuple[int, int] = (8, 9),
                 memory_gib: float = 24.0):
        self.name, self.capability, self.memory_bytes = name, capability, int(memory_gib * (1 << 30))
        self._handles = itertools.count(0x7F00)
        self.streams: dict[int, Stream] = {}
        self.default_stream = Stream(self, handle=0)
        self.current = self.default_stream
        self.allocations: dict[int, tuple[int, torch.Tensor]] = {}
        self.capturing: dict[int, "CUDAGraph"] = {}
        self.fail_capture = False          # graph capture ends with CUDA's "operation not permitted" error
        self.sticky_error: str | None = None
        self.launches = 0                  # work items executed (engine launches included)

    # -- memory --------------------------------------------------------------------------------------------------
    def register(self, tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        self.allocations[storage.data_ptr()] = (storage.nbytes(), tensor)
        return tensor

    def allocation_holds(self, address: int, nbytes: int) -> bool:
        return any(start <= address and address + nbytes <= start + size
                   for start, (size, _) in self.allocations.items())

    # -- streams -------------------------------------------------------------------------------------------------
    def new_handle(self) -> int:
        return next(self._handles)

    def submit(self, handle: int, operation) -> None:
        """Queue `operation` (a callable) on stream `handle`, or record it into the graph capturing that stream."""
        if handle in self.capturing:
            self.capturing[handle].operations.append(operation)
        else:
            self.streams[handle].pending.append(operation)

    def flush(self, handle: int) -> None:
        stream = self.streams[handle]
        if handle in self.capturing:
            raise RuntimeError("CUDA error: operation not permitted when stream is capturing")
        while stream.pending:
            operation = stream.pending.pop(0)
            self.launches += 1
            operation()

    def synchronize(self) -> None:
        if self.capturing:
            raise RuntimeError("CUDA error: operation not permitted when stream is capturing")
        for handle in list(self.streams):
            self.flush(handle)


class Stream:
    """torch.cuda.Stream as the code under test uses it."""

    def __init__(self, gpu: StandInGpu, device=None, priority: int = 0, handle: int | None = None):
        self._gpu = gpu
        self.cuda_stream = gpu.new_handle() if handle is None else handle
        self.pending: list = []
        gpu.streams[self.cuda_stream] = self

    def synchronize(self) -> None:
        self._gpu.flush(self.cuda_stream)

    def wait_stream(self, other: "Stream") -> None:
        if other is not self:
            self._gpu.flush(other.cuda_stream)

    def wait_event(self, event: "Event") -> None:
        event.synchronize()

    def query(self) -> bool:
        return not self.pending

    def __eq__(self, other):
        return isinstance(other, Stream) and other.cuda_stream == self.cuda_stream

    def __hash__(self):
        return hash(self.cuda_stream)


class Event:
    def __init__(self, enable_timing: bool = False, blocking: bool = False, interprocess: bool = False):
        self._gpu = _active_gpu()
        self.enable_timing, self.time, self._stream = enable_timing, None, None

    def record(self, stream: Stream | None = None) -> None:
        stream = stream or self._gpu.current
        self._stream = stream
        self.time = None

        def stamp():
            self.time = time.perf_counter()

        self._gpu.submit(stream.cuda_stream, stamp)

    def synchronize(self) -> None:
        if self._stream is not None:
            self._gpu.flush(self._stream.cuda_stream)

    def elapsed_time(self, end: "Event") -> float:
        if not (self.enable_timing and end.enable_timing):
            raise RuntimeError("Both events must be created with argument 'enable_timing=True'.")
        if self.time is None or end.time is None:
            raise RuntimeError("CUDA error: device not ready")
        return (end.time - self.time) * 1000.0


class CUDAGraph:
    def __init__(self):
        self._gpu = _active_gpu()
        self.operations: list = []

    def replay(self) -> None:
        for operation in self.operations:
            self._gpu.submit(self._gpu.current.cuda_stream, operation)

    def reset(self) -> None:
        self.operations = []


_ACTIVE: list[StandInGpu] = []


def _active_gpu() -> StandInGpu:
    if not _ACTIVE:
        raise RuntimeError("no stand-in GPU installed")
    return _ACTIVE[-1]


def make_cuda_namespace(gpu: StandInGpu) -> types.SimpleNamespace:
    """The torch.cuda functions the project calls, on `gpu`."""

    @contextlib.contextmanager
    def stream(s: Stream | None):
        if s is None:
            yield
            return
        previous, gpu.current = gpu.current, s
        try:
            yield
        finally:
            gpu.current = previous

    @contextlib.contextmanager
    def graph(cuda_graph: CUDAGraph, pool=None, stream: Stream | None = None, capture_error_mode: str = "global"):
        gpu.synchronize()  # torch synchronizes the device before a capture starts
        capture_stream = stream or Stream(gpu)
        previous, gpu.current = gpu.current, capture_stream
        gpu.capturing[capture_stream.cuda_stream] = cuda_graph
        try:
            yield
        finally:
            del gpu.capturing[capture_stream.cuda_stream]
            gpu.current = previous
        if gpu.fail_capture:
            cuda_graph.reset()
            gpu.sticky_error = "operation not permitted when stream is capturing"
            raise RuntimeError("CUDA error: operation not permitted when stream is capturing")

    def properties(device=None):
        return types.SimpleNamespace(name=gpu.name, major=gpu.capability[0], minor=gpu.capability[1],
                                     total_memory=gpu.memory_bytes, multi_processor_count=128)

    return types.SimpleNamespace(
        is_available=lambda: True, device_count=lambda: 1, current_device=lambda: 0,
        set_device=lambda device: None, get_device_properties=properties,
        get_device_name=lambda device=None: gpu.name, get_device_capability=lambda device=None: gpu.capability,
        synchronize=lambda device=None: gpu.synchronize(), Stream=lambda device=None, priority=0: Stream(gpu),
        stream=stream, current_stream=lambda device=None: gpu.current,
        default_stream=lambda device=None: gpu.default_stream, Event=Event, CUDAGraph=CUDAGraph, graph=graph)


class CudaTorch:
    """torch, with torch.cuda on the stand-in GPU and tensors created on a cuda device kept on the host and
    registered as device allocations. Everything else is torch itself."""

    def __init__(self, gpu: StandInGpu):
        self._gpu = gpu
        self.cuda = make_cuda_namespace(gpu)
        self.version = types.SimpleNamespace(cuda="12.8", __version__=torch.__version__)

    def __getattr__(self, name):
        value = getattr(torch, name)
        if name in _FACTORIES:
            return self._factory(value)
        return value

    def _factory(self, function):
        def create(*args, device=None, **kwargs):
            if device is not None and str(device).startswith("cuda"):
                return self._gpu.register(function(*args, device="cpu", **kwargs))
            return function(*args, device=device, **kwargs)

        return create


@contextlib.contextmanager
def installed(gpu: StandInGpu):
    """Make `gpu` the one Event/CUDAGraph objects attach to (they are created without a device argument)."""
    _ACTIVE.append(gpu)
    try:
        yield gpu
    finally:
        _ACTIVE.remove(gpu)
