"""The checks every option and config field shares, each raising ValueError with the value and what is allowed.

Config dataclasses call them in __post_init__ (so the Python API validates too); the CLIs' argparse types in
common.cli wrap the same functions, so a value is judged the same way whichever door it came through.
"""
import math
import os
import re

DEVICE_HINT = "use cpu, cuda or cuda:<index>"
_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")


def positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def non_negative_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return value


def image_size(value, name: str = "imgsz") -> int:
    """A letterbox size: a positive multiple of 32 (YOLOv5's largest stride)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 32 or value % 32:
        raise ValueError(f"{name} must be a positive multiple of 32 (the model's largest stride), got {value!r}")
    return value


def fraction(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def torch_device(value, name: str = "device") -> str:
    """cpu, cuda or cuda:<index> (the devices this project runs torch on)."""
    if not isinstance(value, str) or not _DEVICE.match(value):
        raise ValueError(f"{name} {value!r} is not supported; {DEVICE_HINT}")
    return value


def one_of(value, choices, name: str):
    if value not in choices:
        raise ValueError(f"{name} {value!r} is not one of {', '.join(map(str, choices))}")
    return value


def finite_number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask: a container or taskset may allow fewer than the machine)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def thread_count(value, name: str = "threads", allow_zero: bool = False) -> int:
    """A CPU thread count this machine can give: 1 to its CPU count (more only oversubscribes the cores; thread
    pools sized far beyond them crash or stall some runtimes); 0 too with `allow_zero` (the library's default)."""
    (non_negative_int if allow_zero else positive_int)(value, name)
    if value > cpu_count():
        raise ValueError(f"{name} {value} is more than the {cpu_count()} CPUs this process may use; give at most "
                         f"{cpu_count()}")
    return value
