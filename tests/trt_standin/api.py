"""The stand-in's TensorRT classes: the part of the Python API the project calls, behaving as the bindings do.

Names, keyword names and arity follow the binding sources (checked against surface/*.json by
tests/engine/test_trt_standin_surface.py); returns are shaped like the real ones (Dims for shapes, a list of
three Dims for profile shapes, IHostMemory buffers for serialized engines and caches, None where the C++ call
returns nullptr, False / -1 where it reports failure). Version differences (what 11 removed) come from the
surface of the version the module is made for (see __init__.make_tensorrt). `faults` switches make a call fail
the documented way, for the tests of the code's error handling.
"""
from .builder import (
                      Builder,
                      IBuilderConfig,
                      INetworkDefinition,
                      IOptimizationProfile,
                      IProgressMonitor,
                      OnnxParser,
                      ParserError,
)
from .core import Context, Dims, IHostMemory, ILogger, ITimingCache, Logger
from .runtime import EngineInspector, ICudaEngine, IExecutionContext, Runtime

# classes the module exposes, by their Python name in the bindings
CLASSES = [ILogger, Logger, Dims, IHostMemory, ITimingCache, IOptimizationProfile, IProgressMonitor,
           INetworkDefinition, ParserError, OnnxParser, IBuilderConfig, Builder, Runtime, ICudaEngine,
           IExecutionContext, EngineInspector]

__all__ = ["CLASSES", "Context"]
