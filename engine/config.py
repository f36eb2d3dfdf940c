"""Engine build settings (a validated dataclass) and the optimization-profile shapes derived from them."""
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Precision = Literal["int8", "fp16", "fp32"]
Typing = Literal["auto", "strong", "weak"]

PRECISIONS = ("int8", "fp16", "fp32")
TYPINGS = ("auto", "strong", "weak")
DEFAULT_TIMING_CACHE = Path("runs/engines/timing.cache")

Shape = tuple[int, ...]


@dataclass(frozen=True)
class ProfileShapes:
    """One optimization profile for the image input: TensorRT tunes kernels for `opt` and accepts min..max."""
    input_name: str
    min: Shape
    opt: Shape
    max: Shape

    def as_dict(self) -> dict:
        return {"input": self.input_name, "min": list(self.min), "opt": list(self.opt), "max": list(self.max)}


@dataclass(frozen=True)
class EngineConfig:
    onnx: Path
    output: Path | None = None          # default: the ONNX path with .engine
    precision: Precision = "int8"       # int8 needs Q/DQ in the ONNX (explicit quantization only)
    batch: int = 1                      # largest batch the engine accepts; also the profile's opt
    min_batch: int = 1
    opt_batch: int | None = None        # default: batch
    imgsz: int | None = None            # only needed when the ONNX has dynamic H/W
    workspace_gib: float = 4.0
    timing_cache: Path | None = DEFAULT_TIMING_CACHE   # None: no cache file
    typing: Typing = "auto"             # auto: strongly typed where TensorRT requires it (11+), flags on 10
    optimization_level: int | None = None              # TensorRT's builder_optimization_level 0..5 (default 3)
    device: int = 0
    verbose: bool = False
    extra_metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "onnx", Path(self.onnx))
        if self.output is not None:
            object.__setattr__(self, "output", Path(self.output))
        if self.timing_cache is not None:
            object.__setattr__(self, "timing_cache", Path(self.timing_cache))
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.typing not in TYPINGS:
            raise ValueError(f"typing must be one of {TYPINGS}, got {self.typing!r}")
        if self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch}")
        if not 1 <= self.min_batch <= self.batch:
            raise ValueError(f"min_batch must be in 1..batch ({self.batch}), got {self.min_batch}")
        if self.opt_batch is not None and not self.min_batch <= self.opt_batch <= self.batch:
            raise ValueError(f"opt_batch must be in min_batch..batch ({self.min_batch}..{self.batch}), "
                             f"got {self.opt_batch}")
        if self.imgsz is not None and (self.imgsz < 32 or self.imgsz % 32):
            raise ValueError(f"imgsz must be a multiple of 32 (the detector's largest stride), got {self.imgsz}")
        if not 0 < self.workspace_gib <= 1024:
            raise ValueError(f"workspace_gib must be in (0, 1024], got {self.workspace_gib}")
        if self.optimization_level is not None and not 0 <= self.optimization_level <= 5:
            raise ValueError(f"optimization_level must be in 0..5, got {self.optimization_level}")
        if self.device < 0:
            raise ValueError(f"device must be a CUDA device index >= 0, got {self.device}")

    @property
    def engine_path(self) -> Path:
        return self.output if self.output is not None else self.onnx.with_suffix(".engine")

    @property
    def workspace_bytes(self) -> int:
        return int(self.workspace_gib * (1 << 30))

    @property
    def batches(self) -> tuple[int, int, int]:
        return self.min_batch, self.opt_batch if self.opt_batch is not None else self.batch, self.batch


def _dim(value) -> int | None:
    """A static dimension as int; symbolic ('batch'), unknown (None, 0) or dynamic (-1) as None."""
    if isinstance(value, int) and value > 0:
        return value
    return None


def profile_shapes(input_name: str, onnx_shape: list, batches: tuple[int, int, int],
                   imgsz: int | None = None) -> ProfileShapes:
    """min/opt/max NCHW shapes for `input_name`, checked against the ONNX input's own (possibly symbolic) shape.

    A static batch dimension must cover the requested batches (it is used as is); dynamic H/W need `imgsz`.
    """
    if len(onnx_shape) != 4:
        raise ValueError(f"input {input_name!r} has shape {onnx_shape}; an NCHW image input (rank 4) is expected")
    n, c, h, w = (_dim(v) for v in onnx_shape)
    lo, opt, hi = batches
    if not 1 <= lo <= opt <= hi:
        raise ValueError(f"need 1 <= min <= opt <= max batch, got {batches}")
    if n is not None:
        if hi != n:
            raise ValueError(f"the ONNX input {input_name!r} has a static batch of {n}, but batch {hi} was asked: "
                             f"export with a dynamic batch (export --dynamic-batch) or build with batch {n}")
        lo = opt = hi = n
    if c is None:
        raise ValueError(f"input {input_name!r} has no static channel count: {onnx_shape}")
    if h is None or w is None:
        if imgsz is None:
            raise ValueError(f"input {input_name!r} has dynamic height/width {onnx_shape}: give imgsz")
        h = h or imgsz
        w = w or imgsz
    elif imgsz is not None and (h, w) != (imgsz, imgsz):
        raise ValueError(f"input {input_name!r} is {h}x{w} in the ONNX, but imgsz {imgsz} was asked: "
                         f"re-export at {imgsz} or drop imgsz")
    return ProfileShapes(input_name, (lo, c, h, w), (opt, c, h, w), (hi, c, h, w))
