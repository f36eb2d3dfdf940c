"""TensorRT stage: QDQ ONNX -> engine (+ sidecar, layer-precision report), the PyTorch-stream runner, GPU timing.

`tensorrt` is imported only inside the functions that need it, so this package imports (and its pure logic is
tested) on machines without TensorRT or a GPU.
"""
from engine.config import EngineConfig, ProfileShapes, profile_shapes


def build_engine(cfg: EngineConfig):
    """Build the engine described by `cfg`; returns its path (see engine.build)."""
    from engine.build import build_engine as _build

    return _build(cfg)


__all__ = ["EngineConfig", "ProfileShapes", "build_engine", "profile_shapes"]
