"""The stand-in's shared pieces: per-module state, the loggers, Dims and IHostMemory (buffers), timing caches.

See api.py for what the stand-in classes are and how they follow the binding sources.
"""
from datetime import datetime

from .binding import Strict, checked_call, int_sequence, member_of
from .plan import timing_cache_bytes


class Context:
    """What one stand-in module shares: its version, enums, GPU, failure switches, and what was called."""

    def __init__(self, version: str, gpu=None):
        self.version, self.gpu = version, gpu
        self.major = int(version.split(".")[0])
        self.enums: dict = {}
        self.faults: set[str] = set()
        self.myelin_head = True
        self.calls: list[tuple] = []


def _severity_letter(severity) -> str:
    return {"INTERNAL_ERROR": "F", "ERROR": "E", "WARNING": "W", "INFO": "I", "VERBOSE": "V"}[severity.name]


class ILogger(Strict):
    _ctx: Context = None

    @checked_call
    def __init__(self):
        pass

    @checked_call
    def log(self, severity: member_of("ILogger.Severity"), msg: str):
        raise RuntimeError('Tried to call pure virtual function "ILogger::log"')


class Logger(ILogger):
    @checked_call
    def __init__(self, min_severity: member_of("ILogger.Severity") = None):
        self._min = min_severity if min_severity is not None else self._ctx.enums["ILogger.Severity"].WARNING

    @property
    def min_severity(self):
        return self._min

    @min_severity.setter
    def min_severity(self, value):
        self._min = value

    @checked_call
    def log(self, severity: member_of("ILogger.Severity"), msg: str):
        if int(severity) <= int(self._min):
            stamp = datetime.now().strftime("%m/%d/%Y-%H:%M:%S")
            print(f"[{stamp}] [TRT] [{_severity_letter(severity)}] {msg}")


def _log(logger, level: str, message: str) -> None:
    logger.log(logger._ctx.enums["ILogger.Severity"].__members__[level], message)


class Dims(Strict):
    @checked_call
    def __init__(self, shape: int_sequence = ()):
        self._d = [int(v) for v in shape]

    def __len__(self):
        return len(self._d)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return tuple(self._d[index])
        if not -len(self._d) <= index < len(self._d):
            raise IndexError("Out of bounds")
        return self._d[index]

    def __eq__(self, other):
        return isinstance(other, (list, tuple, Dims)) and list(other) == self._d

    def __repr__(self):
        return "(" + ", ".join(map(str, self._d)) + ("," if len(self._d) == 1 else "") + ")"

    __str__ = __repr__


class IHostMemory(Strict, bytearray):
    """Serialized engines and caches: a buffer (memoryview, bytes() work), nbytes and dtype, nothing else."""

    def __len__(self):  # bytearray's own; the binding has none
        raise TypeError("object of type 'IHostMemory' has no len()")

    def __iter__(self):
        raise TypeError("'IHostMemory' object is not iterable")

    def __getitem__(self, index):
        raise TypeError("'IHostMemory' object is not subscriptable")

    def __eq__(self, other):
        return self is other

    __hash__ = object.__hash__
    for _blocker in (__len__, __iter__, __getitem__, __eq__):
        _blocker.__standin_blocker__ = True
    del _blocker

    @property
    def nbytes(self):
        return bytearray.__len__(self)

    @property
    def dtype(self):
        return self._ctx.enums["DataType"].UINT8


class ITimingCache(Strict):
    def __init__(self, ctx: Context, origin: dict):
        self._ctx, self._origin = ctx, origin

    @checked_call
    def serialize(self):
        return _host_memory(self._ctx, timing_cache_bytes(self._origin["tensorrt"], self._origin["gpu"]))

    @checked_call
    def reset(self):
        return True


def _host_memory(ctx: Context, data: bytes) -> IHostMemory:
    return ctx.classes["IHostMemory"]._create(data)


def _timing_cache(ctx: Context, origin: dict | None = None) -> ITimingCache:
    return ctx.classes["ITimingCache"]._create(ctx, origin or {"tensorrt": ctx.version, "gpu": ctx.gpu.name})


