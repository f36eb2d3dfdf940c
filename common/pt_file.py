"""The one reader of `.pt` files: torch.save's zip and legacy formats, read without running code from the file.

A pickle may name any importable callable and have it called while loading (that is what `__reduce__` does), so
`torch.load(weights_only=False)` runs whatever a downloaded checkpoint asks for. This reader resolves a global only
when it is on an allow-list: builtin containers and numbers, `collections.OrderedDict`, torch's tensor, parameter
and storage rebuilds, dtypes and sizes, `torch.nn` module classes, numpy's scalar/array/dtype rebuilds, option
records (argparse and SimpleNamespace, dates, paths), plus what the caller's `resolve` returns (the YOLO families'
inert stand-ins for their training code's classes). Anything else stops the load with one line naming the global
and the file, before it is called. Every callable on the list creates data and does nothing else, whatever
arguments a crafted file gives it. TorchScript archives (torch.load would hand them to torch.jit.load) are refused.
"""
import _codecs
import argparse
import collections
import copyreg
import datetime
import io
import pathlib
import pickle
import sys
import types
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from common.errors import QYoloError, exception_line

Resolver = Callable[[str, str], Any]  # (module, name) -> the object to use, or None when the caller has none


def _numpy_rebuilds() -> list[Any]:
    """numpy's own reconstruction functions, found from its reduce output (their module moved in numpy 2)."""
    return [np.empty(0).__reduce__()[0], np.float64(0).__reduce__()[0], np.empty(1).__reduce_ex__(5)[0]]


def _allowed_table() -> dict[tuple[str, str], Any]:
    table: dict[tuple[str, str], Any] = {}
    # Containers and numbers as protocols 0-2 rebuild them (range and bytes are left out: they would only let a file
    # ask for memory it does not contain; bytes come as opcodes or through _codecs.encode).
    for value in (set, frozenset, slice, complex, bytearray, object, bool, int, float, str, list, tuple, dict):
        table[("builtins", value.__name__)] = value
    table[("_codecs", "encode")] = _codecs.encode  # bytes in pickle protocols 0-2
    table[("copyreg", "_reconstructor")] = copyreg._reconstructor  # objects in protocols 0-1
    table[("collections", "OrderedDict")] = collections.OrderedDict
    for record in (argparse.Namespace, types.SimpleNamespace, datetime.datetime, datetime.date, datetime.time,
                   datetime.timedelta, datetime.timezone):
        table[(record.__module__, record.__name__)] = record
    for path_class in (pathlib.Path, pathlib.PurePath, pathlib.PosixPath, pathlib.PurePosixPath,
                       pathlib.WindowsPath, pathlib.PureWindowsPath):
        for module in ("pathlib", "pathlib._local"):  # Python 3.13 pickles them from pathlib._local
            table[(module, path_class.__name__)] = path_class
    for name in ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter",
                 "_rebuild_parameter_with_state"):
        if hasattr(torch._utils, name):
            table[("torch._utils", name)] = getattr(torch._utils, name)
    table[("torch._tensor", "_rebuild_from_type_v2")] = torch._tensor._rebuild_from_type_v2
    table[("torch.serialization", "_get_layout")] = torch.serialization._get_layout
    table[("torch", "Size")] = torch.Size
    table[("torch", "device")] = torch.device
    table[("torch.nn.parameter", "Parameter")] = nn.Parameter
    for rebuild in _numpy_rebuilds():
        for module in ("numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric", "numpy._core.numeric"):
            table[(module, rebuild.__name__)] = rebuild
    table[("numpy", "ndarray")] = np.ndarray
    table[("numpy", "dtype")] = np.dtype
    return table


_ALLOWED = _allowed_table()


def _py3_name(module: str, name: str) -> tuple[str, str]:
    """Python 2 names (protocols 0-2 write `__builtin__`, `copy_reg`) as Python 3 spells them."""
    import _compat_pickle

    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def _torch_value(module: str, name: str) -> Any:
    """torch dtypes (`torch.float16`) and the classes of torch.nn's own modules, from modules torch already loaded."""
    if not name.isidentifier():
        return None
    if module == "torch":
        value = getattr(torch, name, None)
        return value if isinstance(value, torch.dtype) else None
    if module.startswith("torch.nn.modules.") and module in sys.modules:
        value = getattr(sys.modules[module], name, None)
        if isinstance(value, type) and issubclass(value, nn.Module) and value.__module__ == module:
            return value
    return None


def allowed_global(module: str, name: str, resolve: Resolver | None = None) -> Any:
    """The object a pickle's global (module, name) stands for, or None when it is not allowed."""
    if not isinstance(module, str) or not isinstance(name, str):
        return None
    module, name = _py3_name(module, name)
    if (module, name) in _ALLOWED:
        return _ALLOWED[(module, name)]
    value = _torch_value(module, name)
    if value is None and resolve is not None:
        value = resolve(module, name)
    return value


class RefusedGlobal(pickle.UnpicklingError):
    def __init__(self, module: str, name: str):
        super().__init__(f"{module}.{name}")
        self.global_name = f"{module}.{name}"


def _pickle_module(resolve: Resolver | None) -> types.SimpleNamespace:
    """A stand-in for the `pickle` module that torch.load uses for every pickle of the file (also the legacy
    format's header pickles): its Unpickler resolves globals through the allow-list only."""

    class AllowListUnpickler(pickle.Unpickler):
        def find_class(self, module, name):  # every global of every protocol (GLOBAL, STACK_GLOBAL, INST, EXT)
            value = allowed_global(module, name, resolve)
            if value is None:
                raise RefusedGlobal(str(module), str(name))
            return value

    return types.SimpleNamespace(Unpickler=AllowListUnpickler, __name__="qyolo_allow_list_pickle",
                                 load=lambda f, **kw: AllowListUnpickler(f, **kw).load())


def _is_torchscript(handle) -> bool:
    position = handle.tell()
    try:
        if not zipfile.is_zipfile(handle):
            return False
        handle.seek(position)
        with zipfile.ZipFile(handle) as archive:
            return any(name.rsplit("/", 1)[-1] == "constants.pkl" for name in archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False  # torch.load reports a damaged archive itself
    finally:
        handle.seek(position)


def _load(handle, path: Path, what: str, resolve: Resolver | None, remedy: str) -> Any:
    if _is_torchscript(handle):
        raise QYoloError(f"{what} {path} is a TorchScript archive (torch.jit.save), whose code would run when "
                         f"loaded; give the checkpoint its training code saved with torch.save")
    try:
        with warnings.catch_warnings():  # legacy files compare pickled module sources; stand-ins have none
            warnings.simplefilter("ignore", torch.serialization.SourceChangeWarning)
            warnings.filterwarnings("ignore", message="Couldn't retrieve source code")
            return torch.load(handle, map_location="cpu", weights_only=False, pickle_module=_pickle_module(resolve))
    except RefusedGlobal as exc:
        raise QYoloError(f"{what} {path} refers to the Python global {exc.global_name}, which is not on the list a "
                         f"checkpoint may use (tensors, numbers, strings, containers, YOLO model classes); refusing "
                         f"to load it, nothing from it was run. If you trust the file, re-save its state_dict with "
                         f"its own training code") from None
    except MemoryError:
        raise QYoloError(f"{what} {path} asks for more memory than this machine has; it is damaged or not a "
                         f"checkpoint: {remedy}") from None
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError, ... for damaged files
        raise QYoloError(f"cannot read {what} {path}: {exception_line(exc)}; the file is corrupt, truncated "
                         f"or not a PyTorch checkpoint: {remedy}") from None


def read_pt(path: str | Path, what: str = "checkpoint", resolve: Resolver | None = None, data: bytes | None = None,
            remedy: str = "re-download or re-export it") -> Any:
    """The object a `.pt` file holds, loaded on the CPU through the allow-list (see the module docstring).

    `what` names the file in errors ("checkpoint", "calibrated artifact"); `resolve(module, name)` may allow more
    globals (return None to refuse); `data`: the file's bytes when the caller has already read them.
    """
    path = Path(path)
    if data is not None:
        return _load(io.BytesIO(data), path, what, resolve, remedy)
    if path.is_dir():
        raise QYoloError(f"{what} {path} is a folder; give the .pt file")
    if not path.exists():
        raise QYoloError(f"{what} {path} does not exist; check the path")
    if not path.is_file():
        raise QYoloError(f"{what} {path} is not a regular file (a device, FIFO or socket); give the .pt file")
    try:
        handle = open(path, "rb")
    except PermissionError:
        raise QYoloError(f"cannot read {what} {path}: permission denied; make it readable (chmod) or run as a "
                         "user who may read it") from None
    except OSError as exc:
        raise QYoloError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    with handle:
        return _load(handle, path, what, resolve, remedy)

