"""A strict stand-in for the `tensorrt` module, for the engine tests on machines without TensorRT or a GPU.

It is a test fixture, never product code: tests install it as sys.modules["tensorrt"] (see the `trt` fixture in
tests/conftest.py) for one TensorRT generation at a time:

    "10": TensorRT 10.8.0.43, the release of the project's Docker base image (NGC PyTorch 25.01);
    "11": TensorRT 11.1, where the precision builder flags, weak typing and implicit INT8 are gone.

What each generation has is read from surface/tensorrt-<version>.json, extracted from NVIDIA's binding sources by
extract_surface.py: enum members (at their C++ values) come from there verbatim, and every class the stand-in
implements hides the members that generation lacks. Engines are real enough to score: a built plan runs its ONNX
in ONNX Runtime on the stand-in GPU's memory (cuda.py).
"""
import sys
import types

from . import api
from .binding import class_members, for_version, load_surface, make_enum
from .cuda import CudaTorch, StandInGpu

GENERATIONS = {"10": "10.8.0", "11": "11.1"}


def surface_for(generation: str) -> dict:
    return load_surface(GENERATIONS[generation])


def make_tensorrt(generation: str, gpu: StandInGpu | None = None) -> types.ModuleType:
    """A fresh `tensorrt` stand-in module for generation "10" or "11" (see GENERATIONS), running on `gpu`."""
    surface = surface_for(generation)
    ctx = api.Context(surface["version"], gpu or StandInGpu())
    module = types.ModuleType("tensorrt", f"TensorRT {surface['version']} stand-in (tests only)")
    module.__version__ = surface["version"]
    module.__file__ = __file__
    spec = surface["module"]
    for qualname, enum_spec in spec["enums"].items():
        enum = make_enum(qualname, enum_spec)
        ctx.enums[qualname] = enum
        if "." not in qualname:
            setattr(module, qualname, enum)
    ctx.classes = {}
    for cls in api.CLASSES:
        if cls.__name__ not in spec["classes"]:
            continue  # a class this generation does not have
        version_cls = for_version(cls, surface)
        version_cls._ctx = ctx
        ctx.classes[cls.__name__] = version_cls
        setattr(module, cls.__name__, version_cls)
    _attach_nested(ctx, spec)
    for name, value in spec["attributes"].items():
        enum_name, _, member = value.partition(".")
        if enum_name in ctx.enums and member:
            setattr(module, name, ctx.enums[enum_name].__members__[member])
    module.__standin__ = ctx

    def missing(name):
        if name in spec["classes"] or name in spec["enums"] or name in spec["functions"]:
            raise NotImplementedError(f"the TensorRT stand-in does not implement tensorrt.{name}, which TensorRT "
                                      f"{surface['version']} has: add it to tests/trt_standin/api.py")
        raise AttributeError(f"module 'tensorrt' has no attribute '{name}'")

    module.__getattr__ = missing  # consulted only for names the module does not define (PEP 562)
    return module


def install_standin(monkeypatch, generation: str, gpu: StandInGpu | None = None) -> types.ModuleType:
    """sys.modules["tensorrt"] = the stand-in for `generation`, and the engine stage's torch on the stand-in GPU;
    both undone by `monkeypatch` at the end of the test. Returns the module (its __standin__ is the shared state)."""
    import engine.device

    gpu = gpu or StandInGpu()
    module = make_tensorrt(generation, gpu)
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    monkeypatch.setattr(engine.device, "_import_torch", lambda: CudaTorch(gpu))
    return module


def _attach_nested(ctx: api.Context, spec: dict) -> None:
    """Enums bound inside a class (ILogger.Severity, with its members exported into ILogger) and the attributes
    the Python package sets on classes (Logger.Severity, Logger.WARNING, ...)."""
    for qualname, enum in ctx.enums.items():
        owner, _, name = qualname.rpartition(".")
        if owner in ctx.classes:
            type.__setattr__(ctx.classes[owner], name, enum)
            if spec["enums"][qualname]["export_values"]:
                for member_name, member in enum.__members__.items():
                    type.__setattr__(ctx.classes[owner], member_name, member)
    for class_name, cls in ctx.classes.items():
        for attribute, source in spec["classes"][class_name].get("python_attributes", {}).items():
            target = source.split(".")
            if len(target) == 2 and f"{target[0]}.{target[1]}" in ctx.enums:
                type.__setattr__(cls, attribute, ctx.enums[f"{target[0]}.{target[1]}"])
            elif len(target) == 3 and f"{target[0]}.{target[1]}" in ctx.enums:
                type.__setattr__(cls, attribute, ctx.enums[f"{target[0]}.{target[1]}"].__members__[target[2]])


__all__ = ["GENERATIONS", "CudaTorch", "StandInGpu", "class_members", "install_standin", "make_tensorrt",
           "surface_for"]
